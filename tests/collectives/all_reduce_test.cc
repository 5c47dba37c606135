// all_reduce algorithms over the loopback transport: ring (default and small
// segments) and recursive doubling, world sizes 1..8, counts 0, 1, 3, 1000
// and > 1 Mi, every dtype and reduce op, exact expectations; results are the
// same bits on every rank and in every run.
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <tuple>

#include "collectives/algorithms.hpp"
#include "tests/collectives/collective_test_util.hpp"

namespace baton::testing {
namespace {

using collectives::OpKind;
using collectives::Tuning;

enum class Variant { kRing, kRingSmallSegments, kRecursiveDoubling };

std::string variant_name(Variant v) {
  switch (v) {
    case Variant::kRing: return "Ring";
    case Variant::kRingSmallSegments: return "RingSmallSegments";
    case Variant::kRecursiveDoubling: return "RecursiveDoubling";
  }
  return "?";
}

// 100 bytes: not a multiple of 8, so segments end mid-way through blocks.
constexpr Tuning kSmallSegments{.segment_bytes = 100, .pipeline_depth = 3};

void all_reduce(Variant v, collectives::Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  switch (v) {
    case Variant::kRing: collectives::all_reduce_ring(comm, data, dtype, op); break;
    case Variant::kRingSmallSegments:
      collectives::all_reduce_ring(comm, data, dtype, op, kSmallSegments);
      break;
    case Variant::kRecursiveDoubling:
      collectives::all_reduce_recursive_doubling(comm, data, dtype, op);
      break;
  }
}

// Runs every (dtype, op) pair for `count` elements on `world` ranks, one
// operation after another on one loopback group.
void check_all_pairs(Variant v, int world, size_t count) {
  const auto pairs = all_dtype_op_pairs();
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (const auto& [dtype, op] : pairs) {
      Buffer data = make_elements(
          dtype, count, 0, [&, d = dtype, o = op](size_t i) { return input_value(o, d, rank, i); });
      auto comm = make_comm(context, seq++, op_desc(OpKind::kAllReduce, dtype, count, op));
      all_reduce(v, comm, data, dtype, op);
      ASSERT_TRUE(elements_equal(
          dtype, data, 0,
          [&, d = dtype, o = op](size_t i) { return expected_value(o, d, world, i); }, rank,
          variant_name(v) + " all_reduce, " + case_name(dtype, op, world, count)));
    }
  });
}

class AllReduceTest : public ::testing::TestWithParam<std::tuple<Variant, int>> {};

TEST_P(AllReduceTest, EveryDtypeAndOpForCounts0To1000) {
  const auto [variant, world] = GetParam();
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}}) {
    SCOPED_TRACE("count " + std::to_string(count));
    check_all_pairs(variant, world, count);
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, AllReduceTest,
                         ::testing::Combine(::testing::Values(Variant::kRing,
                                                              Variant::kRingSmallSegments,
                                                              Variant::kRecursiveDoubling),
                                            ::testing::Range(1, 9)),
                         [](const auto& param_info) {
                           return variant_name(std::get<0>(param_info.param)) + "_" +
                                  std::to_string(std::get<1>(param_info.param)) + "Ranks";
                         });

// More than 1 Mi elements, on a few world sizes: the default segment size
// cuts each block into several segments, so the pipeline runs for real.
class AllReduceLargeTest : public ::testing::TestWithParam<std::tuple<Variant, int>> {};

