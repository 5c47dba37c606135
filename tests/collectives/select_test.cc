// Algorithm selection (by size and group shape), the BATON_ALGO_* overrides
// and the dispatch entry points the backend calls.
#include "collectives/select.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <optional>
#include <string>

#include "baton/error.hpp"
#include "collectives/dispatch.hpp"
#include "core/config.hpp"
#include "tests/collectives/collective_test_util.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::testing {
namespace {

using collectives::Algorithm;
using collectives::OpKind;
using collectives::OpShape;
using collectives::select_algorithm;

constexpr OpKind kCollectives[] = {OpKind::kBroadcast,     OpKind::kAllReduce, OpKind::kReduce,
                                   OpKind::kAllGather,     OpKind::kGather,    OpKind::kScatter,
                                   OpKind::kReduceScatter, OpKind::kAllToAll,  OpKind::kBarrier};

using baton::testing::ScopedEnv;

class SelectTest : public ::testing::Test {
 protected:
  // Every override unset, and the default threshold.
  ScopedEnv a_{"BATON_ALGO_ALL_REDUCE", std::nullopt};
  ScopedEnv b_{"BATON_ALGO_BROADCAST", std::nullopt};
  ScopedEnv c_{"BATON_ALL_REDUCE_SMALL_BYTES", std::nullopt};
  ScopedEnv d_{"BATON_COLL_SEGMENT_BYTES", std::nullopt};
  ScopedEnv e_{"BATON_COLL_PIPELINE_DEPTH", std::nullopt};
};

TEST_F(SelectTest, AllReduceTakesRecursiveDoublingForSmallAndRingForLarge) {
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 8, .count = 2, .world_size = 2}),
            Algorithm::kRecursiveDoubling);
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 65535, .count = 16383, .world_size = 4}),
            Algorithm::kRecursiveDoubling);
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 65536, .count = 16384, .world_size = 4}),
            Algorithm::kRing);
  // Fewer elements than ranks: the ring would leave ranks idle.
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 1 << 20, .count = 7, .world_size = 8}),
            Algorithm::kRecursiveDoubling);
}

TEST_F(SelectTest, GroupsWithASharedAreaRunEverySpecialisedCollectiveInSharedMemory) {
  for (const size_t bytes : {size_t{0}, size_t{8}, size_t{64} << 20}) {
    const OpShape shape{.bytes = bytes,
                        .count = bytes / 4,
                        .world_size = 4,
                        .shared_memory = true};
    for (OpKind kind : {OpKind::kAllReduce, OpKind::kBroadcast, OpKind::kReduce,
                        OpKind::kAllGather, OpKind::kReduceScatter, OpKind::kBarrier}) {
      EXPECT_EQ(select_algorithm(kind, shape), Algorithm::kSharedMemory)
          << op_kind_name(kind) << ", " << bytes << " bytes";
    }
    // Nothing to gain for these: each byte is copied once by messages already.
    EXPECT_EQ(select_algorithm(OpKind::kGather, shape), Algorithm::kDirect);
    EXPECT_EQ(select_algorithm(OpKind::kAllToAll, shape), Algorithm::kPairwise);
  }
  // An override still wins.
  ScopedEnv ring("BATON_ALGO_ALL_REDUCE", "ring");
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 8,
                                                  .count = 2,
                                                  .world_size = 2,
                                                  .shared_memory = true}),
            Algorithm::kRing);
  ScopedEnv shared("BATON_ALGO_BARRIER", "shared_memory");
  EXPECT_EQ(select_algorithm(OpKind::kBarrier, {}), Algorithm::kSharedMemory);
  EXPECT_EQ(algorithm_name(Algorithm::kSharedMemory), "shared_memory");
}

TEST_F(SelectTest, GroupsSpanningHostsRunAllReduceHierarchically) {
  for (const size_t bytes : {size_t{8}, size_t{64} << 20}) {
    const OpShape shape{
        .bytes = bytes, .count = bytes / 4, .world_size = 4, .hierarchical = true};
    EXPECT_EQ(select_algorithm(OpKind::kAllReduce, shape), Algorithm::kHierarchical) << bytes;
    EXPECT_EQ(select_algorithm(OpKind::kBroadcast, shape), Algorithm::kBinomialTree);
  }
  EXPECT_EQ(algorithm_name(Algorithm::kHierarchical), "hierarchical");
}

