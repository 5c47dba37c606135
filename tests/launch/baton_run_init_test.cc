// init_process_group with an explicit tcp:// init method under
// `baton-run --standalone`, whose launcher serves a store of its own at
// BATON_STORE_ADDR:BATON_STORE_PORT (BATON_AGENT_STORE=1), not at
// MASTER_PORT. The flag covers only the launcher's address: a
// tcp:// URL naming another port is the program's store, which its rank 0
// serves; one naming the launcher's address (by number or by name) meets the
// launcher's store, which rank 0 must not try to serve.
#include <gtest/gtest.h>

#include "launch/job_env.hpp"
#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kFixture = FIXTURE_PATH;

// Runs `nranks` fixture ranks under baton-run --standalone with `init URL`;
// each must print the sum of 1..nranks.
void expect_init_works(const std::string& url, int nranks) {
  Command cmd({kBatonRun, "--standalone", "--nproc-per-node", std::to_string(nranks), kFixture,
               "init", url});
  ASSERT_TRUE(cmd.wait(40s)) << "baton-run hung with init_method " << url << "\n" << cmd.err();
  EXPECT_EQ(cmd.exit_code(), 0) << url << "\n" << cmd.err();
  const int sum = nranks * (nranks + 1) / 2;
  for (int r = 0; r < nranks; ++r) {
    const std::string line = "[" + std::to_string(r) + "] init ok rank=" + std::to_string(r) +
                             " sum=" + std::to_string(sum) + "\n";
    EXPECT_EQ(count_of(cmd.out(), line), 1u) << url << ": expected " << line << "got:\n"
                                             << cmd.out() << cmd.err();
  }
}

TEST(BatonRunInit, TcpUrlOfAnotherPortIsServedByRankZero) {
  // Not the launcher's store: rank 0 serves it. With the launcher's flag
  // applied here, every rank would wait for a server nobody starts.
  const int port = launch::find_free_port("127.0.0.1");
  expect_init_works("tcp://127.0.0.1:" + std::to_string(port), 3);
}

TEST(BatonRunInit, TcpUrlOfTheLaunchersAddressUsesItsStore) {
  // BATON_STORE_ADDR:BATON_STORE_PORT is the launcher's store: rank 0 serving
  // it would find the port taken.
  expect_init_works("launcher", 3);
}

TEST(BatonRunInit, TcpUrlNamingTheLaunchersHostByNameUsesItsStore) {
  expect_init_works("localhost", 2);  // tcp://localhost:BATON_STORE_PORT resolves to 127.0.0.1
}

TEST(BatonRunInit, TcpUrlOfMasterPortIsServedByRankZero) {
  // MASTER_PORT is held by nobody in baton-run (a torch.distributed rank 0
  // binds it): a Baton rank 0 that names it serves it, as in torch.
  expect_init_works("master", 3);
}

}  // namespace
}  // namespace baton::testing
