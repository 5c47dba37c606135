// Failures inside collective algorithms over the loopback transport: ranks
// that disagree about the operation get MismatchError (every rank, not a
// hang), a missing rank gives TimeoutError naming it, a closed peer gives
// ConnectionError naming it, and a bad argument is an InvalidArgument that
// leaves the group usable.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <typeinfo>

#include "baton/error.hpp"
#include "collectives/algorithms.hpp"
#include "tests/collectives/collective_test_util.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

using collectives::OpKind;

// What each rank's operation threw ("" for nothing), and its message.
struct Outcome {
  std::string type;
  std::string what;
};

template <class Body>
std::vector<Outcome> outcomes(int world, Body body) {
  std::vector<Outcome> out(static_cast<size_t>(world));
  std::mutex mu;
  run_on_loopback(world, [&](transport::Context& context, int rank) {
    Outcome o;
    try {
      body(context, rank);
    } catch (const MismatchError& e) {
      o = {"MismatchError", e.what()};
    } catch (const TimeoutError& e) {
      o = {"TimeoutError", e.what()};
    } catch (const ConnectionError& e) {
      o = {"ConnectionError", e.what()};
    } catch (const InvalidArgument& e) {
      o = {"InvalidArgument", e.what()};
    }
    std::lock_guard lock(mu);
    out[static_cast<size_t>(rank)] = o;
  });
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(FailureTest, DifferentCollectivesFailWithMismatchOnBothRanks) {
  constexpr size_t kCount = 8;
  const auto result = outcomes(2, [&](transport::Context& context, int rank) {
    Buffer data(kCount * 4);
    if (rank == 0) {
      auto comm = make_comm(context, 4, op_desc(OpKind::kAllReduce, DType::Float32, kCount));
      collectives::all_reduce_ring(comm, data, DType::Float32, ReduceOp::SUM);
    } else {
      std::vector<Buffer> outputs(2, Buffer(kCount * 4));
      const std::vector<Bytes> outs(outputs.begin(), outputs.end());
      auto comm = make_comm(context, 4, op_desc(OpKind::kAllGather, DType::Float32, kCount));
      collectives::all_gather_ring(comm, data, outs);
    }
  });
  for (int r = 0; r < 2; ++r) {
    const Outcome& o = result[static_cast<size_t>(r)];
    EXPECT_EQ(o.type, "MismatchError") << "rank " << r << ": " << o.what;
    EXPECT_TRUE(contains(o.what, "all_reduce") && contains(o.what, "all_gather"))
        << "rank " << r << ": " << o.what;
  }
}

// Only one rank sees the other's messages directly; the abort it raises
// reaches the others, so none of them waits for its timeout.
TEST(FailureTest, OneOddRankOutMismatchesEveryRank) {
  constexpr int kWorld = 4;
  const auto start = std::chrono::steady_clock::now();
  const auto result = outcomes(kWorld, [&](transport::Context& context, int rank) {
    Buffer data(16);
    if (rank == 3) {
      auto comm = make_comm(context, 0, op_desc(OpKind::kBarrier, DType::UInt8, 0));
      collectives::barrier_dissemination(comm);
    } else {
      auto comm = make_comm(context, 0, op_desc(OpKind::kAllReduce, DType::Int32, 4));
      collectives::all_reduce_recursive_doubling(comm, data, DType::Int32, ReduceOp::SUM);
    }
  });
  for (int r = 0; r < kWorld; ++r) {
    const Outcome& o = result[static_cast<size_t>(r)];
    EXPECT_EQ(o.type, "MismatchError") << "rank " << r << ": " << o.what;
    EXPECT_TRUE(contains(o.what, "barrier") && contains(o.what, "all_reduce"))
        << "rank " << r << ": " << o.what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, kOpTimeout / 2)
      << "a rank waited for its timeout";
}

TEST(FailureTest, DifferentCountsMismatch) {
  // all_reduce where rank 1 has one more element.
  auto counts = outcomes(3, [&](transport::Context& context, int rank) {
    const size_t count = rank == 1 ? 9 : 8;
    Buffer data(count * 4);
    auto comm = make_comm(context, 1, op_desc(OpKind::kAllReduce, DType::Float32, count));
    collectives::all_reduce_ring(comm, data, DType::Float32, ReduceOp::SUM);
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(counts[static_cast<size_t>(r)].type, "MismatchError")
        << "rank " << r << ": " << counts[static_cast<size_t>(r)].what;
  }
  // Disagreements where a rank only sends (a broadcast root) need the
  // transports' agreement checks (transport.hpp, "Agreement"), which this
  // loopback context does not implement: the backend suite's
  // DisagreementsAreMismatchErrorsOnEveryRank checks every collective x
  // algorithm over the real transports, on every rank.
}

TEST(FailureTest, ZeroElementsStillMismatch) {
  // One rank all_reduces nothing; without an exchange it would return and
  // leave the other waiting.
  const auto result = outcomes(2, [&](transport::Context& context, int rank) {
    const size_t count = rank == 0 ? 0 : 4;
    Buffer data(count * 4);
    auto comm = make_comm(context, 2, op_desc(OpKind::kAllReduce, DType::Float32, count));
    collectives::all_reduce_ring(comm, data, DType::Float32, ReduceOp::SUM);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(result[static_cast<size_t>(r)].type, "MismatchError")
        << "rank " << r << ": " << result[static_cast<size_t>(r)].what;
  }
}

TEST(FailureTest, TimeoutNamesTheOperationAndEveryMissingRank) {
  constexpr auto kShort = std::chrono::milliseconds(300);
  const auto result = outcomes(4, [&](transport::Context& context, int rank) {
    if (rank >= 2) return;  // ranks 2 and 3 never take part
    Buffer input(8);
    std::vector<Buffer> outputs(rank == 0 ? 4 : 0, Buffer(8));
    const std::vector<Bytes> outs(outputs.begin(), outputs.end());
    auto comm = make_comm(context, 7, op_desc(OpKind::kGather, DType::Float64, 1, ReduceOp::SUM, 0),
                          kShort);
    collectives::gather_direct(comm, input, outs, 0);
  });
  EXPECT_EQ(result[0].type, "TimeoutError") << result[0].what;
  EXPECT_TRUE(contains(result[0].what, "gather #7") && contains(result[0].what, "rank 0") &&
              contains(result[0].what, "ranks 2, 3"))
      << result[0].what;
  EXPECT_EQ(result[1].type, "") << "rank 1's send was taken before the timeout: " << result[1].what;
}

TEST(FailureTest, RingTimeoutNamesTheSilentNeighbour) {
  const auto result = outcomes(3, [&](transport::Context& context, int rank) {
    if (rank == 2) return;
    Buffer data(4000);
    auto comm = make_comm(context, 3, op_desc(OpKind::kAllReduce, DType::Float32, 1000),
                          std::chrono::milliseconds(300));
    collectives::all_reduce_ring(comm, data, DType::Float32, ReduceOp::SUM);
  });
  // Rank 0 waits for rank 2 (its left neighbour) and times out; rank 1 gets
  // rank 0's abort or times out itself waiting for rank 2.
  EXPECT_EQ(result[0].type, "TimeoutError") << result[0].what;
  EXPECT_TRUE(contains(result[0].what, "all_reduce #3") && contains(result[0].what, "rank 2"))
      << result[0].what;
  EXPECT_EQ(result[1].type, "TimeoutError") << result[1].what;
}

TEST(FailureTest, ClosedPeerFailsTheOthersWithConnectionError) {
  constexpr int kWorld = 3;
  auto contexts = make_loopback_group(kWorld);
  std::vector<Outcome> result(kWorld);
  std::mutex mu;
  run_ranks(kWorld,
            [&](int rank, int) {
              if (rank == 2) {
                contexts[2].reset();  // the peer goes away
                return;
              }
              Outcome o;
              try {
                Buffer data(4000);
                auto comm = make_comm(*contexts[static_cast<size_t>(rank)], 0,
                                      op_desc(OpKind::kAllReduce, DType::Float32, 1000));
                collectives::all_reduce_ring(comm, data, DType::Float32, ReduceOp::SUM);
              } catch (const ConnectionError& e) {
                o = {"ConnectionError", e.what()};
              } catch (const std::exception& e) {
                o = {typeid(e).name(), e.what()};
              }
              std::lock_guard lock(mu);
              result[static_cast<size_t>(rank)] = o;
            },
            {.mode = RankMode::kThreads, .timeout = std::chrono::seconds(60)});
  for (int r = 0; r < 2; ++r) {
    const Outcome& o = result[static_cast<size_t>(r)];
    EXPECT_EQ(o.type, "ConnectionError") << "rank " << r << ": " << o.what;
    EXPECT_TRUE(contains(o.what, "rank 2")) << o.what;
  }
}

TEST(FailureTest, BadArgumentsThrowBeforeSendingAndLeaveTheGroupUsable) {
  const auto result = outcomes(2, [&](transport::Context& context, int rank) {
    Buffer data(6);
    auto bad_root =
        make_comm(context, 0, op_desc(OpKind::kBroadcast, DType::UInt8, 6, ReduceOp::SUM, 7));
    EXPECT_THROW(collectives::broadcast_binomial_tree(bad_root, data, 7), InvalidArgument);
    auto bad_size = make_comm(context, 1, op_desc(OpKind::kAllReduce, DType::Float32, 1));
    EXPECT_THROW(collectives::all_reduce_ring(bad_size, data, DType::Float32, ReduceOp::SUM),
                 InvalidArgument);
    std::vector<Buffer> one(1, Buffer(6));
    const std::vector<Bytes> outs(one.begin(), one.end());
    auto bad_list = make_comm(context, 2, op_desc(OpKind::kAllGather, DType::UInt8, 6));
    EXPECT_THROW(collectives::all_gather_ring(bad_list, data, outs), InvalidArgument);
    // Nothing was sent and nothing aborted: the next operation works.
    auto ok = make_comm(context, 3, op_desc(OpKind::kBarrier, DType::UInt8, 0));
    collectives::barrier_dissemination(ok);
    (void)rank;
  });
  for (int r = 0; r < 2; ++r)
    EXPECT_EQ(result[static_cast<size_t>(r)].type, "") << result[static_cast<size_t>(r)].what;
}

}  // namespace
}  // namespace baton::testing
