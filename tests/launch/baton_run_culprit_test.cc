// Which rank baton-run blames when several fail together. Over tcp a rank
// killed with SIGKILL makes its peers exit on their ConnectionError a moment
// later, and baton-run may see a peer's exit first: the report must still name
// the killed rank as the cause, exit with its status, and list the others.
// fixture_rank's "race" mode orders the two deaths (see fixture_rank.cc).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <regex>

#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kFixture = FIXTURE_PATH;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "baton-culprit-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Rank 0 exits with code 3 and rank 1 is killed by SIGKILL, `first` first;
// rank 2 waits to be stopped. Checks the report names rank 1 as the cause.
void expect_signal_blamed(const std::string& first) {
  TempDir dir;
  Command cmd({kBatonRun, "--nproc-per-node", "3", kFixture, "race", first, dir.path()});
  ASSERT_TRUE(cmd.wait(30s)) << cmd.err();
  const std::vector<int> pids = ready_pids(cmd.out(), 3);
  ASSERT_GT(pids[0], 0) << cmd.out();
  ASSERT_GT(pids[1], 0) << cmd.out();
  EXPECT_EQ(cmd.exit_code(), 128 + SIGKILL) << "the exit status follows the culprit\n" << cmd.err();

  const std::string culprit = "baton-run: rank 1 (local rank 1, pid " + std::to_string(pids[1]) +
                              ") was killed by SIGKILL (Killed); stopping 1 other rank\n";
  const size_t culprit_at = cmd.err().find(culprit);
  ASSERT_NE(culprit_at, std::string::npos) << "first: " << first << "\n" << cmd.err();
  EXPECT_EQ(count_of(cmd.err(), culprit), 1u);
  EXPECT_EQ(cmd.err().find("exited with code 3; stopping"), std::string::npos)
      << "rank 0 must not be reported as the cause\n"
      << cmd.err();

  // The other failure is listed after the cause, with its time relative to it.
  const std::regex also("baton-run: also: rank 0 \\(local rank 0, pid " + std::to_string(pids[0]) +
                        "\\) exited with code 3, (\\d+) ms (before|after) rank 1\n");
  std::smatch m;
  const std::string err = cmd.err();
  ASSERT_TRUE(std::regex_search(err, m, also)) << err;
  EXPECT_GT(static_cast<size_t>(m.position(0)), culprit_at) << "the cause comes first\n" << err;
  EXPECT_EQ(m[2].str(), first == "exit" ? "before" : "after") << err;
  EXPECT_LT(std::stoi(m[1].str()), 250) << "outside the settling window\n" << err;
  EXPECT_EQ(count_of(err, "baton-run: also:"), 1u) << "rank 2 was stopped, not failed\n" << err;
}

TEST(BatonRunCulprit, SignalAfterAnExitCodeIsTheCause) {
  // Rank 0's exit is seen first: a launcher that blames the first exit blames it.
  for (int trial = 0; trial < 3; ++trial) expect_signal_blamed("exit");
}

TEST(BatonRunCulprit, SignalBeforeAnExitCodeIsTheCause) {
  for (int trial = 0; trial < 3; ++trial) expect_signal_blamed("signal");
}

TEST(BatonRunCulprit, ExitCodesTogetherAreAllReported) {
  // Both ranks exit with code 3 at once: the first seen is the cause, the
  // other is listed, and nothing was left to stop.
  Command cmd({kBatonRun, "--nproc-per-node", "2", kFixture, "exit", "3"});
  ASSERT_TRUE(cmd.wait(30s));
  EXPECT_EQ(cmd.exit_code(), 3);
  EXPECT_EQ(count_of(cmd.err(), "exited with code 3; no other ranks are running\n"), 1u)
      << cmd.err();
  EXPECT_EQ(count_of(cmd.err(), "baton-run: also: rank "), 1u) << cmd.err();
}

// A stopped rank (SIGSTOP) never answers, and its peers fail after their
// timeout: the report names the stopped rank first, as their cause.
TEST(BatonRunCulprit, AStoppedRankIsNamedBeforeThePeerThatGaveUp) {
  Command cmd({kBatonRun, "--nproc-per-node", "2", "--grace-period", "1", kFixture, "stopped"});
  ASSERT_TRUE(cmd.wait(30s)) << cmd.err();
  const std::vector<int> pids = ready_pids(cmd.out(), 2);
  ASSERT_GT(pids[1], 0) << cmd.out();
  const std::string stopped = "baton-run: rank 1 (local rank 1, pid " + std::to_string(pids[1]) +
                              ") is stopped (process state T";
  const size_t stopped_at = cmd.err().find(stopped);
  ASSERT_NE(stopped_at, std::string::npos) << cmd.err();
  const size_t exit_at = cmd.err().find("rank 0 (local rank 0");
  ASSERT_NE(exit_at, std::string::npos) << cmd.err();
  EXPECT_LT(stopped_at, exit_at) << "the stopped rank must be named first\n" << cmd.err();
  EXPECT_NE(cmd.exit_code(), 0);
}

// A rank that stops issuing collectives: its peers time out in the third
// all_reduce, baton-run stops the job and prints the ranks' flight records:
// who waits in which operation, and for whom. A rank busy elsewhere writes
// its record when baton-run's SIGTERM arrives; a stopped one writes none.
TEST(BatonRunCulprit, FlightReportNamesTheRankTheOthersWaitFor) {
  for (const std::string how : {"busy", "stop"}) {
    Command cmd(
        {kBatonRun, "--nproc-per-node", "3", "--grace-period", "0.5", kFixture, "stuck", how});
    ASSERT_TRUE(cmd.wait(40s)) << cmd.err();
    EXPECT_NE(cmd.exit_code(), 0);
    const std::string& err = cmd.err();
    EXPECT_NE(err.find("baton-run: what each rank was doing (flight records kept in "),
              std::string::npos)
        << how << "\n"
        << err;
    const std::string verdict = "ranks 0, 1 wait in all_reduce #3 on world for rank 2 (";
    ASSERT_NE(err.find(verdict), std::string::npos) << how << "\n" << err;
    if (how == "busy") {
      EXPECT_NE(err.find(verdict + "last completed #2)"), std::string::npos) << err;
      EXPECT_NE(err.find("rank 2 wrote it on: signal SIGTERM"), std::string::npos) << err;
    }
    // The records stay for a look; remove them.
    const size_t at = err.find("flight records kept in ") + 23;
    const std::string dir = err.substr(at, err.find("):", at) - at);
    EXPECT_TRUE(std::filesystem::exists(dir)) << dir;
    std::filesystem::remove_all(dir);
  }
}

// --flight-report DIR reads records written by a job started another way.
TEST(BatonRunCulprit, FlightReportOfADirectory) {
  TempDir dir;
  Command empty({kBatonRun, "--flight-report", dir.path()});
  ASSERT_TRUE(empty.wait(10s));
  EXPECT_EQ(empty.exit_code(), 1) << "no records: nothing to report";
  Command missing({kBatonRun, "--flight-report", dir.path() + "/absent"});
  ASSERT_TRUE(missing.wait(10s));
  EXPECT_EQ(missing.exit_code(), 1);
  EXPECT_NE(missing.err().find("cannot read the flight records in"), std::string::npos)
      << missing.err();
}

}  // namespace
}  // namespace baton::testing
