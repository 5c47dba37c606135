// all_gather and reduce_scatter rings over the loopback transport: world
// sizes 1..8, counts 0, 1, 3, 1000 and > 1 Mi, default and small segments,
// reduce_scatter with every dtype and op, and in-place (aliased) buffers.
#include <gtest/gtest.h>

#include "collectives/algorithms.hpp"
#include "tests/collectives/collective_test_util.hpp"

namespace baton::testing {
namespace {

using collectives::OpKind;
using collectives::Tuning;

constexpr Tuning kSmallSegments{.segment_bytes = 100, .pipeline_depth = 3};
const size_t kCounts[] = {0, 1, 3, 1000};

std::vector<Bytes> spans(std::vector<Buffer>& buffers) {
  return {buffers.begin(), buffers.end()};
}
std::vector<ConstBytes> const_spans(const std::vector<Buffer>& buffers) {
  return {buffers.begin(), buffers.end()};
}

// Gathers `count` elements of `dtype` per rank; with in_place the input is
// outputs[rank] itself.
void gather_case(transport::Context& context, uint64_t seq, int rank, int world, DType dtype,
                 size_t count, const Tuning& tuning, bool in_place) {
  const size_t bytes = count * element_size(dtype);
  std::vector<Buffer> outputs(static_cast<size_t>(world), Buffer(bytes, std::byte{0xEE}));
  Buffer input = make_pattern(rank, bytes);
  if (in_place) outputs[static_cast<size_t>(rank)] = input;
  const auto outs = spans(outputs);
  const ConstBytes in =
      in_place ? ConstBytes(outputs[static_cast<size_t>(rank)]) : ConstBytes(input);
  auto comm = make_comm(context, seq, op_desc(OpKind::kAllGather, dtype, count));
  collectives::all_gather_ring(comm, in, outs, tuning);
  for (int src = 0; src < world; ++src) {
    ASSERT_TRUE(bytes_equal_pattern(
        outputs[static_cast<size_t>(src)], src, 0, rank,
        "all_gather output " + std::to_string(src) + " of " + std::to_string(count) + " " +
            std::string(dtype_name(dtype)) + ", " + std::to_string(world) + " ranks" +
            (in_place ? ", in place" : "")));
  }
}

// Reduce-scatters `count` elements per rank; inputs[b][i] is element
// b * count + i of the rank's data. With in_place the output is inputs[rank].
void reduce_scatter_case(transport::Context& context, uint64_t seq, int rank, int world,
                         DType dtype, ReduceOp op, size_t count, const Tuning& tuning,
                         bool in_place) {
  std::vector<Buffer> inputs;
  for (int b = 0; b < world; ++b) {
    inputs.push_back(make_elements(dtype, count, static_cast<size_t>(b) * count,
                                   [&](size_t i) { return input_value(op, dtype, rank, i); }));
  }
  Buffer separate(count * element_size(dtype), std::byte{0xEE});
  const Bytes output = in_place ? Bytes(inputs[static_cast<size_t>(rank)]) : Bytes(separate);
  auto comm = make_comm(context, seq, op_desc(OpKind::kReduceScatter, dtype, count, op));
  collectives::reduce_scatter_ring(comm, const_spans(inputs), output, dtype, op, tuning);
  ASSERT_TRUE(elements_equal(
      dtype, output, static_cast<size_t>(rank) * count,
      [&](size_t i) { return expected_value(op, dtype, world, i); }, rank,
      "reduce_scatter, " + case_name(dtype, op, world, count) + (in_place ? ", in place" : "")));
}

class RingTest : public ::testing::TestWithParam<int> {};

TEST_P(RingTest, AllGather) {
  const int world = GetParam();
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (const Tuning& tuning : {Tuning{}, kSmallSegments}) {
      for (size_t count : kCounts) {
        for (DType dtype : {DType::Int8, DType::Float64}) {
          gather_case(context, seq++, rank, world, dtype, count, tuning, false);
          gather_case(context, seq++, rank, world, dtype, count, tuning, true);
        }
      }
    }
  });
}

TEST_P(RingTest, ReduceScatterEveryDtypeAndOp) {
  const int world = GetParam();
  const auto pairs = all_dtype_op_pairs();
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    for (size_t count : kCounts) {
      const Tuning tuning = count == 1000 ? kSmallSegments : Tuning{};
      for (const auto& [dtype, op] : pairs) {
        reduce_scatter_case(context, seq++, rank, world, dtype, op, count, tuning, false);
      }
    }
    // Output aliasing the rank's own input block.
    for (size_t count : kCounts) {
      reduce_scatter_case(context, seq++, rank, world, DType::Int32, ReduceOp::SUM, count,
                          kSmallSegments, true);
      reduce_scatter_case(context, seq++, rank, world, DType::Float16, ReduceOp::AVG, count,
                          Tuning{}, true);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, RingTest, ::testing::Range(1, 9), [](const auto& param_info) {
  return std::to_string(param_info.param) + "Ranks";
});

TEST(RingLargeTest, AllGatherAndReduceScatterMoreThanOneMebiElements) {
  constexpr size_t kCount = (size_t{1} << 20) + 1;
  constexpr int kWorld = 3;
  run_on_loopback(kWorld, [&](transport::Context& context, int rank) {
    gather_case(context, 0, rank, kWorld, DType::Float32, kCount, Tuning{}, false);
    reduce_scatter_case(context, 1, rank, kWorld, DType::Float32, ReduceOp::MAX, kCount, Tuning{},
                        false);
  });
}

}  // namespace
}  // namespace baton::testing
