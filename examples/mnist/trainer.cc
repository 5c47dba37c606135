// The tutorial's training loop (see trainer.hpp).
#include "trainer.hpp"

#include <baton/baton.hpp>
#include <baton/train.hpp>
#include <baton/train/torch.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "net.hpp"

namespace mnist {
namespace {

using Clock = std::chrono::steady_clock;

// Fashion-MNIST's pixel mean and standard deviation (the tutorial's
// Normalize step, with this dataset's statistics).
constexpr double kMean = 0.2860;
constexpr double kStd = 0.3530;

struct Dataset {
  torch::Tensor images;  // float [N, 1, 28, 28], normalised
  torch::Tensor labels;  // int64 [N]
};

Dataset load(const TrainConfig& config, bool train_split, int64_t limit) {
  const std::string dir =
      config.data_dir.empty() ? baton::train::kDefaultMnistDir : config.data_dir;
  baton::train::MnistSplit split = baton::train::load_mnist(dir, train_split);
  int64_t n = split.size();
  if (limit > 0 && limit < n) n = limit;
  torch::Tensor images = baton::train::to_torch(split.images).narrow(0, 0, n);
  torch::Tensor labels = baton::train::to_torch(split.labels).narrow(0, 0, n);
  Dataset out;
  out.images = images.to(torch::kFloat32).div(255.0).sub(kMean).div(kStd).unsqueeze(1);
  out.labels = labels.to(torch::kInt64);
  return out;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Whether every rank holds the same parameters: a fingerprint of them (a sum
// weighted by position, so that a permutation does not cancel out), its
// minimum and maximum over the ranks.
bool parameters_agree(Net& model) {
  double fingerprint = 0;
  double weight = 1;
  for (const torch::Tensor& p : model->parameters()) {
    const torch::Tensor flat = p.detach().to(torch::kFloat64).flatten();
    const torch::Tensor position = torch::arange(1, flat.size(0) + 1, torch::kFloat64);
    fingerprint += weight * (flat * position).sum().item<double>();
    weight += 1;
  }
  baton::Tensor low = baton::Tensor::full({1}, fingerprint, baton::DType::Float64);
  baton::Tensor high = low.clone();
  baton::all_reduce(low, baton::ReduceOp::MIN);
  baton::all_reduce(high, baton::ReduceOp::MAX);
  return low.item() == high.item();
}

double test_accuracy(Net& model, const Dataset& test, int64_t* total_out) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int rank = baton::get_rank();
  const int size = baton::get_world_size();
  const int64_t n = test.images.size(0);
  // This rank's contiguous shard of the test set.
  const int64_t begin = n * rank / size;
  const int64_t end = n * (rank + 1) / size;
  int64_t correct = 0;
  for (int64_t at = begin; at < end; at += 1000) {
    const int64_t len = std::min<int64_t>(1000, end - at);
    auto output = model->forward(test.images.narrow(0, at, len));
    correct += output.argmax(1).eq(test.labels.narrow(0, at, len)).sum().item<int64_t>();
  }
  baton::Tensor counts = baton::Tensor::zeros({2}, baton::DType::Int64);
  counts.data<int64_t>()[0] = correct;
  counts.data<int64_t>()[1] = end - begin;
  baton::all_reduce(counts);
  model->train();
  *total_out = counts.data<int64_t>()[1];
  return 100.0 * static_cast<double>(counts.data<int64_t>()[0]) /
         static_cast<double>(std::max<int64_t>(1, *total_out));
}

}  // namespace

TrainResult train(const TrainConfig& config,
                  const std::function<void(const EpochReport&)>& on_epoch) {
  const int rank = baton::get_rank();
  const int size = baton::get_world_size();
  if (config.global_batch < size) {
    throw baton::InvalidArgument("the global batch (" + std::to_string(config.global_batch) +
                                 ") must be at least the world size (" + std::to_string(size) +
                                 ")");
  }
  torch::manual_seed(config.seed);
  const Dataset train_set = load(config, /*train_split=*/true, config.limit);
  const Dataset test_set = load(config, /*train_split=*/false, config.test_limit);

  // The tutorial's partition_dataset(): equal shares, shuffled with seed 1234.
  const int64_t n = train_set.images.size(0);
  const std::vector<double> fractions(static_cast<size_t>(size), 1.0 / size);
  const baton::train::DataPartitioner partitioner(n, fractions, config.seed);
  const std::vector<int64_t>& mine = partitioner.use(rank);
  const torch::Tensor share = torch::tensor(mine, torch::kInt64);
  const int64_t batch = config.global_batch / size;

  Net model(config.dropout);
  std::optional<baton::train::DistributedDataParallel> ddp;
  if (config.ddp) ddp.emplace(model.ptr());
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(config.lr).momentum(config.momentum));

  TrainResult result;
  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const auto waited_before = ddp ? ddp->stats().exposed_wait : std::chrono::nanoseconds(0);
    double comm = 0;
    double loss_sum = 0;
    int64_t batches = 0;
    const torch::Tensor order = share.index_select(0, torch::randperm(share.size(0)));
    for (int64_t at = 0; at < order.size(0); at += batch) {
      const torch::Tensor idx = order.narrow(0, at, std::min(batch, order.size(0) - at));
      const torch::Tensor data = train_set.images.index_select(0, idx);
      const torch::Tensor target = train_set.labels.index_select(0, idx);
      optimizer.zero_grad();
      torch::Tensor loss = torch::nll_loss(model->forward(data), target);
      loss_sum += loss.item<double>();
      loss.backward();
      if (!ddp) {
        const auto comm_start = Clock::now();
        baton::train::average_gradients(*model);
        comm += seconds_since(comm_start);
      }
      optimizer.step();
      ++batches;
    }
    if (ddp)
      comm = std::chrono::duration<double>(ddp->stats().exposed_wait - waited_before).count();
    EpochReport report{.epoch = epoch,
                       .mean_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, batches)),
                       .seconds = seconds_since(epoch_start),
                       .comm_seconds = comm};
    result.epochs.push_back(report);
    if (on_epoch) on_epoch(report);
  }
  result.test_accuracy = test_accuracy(model, test_set, &result.test_images);
  result.parameters_agree = parameters_agree(model);
  return result;
}

}  // namespace mnist
