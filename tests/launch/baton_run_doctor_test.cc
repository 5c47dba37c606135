// baton-run --doctor, run as a program: the table alone (exit 0 or 1), and
// before a job (which starts only when no check failed).
#include <gtest/gtest.h>

#include "core/socket.hpp"
#include "launch/job_env.hpp"
#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kFixture = FIXTURE_PATH;

std::vector<std::string> baton_run(std::vector<std::string> args) {
  args.insert(args.begin(), kBatonRun);
  return args;
}

TEST(BatonRunDoctor, AloneItPrintsTheTableAndExitsZeroOnAHealthyNode) {
  const std::string port = std::to_string(launch::find_free_port("127.0.0.1"));
  Command cmd(baton_run({"--doctor", "--nproc-per-node", "2", "--master-port", port}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.out() << cmd.err();
  EXPECT_NE(cmd.out().find("baton-run --doctor: node 0 of 1 (runs rank 0), 2 ranks here"),
            std::string::npos)
      << cmd.out();
  EXPECT_NE(cmd.out().find("127.0.0.1:" + port + " is free"), std::string::npos) << cmd.out();
  EXPECT_NE(cmd.out().find("the job would run (exit 0)"), std::string::npos) << cmd.out();
}

TEST(BatonRunDoctor, AHeldMasterPortFailsAndTheJobDoesNotStart) {
  const UniqueFd holder = net::listen_tcp("127.0.0.1", 0);
  const std::string port = std::to_string(net::local_address(holder.get()).port());
  Command alone(baton_run({"--doctor", "--master-port", port}));
  ASSERT_TRUE(alone.wait(20s));
  EXPECT_EQ(alone.exit_code(), 1) << alone.out();
  EXPECT_NE(alone.out().find("port " + port + " on 127.0.0.1 is in use"), std::string::npos)
      << alone.out();

  Command job(baton_run(
      {"--doctor", "--master-port", port, "--nproc-per-node", "2", kFixture, "exit", "0"}));
  ASSERT_TRUE(job.wait(20s));
  EXPECT_EQ(job.exit_code(), 1) << job.out() << job.err();
  EXPECT_NE(job.err().find("a pre-flight check failed"), std::string::npos) << job.err();
  EXPECT_NE(job.err().find("not starting the job"), std::string::npos) << job.err();
}

TEST(BatonRunDoctor, WithAProgramTheTableComesFirstThenTheJob) {
  Command cmd(baton_run({"--doctor", "--standalone", "--nproc-per-node", "2", "echo", "ran"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.out() << cmd.err();
  const size_t table_end = cmd.out().find("the job would run (exit 0)");
  ASSERT_NE(table_end, std::string::npos) << cmd.out();
  EXPECT_NE(cmd.out().find("baton-run serves the store on a free port"), std::string::npos)
      << cmd.out();
  EXPECT_GT(cmd.out().find("[0] ran\n"), table_end) << cmd.out();
  EXPECT_GT(cmd.out().find("[1] ran\n"), table_end) << cmd.out();
}

}  // namespace
}  // namespace baton::testing
