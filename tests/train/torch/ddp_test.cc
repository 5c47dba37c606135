// DistributedDataParallel and average_gradients(module) on forked ranks
// against a one-process reference: 2 ranks with batch b take exactly the
// steps of 1 rank with batch 2b over the same samples (dropout off), with one
// bucket or many, and average_gradients agrees; no_sync accumulates locally;
// replicas start from rank 0's parameters; differing models are named.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "baton/baton.hpp"
#include "baton/train/torch.hpp"
#include "tests/train/with_process_group.hpp"

namespace baton::train {
namespace {

struct Mlp : torch::nn::Module {
  explicit Mlp(int64_t hidden = 16) {
    fc1 = register_module("fc1", torch::nn::Linear(6, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::log_softmax(fc2->forward(torch::tanh(fc1->forward(x))), 1);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

constexpr int64_t kPerRank = 8;  // b
constexpr int kSteps = 5;

// The same samples on every process: batch `step` is rows [step*n*b, (step+1)*n*b).
struct Data {
  torch::Tensor x, y;
};
Data make_data(int world) {
  torch::manual_seed(7);
  const int64_t rows = kSteps * world * kPerRank;
  return {torch::randn({rows, 6}), torch::randint(0, 3, {rows}, torch::kInt64)};
}

std::shared_ptr<Mlp> make_model(uint64_t seed) {
  torch::manual_seed(seed);
  return std::make_shared<Mlp>();
}

// One process, batch 2b: the parameters after kSteps SGD steps, flattened.
torch::Tensor reference(int world) {
  const Data data = make_data(world);
  auto model = make_model(1);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
  for (int step = 0; step < kSteps; ++step) {
    const int64_t batch = world * kPerRank;
    opt.zero_grad();
    auto loss = torch::nll_loss(model->forward(data.x.narrow(0, step * batch, batch)),
                                data.y.narrow(0, step * batch, batch));
    loss.backward();
    opt.step();
  }
  return torch::cat({model->fc1->weight.flatten(), model->fc1->bias, model->fc2->weight.flatten(),
                     model->fc2->bias});
}

enum class Sync { kDdpOneBucket, kDdpSmallBuckets, kAverageGradients };

// Rank `rank` of `world`: its model starts from another seed (DDP must
// broadcast rank 0's), trains on its b rows of each global batch.
torch::Tensor distributed(Sync sync, int rank, int world) {
  const Data data = make_data(world);
  // average_gradients does not broadcast: every rank starts from seed 1.
  auto model = make_model(sync == Sync::kAverageGradients ? 1 : 1 + static_cast<uint64_t>(rank) * 100);
  std::unique_ptr<DistributedDataParallel> ddp;
  if (sync != Sync::kAverageGradients) {
    DdpOptions options;
    options.bucket_bytes = sync == Sync::kDdpSmallBuckets ? 64 : 25u << 20;
    options.first_bucket_bytes = options.bucket_bytes;
    ddp = std::make_unique<DistributedDataParallel>(model, options);
    if (sync == Sync::kDdpSmallBuckets) {
      EXPECT_GE(ddp->bucketer().num_buckets(), 4u);
    } else {
      EXPECT_EQ(ddp->bucketer().num_buckets(), 1u);
    }
  }
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
  for (int step = 0; step < kSteps; ++step) {
    const int64_t at = step * world * kPerRank + rank * kPerRank;
    opt.zero_grad();
    auto loss = torch::nll_loss(model->forward(data.x.narrow(0, at, kPerRank)),
                                data.y.narrow(0, at, kPerRank));
    loss.backward();
    if (!ddp) average_gradients(*model);
    opt.step();
  }
  if (ddp) {
    EXPECT_EQ(ddp->stats().iterations, kSteps);
  }
  return torch::cat({model->fc1->weight.flatten(), model->fc1->bias, model->fc2->weight.flatten(),
                     model->fc2->bias})
      .detach();
}

// Each rank computes with one thread, as the training runs do.
void with_ranks(int n, const std::function<void(int rank, int n)>& fn) {
  baton::testing::with_process_group(n, [&](int rank, int world) {
    torch::set_num_threads(1);
    fn(rank, world);
  });
}

void expect_matches_reference(Sync sync, int n) {
  with_ranks(n, [sync](int rank, int world) {
    const torch::Tensor expected = reference(world);
    const torch::Tensor got = distributed(sync, rank, world);
    const double diff = (got - expected).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5) << "rank " << rank << " of " << world;
  });
}

TEST(DistributedDataParallel, TwoRanksMatchOneRankWithTheDoubleBatch) {
  expect_matches_reference(Sync::kDdpOneBucket, 2);
}

TEST(DistributedDataParallel, ManySmallBucketsGiveTheSameSteps) {
  expect_matches_reference(Sync::kDdpSmallBuckets, 3);
}

TEST(AverageGradients, TwoRanksMatchOneRankWithTheDoubleBatch) {
  expect_matches_reference(Sync::kAverageGradients, 2);
}

TEST(DistributedDataParallel, NoSyncAccumulatesLocallyThenReducesTheSum) {
  with_ranks(2, [](int rank, int world) {
    const torch::Tensor expected = reference(world);
    const Data data = make_data(world);
    auto model = make_model(1);
    DistributedDataParallel ddp(model);
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
    const int64_t half = kPerRank / 2;
    for (int step = 0; step < kSteps; ++step) {
      const int64_t at = step * world * kPerRank + rank * kPerRank;
      opt.zero_grad();
      {
        auto guard = ddp.no_sync();
        auto loss = torch::nll_loss(model->forward(data.x.narrow(0, at, half)),
                                    data.y.narrow(0, at, half));
        (loss * 0.5).backward();
      }
      auto loss = torch::nll_loss(model->forward(data.x.narrow(0, at + half, half)),
                                  data.y.narrow(0, at + half, half));
      (loss * 0.5).backward();
      opt.step();
    }
    EXPECT_EQ(ddp.stats().iterations, kSteps);  // the guarded passes did not synchronise
    const torch::Tensor got = torch::cat({model->fc1->weight.flatten(), model->fc1->bias,
                                          model->fc2->weight.flatten(), model->fc2->bias});
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-5) << "rank " << rank;
  });
}

TEST(DistributedDataParallel, DifferentModelsAreNamedNotHung) {
  with_ranks(2, [](int rank, int) {
    torch::manual_seed(1);
    auto model = std::make_shared<Mlp>(rank == 1 ? 17 : 16);
    try {
      DistributedDataParallel ddp(model);
      ADD_FAILURE() << "rank " << rank << ": differing models were accepted";
    } catch (const MismatchError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("fc2.weight"), std::string::npos) << what;
      EXPECT_NE(what.find("[3, 16]"), std::string::npos) << what;
      EXPECT_NE(what.find("[3, 17] on rank 1"), std::string::npos) << what;
    }
  });
}

TEST(DistributedDataParallel, RejectsANullModule) {
  EXPECT_THROW(DistributedDataParallel(nullptr, DdpOptions{.group = Group()}), InvalidArgument);
}

}  // namespace
}  // namespace baton::train