TEST_F(SelectTest, HierarchicalHelpsWhereSeveralHostsAndOneHasSeveralRanks) {
  using collectives::hierarchical_helps;
  EXPECT_TRUE(hierarchical_helps(std::vector<int>{0, 0, 1, 1}));
  EXPECT_TRUE(hierarchical_helps(std::vector<int>{0, 1, 1}));
  EXPECT_FALSE(hierarchical_helps(std::vector<int>{}));         // hosts unknown
  EXPECT_FALSE(hierarchical_helps(std::vector<int>{0, 0, 0}));  // one host
  EXPECT_FALSE(hierarchical_helps(std::vector<int>{0, 1, 2}));  // one rank per host
  EXPECT_FALSE(hierarchical_helps(std::vector<int>{0, 1}));
}

TEST_F(SelectTest, SmallThresholdIsATunable) {
  ScopedEnv threshold("BATON_ALL_REDUCE_SMALL_BYTES", "16");
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 16, .count = 4, .world_size = 4}),
            Algorithm::kRing);
  EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 12, .count = 3, .world_size = 2}),
            Algorithm::kRecursiveDoubling);
}

TEST_F(SelectTest, EveryCollectiveHasAVariableAndADefault) {
  std::vector<std::string_view> seen;
  for (OpKind kind : kCollectives) {
    const std::string_view variable = collectives::algorithm_variable(kind);
    EXPECT_EQ(variable.substr(0, 11), "BATON_ALGO_");
    for (std::string_view other : seen) EXPECT_NE(variable, other);
    seen.push_back(variable);
    // Registered as a tunable with default "auto".
    bool registered = false;
    for (const auto& t : config::tunables()) {
      if (t.name == variable) {
        registered = true;
        EXPECT_EQ(t.default_value, "auto") << variable;
      }
    }
    EXPECT_TRUE(registered) << variable << " is not in config.cc's kTunables";
    const Algorithm chosen =
        select_algorithm(kind, {.bytes = 1 << 20, .count = 1 << 18, .world_size = 4});
    const auto choices = collectives::algorithms_for(kind);
    EXPECT_NE(std::find(choices.begin(), choices.end(), chosen), choices.end())
        << op_kind_name(kind) << " chose " << algorithm_name(chosen);
  }
  EXPECT_EQ(select_algorithm(OpKind::kBroadcast, {.bytes = 4, .count = 1, .world_size = 3}),
            Algorithm::kBinomialTree);
  EXPECT_EQ(select_algorithm(OpKind::kAllToAll, {.bytes = 4, .count = 1, .world_size = 3}),
            Algorithm::kPairwise);
  EXPECT_EQ(select_algorithm(OpKind::kBarrier, {.bytes = 0, .count = 0, .world_size = 3}),
            Algorithm::kDissemination);
}

TEST_F(SelectTest, OverrideForcesTheAlgorithm) {
  {
    ScopedEnv force("BATON_ALGO_ALL_REDUCE", "ring");
    EXPECT_EQ(select_algorithm(OpKind::kAllReduce, {.bytes = 8, .count = 2, .world_size = 2}),
              Algorithm::kRing);
  }
  {
    ScopedEnv force("BATON_ALGO_ALL_REDUCE", " Recursive_Doubling ");
    EXPECT_EQ(
        select_algorithm(OpKind::kAllReduce, {.bytes = 1 << 24, .count = 1 << 22, .world_size = 2}),
        Algorithm::kRecursiveDoubling);
  }
  {
    ScopedEnv force("BATON_ALGO_ALL_REDUCE", "auto");
    EXPECT_EQ(
        select_algorithm(OpKind::kAllReduce, {.bytes = 1 << 24, .count = 1 << 22, .world_size = 2}),
        Algorithm::kRing);
  }
  {
    ScopedEnv force("BATON_ALGO_BROADCAST", "binomial_tree");
    EXPECT_EQ(select_algorithm(OpKind::kBroadcast, {.bytes = 8, .count = 2, .world_size = 2}),
              Algorithm::kBinomialTree);
  }
}

