// baton-run --max-restarts N: a failure stops every rank and starts them all
// again, up to N times, with the restart count in their environment; each
// attempt is a new rendezvous on a store that never saw the attempt before.
// fixture_rank's "restart GOOD" mode fails (its last rank kills itself with
// SIGKILL while the others are in the rendezvous) in attempts before GOOD.
// A store reused across attempts would fail the next rendezvous: the ranks
// that had joined would be a round ahead of the one that had not.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <set>

#include "launch/job_env.hpp"
#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kFixture = FIXTURE_PATH;

struct Attempt {
  std::vector<int> pids;  // per rank, -1 when it did not start
  std::set<std::string> ports;
};

// What each rank printed at the start of each attempt.
std::vector<Attempt> attempts_of(const Command& cmd, int nranks, int max_restarts) {
  std::vector<Attempt> out;
  const std::regex line(
      R"(\[(\d+)\] attempt (\d+) rank (\d+) pid=(\d+) torchelastic=(-?\d+) max=(-?\d+) port=(\d+))");
  for (auto it = std::sregex_iterator(cmd.out().begin(), cmd.out().end(), line);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const size_t attempt = std::stoul(m[2]);
    EXPECT_EQ(m[1], m[3]) << "prefix and RANK differ: " << m[0];
    EXPECT_EQ(m[5], m[2]) << "TORCHELASTIC_RESTART_COUNT differs from BATON_RESTART_COUNT: "
                          << m[0];
    EXPECT_EQ(std::stoi(m[6]), max_restarts) << "TORCHELASTIC_MAX_RESTARTS: " << m[0];
    if (out.size() <= attempt) out.resize(attempt + 1, {std::vector<int>(nranks, -1), {}});
    out[attempt].pids.at(std::stoul(m[1])) = std::stoi(m[4]);
    out[attempt].ports.insert(m[7]);
  }
  return out;
}

std::string killed(int rank, int pid) {
  return "rank " + std::to_string(rank) + " (local rank " + std::to_string(rank) + ", pid " +
         std::to_string(pid) + ") was killed by SIGKILL (Killed)";
}

// Expects attempt 0 to have failed and attempt 1 to have succeeded on every rank.
void expect_second_attempt_succeeds(const std::vector<std::string>& options, int nranks) {
  std::vector<std::string> args = {kBatonRun, "--max-restarts", "1", "--nproc-per-node",
                                   std::to_string(nranks)};
  args.insert(args.end(), options.begin(), options.end());
  args.insert(args.end(), {kFixture, "restart", "1"});
  Command cmd(args);
  ASSERT_TRUE(cmd.wait(60s)) << cmd.out() << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.out() << cmd.err();

  const std::vector<Attempt> attempts = attempts_of(cmd, nranks, 1);
  ASSERT_EQ(attempts.size(), 2u) << cmd.out();
  const int last = nranks - 1;
  const int dead = attempts[0].pids[static_cast<size_t>(last)];
  ASSERT_GT(dead, 0) << cmd.out();
  const std::string others =
      nranks == 2 ? "1 other rank" : std::to_string(nranks - 1) + " other ranks";
  EXPECT_EQ(count_of(cmd.err(), "baton-run: " + killed(last, dead) + "; stopping " + others + "\n"),
            1u)
      << cmd.err();
  EXPECT_EQ(
      count_of(cmd.err(), "baton-run: restart 1 of 1: starting all " + std::to_string(nranks) +
                              " ranks again after " + killed(last, dead) + "\n"),
      1u)
      << cmd.err();
  EXPECT_EQ(count_of(cmd.err(), "restart 2"), 0u) << cmd.err();
  const int sum = nranks * (nranks + 1) / 2;
  for (int r = 0; r < nranks; ++r) {
    const std::string rs = std::to_string(r);
    EXPECT_GT(attempts[1].pids[static_cast<size_t>(r)], 0) << "rank " << r << " not restarted";
    EXPECT_NE(attempts[1].pids[static_cast<size_t>(r)], attempts[0].pids[static_cast<size_t>(r)]);
    EXPECT_EQ(count_of(cmd.out(),
                       "[" + rs + "] attempt 1 rank " + rs + " sum=" + std::to_string(sum) + "\n"),
              1u)
        << cmd.out() << cmd.err();
    EXPECT_EQ(count_of(cmd.out(), "[" + rs + "] attempt 0 rank " + rs + " sum="), 0u)
        << "attempt 0 must have failed\n"
        << cmd.out();
  }
  EXPECT_EQ(attempts[0].ports.size(), 1u);
  EXPECT_EQ(attempts[1].ports.size(), 1u);
}