TEST_P(AllReduceLargeTest, MoreThanOneMebiElements) {
  const auto [variant, world] = GetParam();
  constexpr size_t kCount = (size_t{1} << 20) + 5;
  const std::pair<DType, ReduceOp> cases[] = {{DType::Float32, ReduceOp::SUM},
                                              {DType::BFloat16, ReduceOp::AVG},
                                              {DType::Int64, ReduceOp::BXOR}};
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (const auto& [dtype, op] : cases) {
      Buffer data = make_elements(dtype, kCount, 0, [&, d = dtype, o = op](size_t i) {
        return input_value(o, d, rank, i);
      });
      auto comm = make_comm(context, seq++, op_desc(OpKind::kAllReduce, dtype, kCount, op));
      all_reduce(variant, comm, data, dtype, op);
      ASSERT_TRUE(elements_equal(
          dtype, data, 0,
          [&, d = dtype, o = op](size_t i) { return expected_value(o, d, world, i); }, rank,
          variant_name(variant) + " all_reduce, " + case_name(dtype, op, world, kCount)));
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, AllReduceLargeTest,
                         ::testing::Combine(::testing::Values(Variant::kRing,
                                                              Variant::kRecursiveDoubling),
                                            ::testing::Values(2, 3, 5)),
                         [](const auto& param_info) {
                           return variant_name(std::get<0>(param_info.param)) + "_" +
                                  std::to_string(std::get<1>(param_info.param)) + "Ranks";
                         });

// Inexact float data (rounding depends on the order of additions): every
// rank gets the same bits, and a second run gives the same bits again.
class AllReduceBitsTest : public ::testing::TestWithParam<std::tuple<Variant, int>> {};

TEST_P(AllReduceBitsTest, SameBitsOnEveryRankAndEveryRun) {
  const auto [variant, world] = GetParam();
  constexpr size_t kCount = 4099;
  for (DType dtype : {DType::Float32, DType::Float16}) {
    std::vector<Buffer> results[2];
    for (int run = 0; run < 2; ++run) {
      results[run].resize(static_cast<size_t>(world));
      std::mutex mu;
      run_on_loopback(world, [&](transport::Context& context, int rank) {
        Buffer data = make_elements(dtype, kCount, 0, [&](size_t i) {
          // A fixed pseudo-random value in (-1, 1) per (rank, i).
          uint64_t x = (static_cast<uint64_t>(rank) + 1) * 0x9E3779B97F4A7C15ull ^
                       (i * 0xBF58476D1CE4E5B9ull);
          x ^= x >> 31;
          x *= 0x94D049BB133111EBull;
          x ^= x >> 29;
          return static_cast<double>(x % 2000001) / 1000000.0 - 1.0;
        });
        auto comm = make_comm(context, 0, op_desc(OpKind::kAllReduce, dtype, kCount));
        all_reduce(variant, comm, data, dtype, ReduceOp::SUM);
        std::lock_guard lock(mu);
        results[run][static_cast<size_t>(rank)] = std::move(data);
      });
    }
    for (int run = 0; run < 2; ++run) {
      for (int r = 0; r < world; ++r) {
        EXPECT_TRUE(results[run][static_cast<size_t>(r)] == results[0][0])
            << dtype_name(dtype) << ": rank " << r << " in run " << run
            << " holds different bits from rank 0 in run 0";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, AllReduceBitsTest,
                         ::testing::Combine(::testing::Values(Variant::kRingSmallSegments,
                                                              Variant::kRecursiveDoubling),
                                            ::testing::Values(3, 6, 8)),
                         [](const auto& param_info) {
                           return variant_name(std::get<0>(param_info.param)) + "_" +
                                  std::to_string(std::get<1>(param_info.param)) + "Ranks";
                         });

// With eager (buffered) sends the messages arrive before their receives are
// posted, the other half of the transport's matching rules.
TEST(AllReduceEagerTest, RingAndRecursiveDoublingWithBufferedSends) {
  for (int world : {3, 4, 7}) {
    for (Variant v : {Variant::kRingSmallSegments, Variant::kRecursiveDoubling}) {
      run_on_loopback(
          world,
          [&](transport::Context& context, int rank) {
            constexpr size_t kCount = 1000;
            Buffer data = make_elements(DType::Int32, kCount, 0, [&](size_t i) {
              return input_value(ReduceOp::SUM, DType::Int32, rank, i);
            });
            auto comm = make_comm(context, 0, op_desc(OpKind::kAllReduce, DType::Int32, kCount));
            all_reduce(v, comm, data, DType::Int32, ReduceOp::SUM);
            EXPECT_TRUE(elements_equal(
                DType::Int32, data, 0,
                [&](size_t i) { return expected_value(ReduceOp::SUM, DType::Int32, world, i); },
                rank, variant_name(v) + " eager, " + std::to_string(world) + " ranks"));
          },
          {.eager_bytes = size_t{1} << 20});
    }
  }
}

}  // namespace
}  // namespace baton::testing