TEST_F(SelectTest, UnknownOverrideNamesTheVariableAndTheChoices) {
  ScopedEnv force("BATON_ALGO_ALL_REDUCE", "tree");
  try {
    select_algorithm(OpKind::kAllReduce, {.bytes = 8, .count = 2, .world_size = 2});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    for (const char* part :
         {"BATON_ALGO_ALL_REDUCE", "'tree'", "all_reduce", "auto", "ring", "recursive_doubling"}) {
      EXPECT_NE(what.find(part), std::string::npos) << "missing '" << part << "' in: " << what;
    }
  }
  ScopedEnv broadcast("BATON_ALGO_BROADCAST", "ring");
  EXPECT_THROW(select_algorithm(OpKind::kBroadcast, {.bytes = 8, .count = 2, .world_size = 2}),
               InvalidArgument);
}

TEST_F(SelectTest, PointToPointHasNoAlgorithm) {
  EXPECT_TRUE(collectives::algorithms_for(OpKind::kPointToPoint).empty());
  EXPECT_THROW(collectives::algorithm_variable(OpKind::kPointToPoint), InvalidArgument);
  EXPECT_THROW(select_algorithm(OpKind::kPointToPoint, {}), InvalidArgument);
}

TEST_F(SelectTest, TuningComesFromTheEnvironment) {
  const collectives::Tuning defaults = collectives::Settings::from_config().tuning;
  EXPECT_EQ(defaults.segment_bytes, 524288u);
  EXPECT_EQ(defaults.pipeline_depth, 4u);
  {
    ScopedEnv segment("BATON_COLL_SEGMENT_BYTES", "4096");
    ScopedEnv depth("BATON_COLL_PIPELINE_DEPTH", "2");
    const collectives::Tuning t = collectives::Settings::from_config().tuning;
    EXPECT_EQ(t.segment_bytes, 4096u);
    EXPECT_EQ(t.pipeline_depth, 2u);
  }
  {
    ScopedEnv segment("BATON_COLL_SEGMENT_BYTES", "0");
    EXPECT_THROW(collectives::Settings::from_config().tuning, InvalidArgument);
  }
  {
    ScopedEnv depth("BATON_COLL_PIPELINE_DEPTH", "many");
    EXPECT_THROW(collectives::Settings::from_config().tuning, InvalidArgument);
  }
}

// The dispatch entry points choose, run and report the algorithm; a forced
// algorithm runs even where auto would pick the other.
TEST_F(SelectTest, DispatchRunsTheChosenAlgorithm) {
  constexpr int kWorld = 3;
  constexpr size_t kCount = 10;
  for (const char* forced : {"auto", "ring", "recursive_doubling"}) {
    ScopedEnv force("BATON_ALGO_ALL_REDUCE", std::string(forced));
    ScopedEnv segment("BATON_COLL_SEGMENT_BYTES", "8");  // several segments per block
    const Algorithm want =
        std::string(forced) == "ring" ? Algorithm::kRing : Algorithm::kRecursiveDoubling;
    run_on_loopback(kWorld, [&](transport::Context& context, int rank) {
      Buffer data = make_elements(DType::Float64, kCount, 0, [&](size_t i) {
        return input_value(ReduceOp::AVG, DType::Float64, rank, i);
      });
      auto comm =
          make_comm(context, 0, op_desc(OpKind::kAllReduce, DType::Float64, kCount, ReduceOp::AVG));
      EXPECT_EQ(collectives::run_all_reduce(comm, data, DType::Float64, ReduceOp::AVG), want)
          << "BATON_ALGO_ALL_REDUCE=" << forced;
      EXPECT_TRUE(elements_equal(
          DType::Float64, data, 0,
          [&](size_t i) { return expected_value(ReduceOp::AVG, DType::Float64, kWorld, i); }, rank,
          std::string("dispatched all_reduce, BATON_ALGO_ALL_REDUCE=") + forced));
    });
  }
}

