// Errors of the public API, each with its message checked: ranks that
// disagree (MismatchError on every rank), a rank killed during a collective
// (ConnectionError naming it), an operation past the group's timeout
// (TimeoutError naming the operation and the missing rank), receives into
// too small a tensor, and the sticky failure that follows.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "baton/baton.hpp"
#include "baton/distributed.hpp"
#include "baton/file_store.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

InitOptions options_for(const JobDir& dir, int rank, int n, milliseconds timeout = seconds(30)) {
  InitOptions options;
  options.init_method = dir.init_method();
  options.rank = rank;
  options.world_size = n;
  options.timeout = timeout;
  return options;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(ErrorsTest, MismatchedSizesFailEveryRankAndStaySticky) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    Tensor t = Tensor::ones({rank == 0 ? 4 : 8});
    const std::string first = message_of<MismatchError>([&] { all_reduce(t); });
    EXPECT_TRUE(contains(first, "all_reduce")) << first;
    EXPECT_TRUE(contains(first, "rank 0") && contains(first, "rank 1")) << first;
    EXPECT_TRUE(contains(first, "4 elements") && contains(first, "8 elements")) << first;

    // The group is unusable now: later operations fail at once, with the same reason.
    const auto start = Clock::now();
    Tensor ok = Tensor::ones({4});
    const std::string again = message_of<MismatchError>([&] { all_reduce(ok); });
    EXPECT_EQ(again, first);
    EXPECT_LT(seconds_since(start), 1.0);
    destroy_process_group();
  });
}

// No frame of rank 2's broadcast reaches the all_reduce ranks and vice versa
// (each waits for the other), so the transport cannot see the disagreement:
// the ranks time out and the diagnosis through the store names it.
TEST(ErrorsTest, DifferentCollectivesFailEveryRank) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n, milliseconds(1500)));
    Tensor t = Tensor::ones({16});
    const std::string message = message_of<MismatchError>([&] {
      if (rank == 2) {
        broadcast(t, 0);
      } else {
        all_reduce(t);
      }
    });
    EXPECT_TRUE(contains(message, "all_reduce #1") && contains(message, "broadcast #1")) << message;
    EXPECT_TRUE(contains(message, "rank 2")) << message;
    destroy_process_group();
  });
}

TEST(ErrorsTest, DifferentDTypesFailEveryRank) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    Tensor warm = Tensor::ones({4});
    all_reduce(warm);  // the first one agrees
    Tensor t = Tensor::ones({1000}, rank == 1 ? DType::Int32 : DType::Float32);
    const std::string message = message_of<MismatchError>([&] { all_reduce(t); });
    EXPECT_TRUE(contains(message, "all_reduce #2")) << message;
    EXPECT_TRUE(contains(message, "int32") && contains(message, "float32")) << message;
    EXPECT_TRUE(contains(message, "rank 1")) << message;
    destroy_process_group();
  });
}

TEST(ErrorsTest, KilledRankFailsThePendingWorkOfEveryOtherRank) {
  JobDir dir;
  const auto results = try_run_ranks(
      3,
      [&](int rank, int n) {
        init_process_group(options_for(dir, rank, n, seconds(30)));
        Tensor warm = Tensor::ones({8});
        all_reduce(warm);  // every connection is up and used
        Tensor big = Tensor::ones({1 << 22});
        if (rank == 2) {
          Work started = all_reduce(big, ReduceOp::SUM, world(), async_op);
          ::raise(SIGKILL);  // dies with its collective in flight
        }
        const auto start = Clock::now();
        Work work = all_reduce(big, ReduceOp::SUM, world(), async_op);
        const std::string message = message_of<ConnectionError>([&] { work.wait(); });
        EXPECT_TRUE(contains(message, "rank 2")) << message;
        EXPECT_LT(seconds_since(start), 10.0) << "the failure took too long to surface";
        EXPECT_TRUE(work.is_completed());
        EXPECT_FALSE(work.is_success());
        // Later operations fail at once too.
        EXPECT_THROW(barrier(), ConnectionError);
        destroy_process_group();
      },
      {.mode = RankMode::kProcesses, .timeout = seconds(60)});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok) << results[0].what;
  EXPECT_TRUE(results[1].ok) << results[1].what;
  EXPECT_FALSE(results[2].ok);
  EXPECT_TRUE(contains(results[2].what, "signal 9")) << results[2].what;
}

TEST(ErrorsTest, CollectivePastTheTimeoutNamesTheOperationAndTheMissingRank) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n, milliseconds(1500)));
    FileStore side(dir.path() + "/side");
    if (rank == 0) {
      Tensor t = Tensor::ones({4});
      const auto start = Clock::now();
      const std::string message = message_of<TimeoutError>([&] { all_reduce(t); });
      const double took = seconds_since(start);
      EXPECT_TRUE(contains(message, "all_reduce #1")) << message;
      EXPECT_TRUE(contains(message, "waiting for rank 1")) << message;
      EXPECT_GE(took, 1.4);
      EXPECT_LT(took, 5.0);
      side.set("rank0-done", "1");
    } else {
      side.get("rank0-done");  // rank 1 never joined the all_reduce in time
      const auto start = Clock::now();
      Tensor t = Tensor::ones({4});
      EXPECT_THROW(all_reduce(t), Error);  // rank 0 gave up and told us why
      EXPECT_LT(seconds_since(start), 1.0);
    }
    destroy_process_group();
  });
}

TEST(ErrorsTest, ReceivePastTheTimeoutFails) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n, milliseconds(1000)));
    FileStore side(dir.path() + "/side");
    if (rank == 0) {
      Tensor t = Tensor::zeros({4});
      const std::string message = message_of<TimeoutError>([&] { recv(t, 1, world(), 6); });
      EXPECT_EQ(message,
                "recv from rank 1 (tag 6) on world did not complete within the group's "
                "timeout of 1 s");
      side.set("rank0-done", "1");
    } else {
      side.get("rank0-done");
    }
    destroy_process_group();
  });
}

TEST(ErrorsTest, ReceiveIntoTooSmallATensorNamesBothSizes) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    if (rank == 0) {
      send(Tensor::ones({4}), 1);
    } else {
      Tensor small = Tensor::zeros({2});
      const std::string message = message_of<MismatchError>([&] { recv(small, 0); });
      EXPECT_TRUE(contains(message, "16 bytes") && contains(message, "8 bytes")) << message;
    }
    // Not a group failure: the group still works.
    Tensor t = Tensor::ones({3});
    all_reduce(t);
    expect_tensor(
        t, [](int64_t) { return 2.0; }, "all_reduce after the failed recv");
    destroy_process_group();
  });
}

TEST(ErrorsTest, NewGroupWithDisagreeingListsIsAMismatch) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    if (rank == 2) {
      const std::string message = message_of<MismatchError>([&] { new_group({0, 1, 2}); });
      EXPECT_TRUE(contains(message, "[0, 1, 2]") && contains(message, "[0, 1]")) << message;
    } else {
      Group g = new_group({0, 1});
      Tensor t = Tensor::ones({2});
      all_reduce(t, ReduceOp::SUM, g);
      expect_tensor(
          t, [](int64_t) { return 2.0; }, "the pair's all_reduce");
    }
    destroy_process_group();
  });
}

}  // namespace
}  // namespace baton::testing
