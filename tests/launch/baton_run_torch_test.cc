// baton-run starting a plain torch.distributed script (torch_gloo_job.py), as
// torchrun would: init_process_group("gloo") on env://, whose rank 0 binds
// MASTER_PORT for torch's own TCPStore. Under --standalone baton-run's store
// therefore listens on a port of its own (BATON_STORE_PORT) and leaves
// MASTER_PORT free. Each rank all_reduces rank + 1 and prints the sum,
// W(W+1)/2: 3.0 for two ranks, 10.0 for four, values a run whose ranks did
// not meet cannot print. Skipped when /usr/bin/python3 cannot import
// torch.distributed with gloo.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <regex>

#include "launch/job_env.hpp"
#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kPython = TORCH_PYTHON;
const std::string kScript = TORCH_JOB_SCRIPT;

// Why the torch tests cannot run here, or "" when they can.
std::string torch_missing() {
  static const std::string reason = [] {
    const std::string probe = kPython +
                              " -c 'import sys, torch.distributed as d; "
                              "sys.exit(0 if d.is_available() and d.is_gloo_available() else 3)'"
                              " >/dev/null 2>&1";
    const int status = std::system(probe.c_str());
    if (status == 0) return std::string();
    return kPython + " cannot import torch.distributed with gloo (exit status " +
           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
  }();
  return reason;
}

// Each test is skipped, naming the reason, where torch cannot run.
class BatonRunTorch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = torch_missing(); !why.empty()) GTEST_SKIP() << why;
  }
};

// Runs the script under baton-run with `options` and `nranks` ranks; every
// rank must print the sum of 1..nranks, and baton-run must exit 0.
void expect_sum_on_every_rank(std::vector<std::string> options, int nranks) {
  std::vector<std::string> argv = {kBatonRun};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {"--nproc-per-node", std::to_string(nranks), kPython, kScript});
  Command cmd(argv);
  ASSERT_TRUE(cmd.wait(90s)) << "baton-run hung\nstdout:\n"
                             << cmd.out() << "stderr:\n"
                             << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 0) << "stdout:\n" << cmd.out() << "stderr:\n" << cmd.err();
  const std::string sum = std::to_string(nranks * (nranks + 1) / 2) + ".0";
  for (int r = 0; r < nranks; ++r) {
    const std::string rs = std::to_string(r);
    const std::string line =
        "[" + rs + "] rank " + rs + " of " + std::to_string(nranks) + " sum " + sum + "\n";
    EXPECT_EQ(count_of(cmd.out(), line), 1u) << "expected " << line << "stdout:\n"
                                             << cmd.out() << "stderr:\n"
                                             << cmd.err();
  }
  EXPECT_EQ(count_of(cmd.err(), "Address already in use"), 0u) << cmd.err();
}

TEST_F(BatonRunTorch, StandaloneGlooAllReduceOnTwoRanks) {
  expect_sum_on_every_rank({"--standalone"}, 2);
}

TEST_F(BatonRunTorch, StandaloneGlooAllReduceOnFourRanks) {
  expect_sum_on_every_rank({"--standalone"}, 4);
}

TEST_F(BatonRunTorch, GivenMasterPortIsBoundByTorchsRankZero) {
  // Without --standalone baton-run holds no port: MASTER_PORT is rank 0's.
  const int port = launch::find_free_port("127.0.0.1");
  expect_sum_on_every_rank({"--master-port", std::to_string(port)}, 2);
}

TEST_F(BatonRunTorch, FailingRankIsNamed) {
  Command cmd({kBatonRun, "--standalone", "--grace-period", "1", "--nproc-per-node", "2", kPython,
               kScript, "fail", "7"});
  ASSERT_TRUE(cmd.wait(90s)) << "baton-run hung\nstderr:\n" << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 7) << "stdout:\n" << cmd.out() << "stderr:\n" << cmd.err();
  // Both ranks got through init_process_group before rank 1 failed.
  EXPECT_EQ(count_of(cmd.out(), "[0] rank 0 joined"), 1u) << cmd.out() << cmd.err();
  EXPECT_EQ(count_of(cmd.out(), "[1] rank 1 joined"), 1u) << cmd.out() << cmd.err();
  // Rank 0's all_reduce fails on the closed connection, often within the
  // 250 ms baton-run waits before it stops anyone; rank 1 is named either way.
  EXPECT_TRUE(std::regex_search(
      cmd.err(), std::regex(R"(baton-run: rank 1 \(local rank 1, pid \d+\) exited with code 7; )"
                            R"((stopping 1 other rank|no other ranks are running)\n)")))
      << cmd.err();
  EXPECT_EQ(count_of(cmd.out(), " sum "), 0u) << "no all_reduce can finish without rank 1\n"
                                              << cmd.out();
}

}  // namespace
}  // namespace baton::testing