TEST(BatonRunRestart, StandaloneJobSucceedsOnItsSecondAttempt) {
  expect_second_attempt_succeeds({"--standalone"}, 3);
}

TEST(BatonRunRestart, StandaloneRestartGetsAFreshStore) {
  Command cmd({kBatonRun, "--standalone", "--max-restarts", "1", "--nproc-per-node", "2", kFixture,
               "restart", "1"});
  ASSERT_TRUE(cmd.wait(60s)) << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.err();
  const std::vector<Attempt> attempts = attempts_of(cmd, 2, 1);
  ASSERT_EQ(attempts.size(), 2u) << cmd.out();
  ASSERT_EQ(attempts[0].ports.size(), 1u);
  ASSERT_EQ(attempts[1].ports.size(), 1u);
  EXPECT_NE(*attempts[0].ports.begin(), *attempts[1].ports.begin())
      << "the second attempt must not meet the first one's store";
}

TEST(BatonRunRestart, RankZeroServesTheStoreAgainWithoutStandalone) {
  const int port = launch::find_free_port("127.0.0.1");
  expect_second_attempt_succeeds({"--master-port", std::to_string(port)}, 2);
}

TEST(BatonRunRestart, NoRestartsNamesTheCulprit) {
  Command cmd({kBatonRun, "--standalone", "--max-restarts", "0", "--nproc-per-node", "2", kFixture,
               "restart", "1"});
  ASSERT_TRUE(cmd.wait(60s)) << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 128 + SIGKILL) << cmd.err();
  const std::vector<Attempt> attempts = attempts_of(cmd, 2, 0);
  ASSERT_EQ(attempts.size(), 1u) << cmd.out();
  EXPECT_EQ(count_of(cmd.err(),
                     "baton-run: " + killed(1, attempts[0].pids[1]) + "; stopping 1 other rank\n"),
            1u)
      << cmd.err();
  EXPECT_EQ(count_of(cmd.err(), "restart"), 0u) << cmd.err();
  EXPECT_EQ(count_of(cmd.out(), "sum="), 0u) << cmd.out();
}

TEST(BatonRunRestart, GivesUpAfterTheLastRestart) {
  Command cmd({kBatonRun, "--standalone", "--max-restarts", "2", "--nproc-per-node", "2", kFixture,
               "restart", "5"});
  ASSERT_TRUE(cmd.wait(60s)) << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 128 + SIGKILL) << cmd.err();
  const std::vector<Attempt> attempts = attempts_of(cmd, 2, 2);
  ASSERT_EQ(attempts.size(), 3u) << "one start and two restarts\n" << cmd.out();
  for (int k = 1; k <= 2; ++k) {
    EXPECT_EQ(
        count_of(cmd.err(), "baton-run: restart " + std::to_string(k) +
                                " of 2: starting all 2 ranks again after " +
                                killed(1, attempts[static_cast<size_t>(k - 1)].pids[1]) + "\n"),
        1u)
        << cmd.err();
  }
  EXPECT_EQ(
      count_of(cmd.err(),
               "baton-run: giving up after 2 restarts (--max-restarts 2); the last failure: " +
                   killed(1, attempts[2].pids[1]) + "\n"),
      1u)
      << cmd.err();
  EXPECT_EQ(count_of(cmd.err(), "restart 3"), 0u) << cmd.err();
}

}  // namespace
}  // namespace baton::testing