TEST_F(SelectTest, DispatchRunsEveryCollective) {
  constexpr int kWorld = 4;
  constexpr size_t kCount = 5;
  const DType dtype = DType::Int32;
  const size_t bytes = kCount * 4;
  run_on_loopback(kWorld, [&](transport::Context& context, int rank) {
    uint64_t seq = 0;
    auto comm_for = [&](OpKind kind, int root = -1) {
      return make_comm(context, seq++, op_desc(kind, dtype, kCount, ReduceOp::SUM, root));
    };
    auto sum = [&](size_t i) { return expected_value(ReduceOp::SUM, dtype, kWorld, i); };
    auto mine = [&](size_t first) {
      return make_elements(dtype, kCount, first,
                           [&](size_t i) { return input_value(ReduceOp::SUM, dtype, rank, i); });
    };

    Buffer data = make_pattern(rank, bytes);
    auto c1 = comm_for(OpKind::kBroadcast, 2);
    EXPECT_EQ(collectives::run_broadcast(c1, data, 2), Algorithm::kBinomialTree);
    EXPECT_TRUE(bytes_equal_pattern(data, 2, 0, rank, "dispatched broadcast"));

    Buffer values = mine(0);
    auto c2 = comm_for(OpKind::kReduce, 1);
    EXPECT_EQ(collectives::run_reduce(c2, values, dtype, ReduceOp::SUM, 1),
              Algorithm::kBinomialTree);
    if (rank == 1) {
      EXPECT_TRUE(elements_equal(dtype, values, 0, sum, rank, "dispatched reduce"));
    }

    std::vector<Buffer> outputs(kWorld, Buffer(bytes));
    const std::vector<collectives::Bytes> outs(outputs.begin(), outputs.end());
    const Buffer input = make_pattern(rank, bytes);
    auto c3 = comm_for(OpKind::kAllGather);
    EXPECT_EQ(collectives::run_all_gather(c3, input, outs), Algorithm::kRing);
    for (int r = 0; r < kWorld; ++r) {
      EXPECT_TRUE(bytes_equal_pattern(outputs[static_cast<size_t>(r)], r, 0, rank,
                                      "dispatched all_gather"));
    }

    for (Buffer& b : outputs) std::fill(b.begin(), b.end(), std::byte{0});
    auto c4 = comm_for(OpKind::kGather, 3);
    const auto gather_outs = rank == 3 ? std::span<const collectives::Bytes>(outs)
                                       : std::span<const collectives::Bytes>();
    EXPECT_EQ(collectives::run_gather(c4, input, gather_outs, 3), Algorithm::kDirect);
    if (rank == 3) {
      for (int r = 0; r < kWorld; ++r) {
        EXPECT_TRUE(
            bytes_equal_pattern(outputs[static_cast<size_t>(r)], r, 0, rank, "dispatched gather"));
      }
    }

    std::vector<Buffer> blocks;
    for (int b = 0; b < kWorld; ++b) blocks.push_back(make_pattern(b, bytes, 3));
    const std::vector<collectives::ConstBytes> ins(blocks.begin(), blocks.end());
    Buffer out(bytes);
    auto c5 = comm_for(OpKind::kScatter, 0);
    EXPECT_EQ(collectives::run_scatter(c5, ins, out, 0), Algorithm::kDirect);
    EXPECT_TRUE(bytes_equal_pattern(out, rank, 3, rank, "dispatched scatter"));

    std::vector<Buffer> parts;
    for (int b = 0; b < kWorld; ++b) parts.push_back(mine(static_cast<size_t>(b) * kCount));
    const std::vector<collectives::ConstBytes> part_spans(parts.begin(), parts.end());
    auto c6 = comm_for(OpKind::kReduceScatter);
    EXPECT_EQ(collectives::run_reduce_scatter(c6, part_spans, out, dtype, ReduceOp::SUM),
              Algorithm::kRing);
    EXPECT_TRUE(elements_equal(dtype, out, static_cast<size_t>(rank) * kCount, sum, rank,
                               "dispatched reduce_scatter"));

    auto c7 = comm_for(OpKind::kAllToAll);
    EXPECT_EQ(collectives::run_all_to_all(c7, ins, outs), Algorithm::kPairwise);
    for (int r = 0; r < kWorld; ++r) {
      EXPECT_TRUE(bytes_equal_pattern(outputs[static_cast<size_t>(r)], rank, 3, rank,
                                      "dispatched all_to_all"));
    }

    auto c8 = comm_for(OpKind::kBarrier);
    EXPECT_EQ(collectives::run_barrier(c8), Algorithm::kDissemination);

    Buffer reduced = mine(0);
    auto c9 = comm_for(OpKind::kAllReduce);
    EXPECT_EQ(collectives::run_all_reduce(c9, reduced, dtype, ReduceOp::SUM),
              Algorithm::kRecursiveDoubling);
    EXPECT_TRUE(elements_equal(dtype, reduced, 0, sum, rank, "dispatched all_reduce"));
  });
}

}  // namespace
}  // namespace baton::testing
