// The spawner must report each failing rank by number, and kill hung ones.
#include "tests/support/rank_runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

namespace baton::testing {
namespace {

TEST(RankRunner, ProcessesReportEachFailureByRank) {
  auto results = try_run_ranks(
      4,
      [](int rank, int) {
        if (rank == 1) throw std::runtime_error("boom");
        if (rank == 2) {
          ::signal(SIGSEGV, SIG_DFL);  // die by the signal, not by a sanitizer's report of it
          ::raise(SIGSEGV);
        }
        if (rank == 3) {
          EXPECT_EQ(rank, 0) << "gtest failure inside a rank";
        }
      },
      {.mode = RankMode::kProcesses, .timeout = std::chrono::seconds(20)});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok);
  EXPECT_FALSE(results[1].ok);
  EXPECT_NE(results[1].what.find("boom"), std::string::npos) << results[1].what;
  EXPECT_FALSE(results[2].ok);
  EXPECT_NE(results[2].what.find("Segmentation fault"), std::string::npos) << results[2].what;
  EXPECT_FALSE(results[3].ok);
  EXPECT_NE(results[3].what.find("gtest failure inside a rank"), std::string::npos) << results[3].what;
}

TEST(RankRunner, HungProcessIsKilledAtTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto results = try_run_ranks(
      2,
      [](int rank, int) {
        if (rank == 1) ::pause();
      },
      {.mode = RankMode::kProcesses, .timeout = std::chrono::milliseconds(500)});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(results[0].ok);
  EXPECT_FALSE(results[1].ok);
  EXPECT_NE(results[1].what.find("timed out"), std::string::npos) << results[1].what;
}

TEST(RankRunner, ThreadsRunEveryRankOnce) {
  std::atomic<int> mask{0};
  run_ranks(5, [&](int rank, int world) {
    EXPECT_EQ(world, 5);
    mask.fetch_or(1 << rank);
  }, {.mode = RankMode::kThreads});
  EXPECT_EQ(mask.load(), 0x1f);
  auto results = try_run_ranks(3, [](int rank, int) {
    if (rank == 2) throw std::runtime_error("thread rank failed");
  }, {.mode = RankMode::kThreads});
  EXPECT_TRUE(results[0].ok);
  EXPECT_FALSE(results[2].ok);
  EXPECT_NE(results[2].what.find("thread rank failed"), std::string::npos);
}

}  // namespace
}  // namespace baton::testing
