// broadcast and reduce (binomial trees) over the loopback transport: world
// sizes 1..8, every root, counts 0, 1, 3, 1000 and > 1 Mi, default and small
// segments; reduce with every dtype and op, exact expectations, deterministic
// bits, and non-root buffers left unchanged.
#include <gtest/gtest.h>

#include <mutex>

#include "collectives/algorithms.hpp"
#include "tests/collectives/collective_test_util.hpp"

namespace baton::testing {
namespace {

using collectives::OpKind;
using collectives::Tuning;

constexpr Tuning kSmallSegments{.segment_bytes = 100, .pipeline_depth = 2};
const size_t kCounts[] = {0, 1, 3, 1000};

class TreeTest : public ::testing::TestWithParam<int> {};

TEST_P(TreeTest, BroadcastFromEveryRoot) {
  const int world = GetParam();
  for (const Tuning& tuning : {Tuning{}, kSmallSegments}) {
    run_on_loopback(world, [&](transport::Context& context, int rank) {
      uint64_t seq = 0;
      for (size_t count : kCounts) {
        for (int root = 0; root < world; ++root) {
          const size_t bytes = count * 4;
          Buffer data = make_pattern(rank, bytes);
          auto comm =
              make_comm(context, seq++,
                        op_desc(OpKind::kBroadcast, DType::Float32, count, ReduceOp::SUM, root));
          collectives::broadcast_binomial_tree(comm, data, root, tuning);
          ASSERT_TRUE(bytes_equal_pattern(data, root, 0, rank,
                                          "broadcast of " + std::to_string(count) +
                                              " float32 from root " + std::to_string(root) +
                                              ", segment " + std::to_string(tuning.segment_bytes)));
        }
      }
    });
  }
}

TEST_P(TreeTest, ReduceEveryDtypeAndOp) {
  const int world = GetParam();
  const auto pairs = all_dtype_op_pairs();
  for (size_t count : kCounts) {
    const Tuning tuning = count == 1000 ? kSmallSegments : Tuning{};
    run_on_loopback(world, [&](transport::Context& context, int rank) {
      uint64_t seq = 0;
      for (const auto& [dtype, op] : pairs) {
        // Roots at both ends and in the middle, varying with the pair.
        const int root =
            static_cast<int>(seq % 3 == 0 ? 0 : (seq % 3 == 1 ? world - 1 : world / 2));
        auto value = [&, d = dtype, o = op](size_t i) { return input_value(o, d, rank, i); };
        Buffer data = make_elements(dtype, count, 0, value);
        auto comm = make_comm(context, seq++, op_desc(OpKind::kReduce, dtype, count, op, root));
        collectives::reduce_binomial_tree(comm, data, dtype, op, root, tuning);
        const std::string what =
            "reduce to root " + std::to_string(root) + ", " + case_name(dtype, op, world, count);
        if (rank == root) {
          ASSERT_TRUE(elements_equal(
              dtype, data, 0,
              [&, d = dtype, o = op](size_t i) { return expected_value(o, d, world, i); }, rank,
              what));
        } else {
          ASSERT_TRUE(elements_equal(dtype, data, 0, value, rank, what + " (input unchanged)"));
        }
      }
    });
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, TreeTest, ::testing::Range(1, 9), [](const auto& param_info) {
  return std::to_string(param_info.param) + "Ranks";
});

TEST(TreeLargeTest, BroadcastAndReduceMoreThanOneMebiElements) {
  constexpr size_t kCount = (size_t{1} << 20) + 3;
  for (int world : {3, 6}) {
    run_on_loopback(world, [&](transport::Context& context, int rank) {
      const int root = world - 1;
      Buffer data = make_pattern(rank, kCount * 4);
      auto bcast = make_comm(
          context, 0, op_desc(OpKind::kBroadcast, DType::Float32, kCount, ReduceOp::SUM, root));
      collectives::broadcast_binomial_tree(bcast, data, root);
      ASSERT_TRUE(bytes_equal_pattern(data, root, 0, rank, "large broadcast"));

      Buffer values = make_elements(DType::Float32, kCount, 0, [&](size_t i) {
        return input_value(ReduceOp::SUM, DType::Float32, rank, i);
      });
      auto reduce =
          make_comm(context, 1, op_desc(OpKind::kReduce, DType::Float32, kCount, ReduceOp::SUM, 1));
      collectives::reduce_binomial_tree(reduce, values, DType::Float32, ReduceOp::SUM, 1);
      if (rank == 1) {
        ASSERT_TRUE(elements_equal(
            DType::Float32, values, 0,
            [&](size_t i) { return expected_value(ReduceOp::SUM, DType::Float32, world, i); }, rank,
            "large reduce, " + std::to_string(world) + " ranks"));
      }
    });
  }
}

// Inexact float data: the root gets the same bits in every run, whatever the
// order in which messages arrive.
TEST(TreeBitsTest, ReduceGivesTheSameBitsEveryRun) {
  constexpr size_t kCount = 3001;
  for (int world : {5, 8}) {
    Buffer first;
    for (int run = 0; run < 4; ++run) {
      Buffer result;
      std::mutex mu;
      run_on_loopback(world, [&](transport::Context& context, int rank) {
        Buffer data = make_elements(DType::Float32, kCount, 0, [&](size_t i) {
          return 1.0 /
                 static_cast<double>(1 + (static_cast<size_t>(rank) * 7919 + i * 104729) % 9973);
        });
        auto comm = make_comm(context, 0,
                              op_desc(OpKind::kReduce, DType::Float32, kCount, ReduceOp::SUM, 2));
        collectives::reduce_binomial_tree(comm, data, DType::Float32, ReduceOp::SUM, 2,
                                          kSmallSegments);
        if (rank == 2) {
          std::lock_guard lock(mu);
          result = std::move(data);
        }
      });
      if (run == 0) {
        first = result;
      } else {
        EXPECT_TRUE(result == first)
            << world << " ranks: run " << run << " gave different bits from run 0";
      }
    }
  }
}

}  // namespace
}  // namespace baton::testing
