// all_to_all (pairwise, sizes differing per peer), gather and scatter
// (direct) and barrier (dissemination) over the loopback transport: world
// sizes 1..8, counts 0, 1, 3, 1000 and > 1 Mi, every root.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "collectives/algorithms.hpp"
#include "tests/collectives/collective_test_util.hpp"

namespace baton::testing {
namespace {

using collectives::OpKind;

const size_t kCounts[] = {0, 1, 3, 1000};

// Bytes rank `from` sends rank `to` in an all_to_all of base size `count`
// int32 elements: differs per pair, sometimes zero.
size_t pair_bytes(size_t count, int from, int to) {
  return 4 * (count + static_cast<size_t>(from + 2 * to) % 3);
}
// Where in rank `from`'s pattern the block for `to` starts.
size_t pair_offset(int to) {
  return static_cast<size_t>(to) * 100'003;
}

void all_to_all_case(transport::Context& context, uint64_t seq, int rank, int world, size_t count) {
  std::vector<Buffer> inputs;
  std::vector<Buffer> outputs;
  for (int peer = 0; peer < world; ++peer) {
    inputs.push_back(make_pattern(rank, pair_bytes(count, rank, peer), pair_offset(peer)));
    outputs.emplace_back(pair_bytes(count, peer, rank), std::byte{0xEE});
  }
  const std::vector<ConstBytes> ins(inputs.begin(), inputs.end());
  const std::vector<Bytes> outs(outputs.begin(), outputs.end());
  auto comm = make_comm(context, seq, op_desc(OpKind::kAllToAll, DType::Int32, count));
  collectives::all_to_all_pairwise(comm, ins, outs);
  for (int peer = 0; peer < world; ++peer) {
    ASSERT_TRUE(bytes_equal_pattern(
        outputs[static_cast<size_t>(peer)], peer, pair_offset(rank), rank,
        "all_to_all block from rank " + std::to_string(peer) + ", " + std::to_string(world) +
            " ranks, base count " + std::to_string(count)));
  }
}

void gather_case(transport::Context& context, uint64_t seq, int rank, int world, size_t count,
                 int root) {
  const size_t bytes = count * 4;
  const Buffer input = make_pattern(rank, bytes);
  std::vector<Buffer> outputs;
  if (rank == root) outputs.assign(static_cast<size_t>(world), Buffer(bytes, std::byte{0xEE}));
  const std::vector<Bytes> outs(outputs.begin(), outputs.end());
  auto comm =
      make_comm(context, seq, op_desc(OpKind::kGather, DType::Float32, count, ReduceOp::SUM, root));
  collectives::gather_direct(comm, input, outs, root);
  for (size_t src = 0; src < outputs.size(); ++src) {
    ASSERT_TRUE(bytes_equal_pattern(outputs[src], static_cast<int>(src), 0, rank,
                                    "gather to root " + std::to_string(root) + ", " +
                                        std::to_string(world) + " ranks, count " +
                                        std::to_string(count)));
  }
}

void scatter_case(transport::Context& context, uint64_t seq, int rank, int world, size_t count,
                  int root) {
  const size_t bytes = count * 4;
  std::vector<Buffer> inputs;
  if (rank == root) {
    for (int dst = 0; dst < world; ++dst) inputs.push_back(make_pattern(dst, bytes, 7));
  }
  const std::vector<ConstBytes> ins(inputs.begin(), inputs.end());
  Buffer output(bytes, std::byte{0xEE});
  auto comm = make_comm(context, seq,
                        op_desc(OpKind::kScatter, DType::Float32, count, ReduceOp::SUM, root));
  collectives::scatter_direct(comm, ins, output, root);
  ASSERT_TRUE(bytes_equal_pattern(output, rank, 7, rank,
                                  "scatter from root " + std::to_string(root) + ", " +
                                      std::to_string(world) + " ranks, count " +
                                      std::to_string(count)));
}

class ExchangeTest : public ::testing::TestWithParam<int> {};

TEST_P(ExchangeTest, AllToAllWithSizesDifferingPerPeer) {
  const int world = GetParam();
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (size_t count : kCounts) all_to_all_case(context, seq++, rank, world, count);
  });
}

TEST_P(ExchangeTest, GatherAndScatterToEveryRoot) {
  const int world = GetParam();
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (size_t count : kCounts) {
      for (int root = 0; root < world; ++root) {
        gather_case(context, seq++, rank, world, count, root);
        scatter_case(context, seq++, rank, world, count, root);
      }
    }
  });
}

TEST_P(ExchangeTest, BarrierReleasesNoRankBeforeAllEntered) {
  const int world = GetParam();
  constexpr int kRounds = 6;
  std::atomic<int> entered[kRounds] = {};
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    for (int round = 0; round < kRounds; ++round) {
      // Not synchronisation: makes one rank (a different one each round) late,
      // so that a barrier that let ranks through early would be caught.
      if (rank == round % world) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      entered[round].fetch_add(1);
      auto comm = make_comm(context, static_cast<uint64_t>(round),
                            op_desc(OpKind::kBarrier, DType::UInt8, 0));
      collectives::barrier_dissemination(comm);
      EXPECT_EQ(entered[round].load(), world)
          << "rank " << rank << " left barrier " << round << " before every rank entered it";
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, ExchangeTest, ::testing::Range(1, 9), [](const auto& param_info) {
  return std::to_string(param_info.param) + "Ranks";
});

TEST(ExchangeLargeTest, MoreThanOneMebiElements) {
  constexpr size_t kCount = (size_t{1} << 20) + 2;
  constexpr int kWorld = 3;
  run_on_loopback(kWorld, [&](transport::Context& context, int rank) {
    all_to_all_case(context, 0, rank, kWorld, kCount);
    gather_case(context, 1, rank, kWorld, kCount, 2);
    scatter_case(context, 2, rank, kWorld, kCount, 1);
  });
}

}  // namespace
}  // namespace baton::testing
