// baton::spawn: the one-machine template.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "baton/launch.hpp"

namespace baton {
namespace {

using namespace std::chrono_literals;

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

[[noreturn]] void wait_forever() {
  while (true) ::pause();
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/baton_spawn_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string read(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
};

TEST_F(SpawnTest, RunsEveryRankWithItsEnvironment) {
  const std::filesystem::path dir = dir_;
  spawn(4, [dir](int rank, int world_size) {
    // Runs in the child: report what it saw through a file.
    std::ofstream out(dir / ("rank" + std::to_string(rank)));
    for (const char* name : {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                             "MASTER_PORT", "BATON_JOB_ID"}) {
      out << name << "=" << env_or(name, "<unset>") << "\n";
    }
    out << "args=" << rank << "/" << world_size << "\n";
  });
  std::string port, job_id;
  for (int r = 0; r < 4; ++r) {
    const std::string seen = read("rank" + std::to_string(r));
    const std::string rs = std::to_string(r);
    EXPECT_NE(seen.find("RANK=" + rs + "\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("LOCAL_RANK=" + rs + "\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("WORLD_SIZE=4\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("LOCAL_WORLD_SIZE=4\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("MASTER_ADDR=127.0.0.1\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("args=" + rs + "/4\n"), std::string::npos) << seen;
    const auto at = seen.find("MASTER_PORT=");
    ASSERT_NE(at, std::string::npos);
    const std::string this_port = seen.substr(at, seen.find('\n', at) - at);
    EXPECT_NE(this_port, "MASTER_PORT=<unset>");
    if (r == 0) port = this_port;
    EXPECT_EQ(this_port, port) << "every rank must get the same MASTER_PORT";
    const auto id_at = seen.find("BATON_JOB_ID=");
    ASSERT_NE(id_at, std::string::npos);
    const std::string this_id = seen.substr(id_at, seen.find('\n', id_at) - id_at);
    EXPECT_EQ(this_id.size(), std::string("BATON_JOB_ID=").size() + 16) << this_id;
    if (r == 0) job_id = this_id;
    EXPECT_EQ(this_id, job_id);
  }
}

TEST_F(SpawnTest, MasterPortFromOptions) {
  const std::filesystem::path dir = dir_;
  spawn(2,
        [dir](int rank, int) {
          std::ofstream(dir / ("port" + std::to_string(rank))) << env_or("MASTER_PORT", "<unset>");
        },
        {.master_port = 23456});
  EXPECT_EQ(read("port0"), "23456");
  EXPECT_EQ(read("port1"), "23456");
}

TEST_F(SpawnTest, ThrowingRankIsNamedAndTheOthersAreStopped) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    spawn(3, [](int rank, int) {
      if (rank == 1) throw std::runtime_error("boom");
      wait_forever();
    });
    FAIL() << "spawn must throw when a rank fails";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.rank(), 1);
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_EQ(e.signal(), 0);
    EXPECT_NE(std::string(e.what()).find("rank 1 (local rank 1, pid "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("exited with code 1"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(SpawnTest, ExitCodeIsReported) {
  try {
    spawn(2, [](int rank, int) {
      if (rank == 0) std::_Exit(7);
      wait_forever();
    });
    FAIL() << "spawn must throw when a rank fails";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.rank(), 0);
    EXPECT_EQ(e.exit_code(), 7);
    EXPECT_NE(std::string(e.what()).find("exited with code 7"), std::string::npos) << e.what();
  }
}

TEST_F(SpawnTest, RankKilledBySignalIsNamed) {
  try {
    spawn(3, [](int rank, int) {
      if (rank == 2) ::raise(SIGKILL);
      wait_forever();
    });
    FAIL() << "spawn must throw when a rank fails";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.rank(), 2);
    EXPECT_EQ(e.exit_code(), -1);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_NE(std::string(e.what()).find("was killed by SIGKILL"), std::string::npos) << e.what();
  }
}

TEST_F(SpawnTest, RankIgnoringSigtermIsKilledAfterTheGracePeriod) {
  // Rank 1 says through the pipe when it ignores SIGTERM; rank 0 fails then.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(spawn(2,
                     [&ready](int rank, int) {
                       if (rank == 1) {
                         ::signal(SIGTERM, SIG_IGN);
                         if (::write(ready[1], "x", 1) != 1) std::_Exit(9);
                         wait_forever();
                       }
                       char byte;
                       if (::read(ready[0], &byte, 1) != 1) std::_Exit(9);
                       throw std::runtime_error("boom");
                     },
                     {.grace_period = 300ms}),
               SpawnError);
  const auto took = std::chrono::steady_clock::now() - t0;
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 5s);
}

TEST_F(SpawnTest, TimeoutStopsTheRanks) {
  EXPECT_THROW(spawn(2, [](int, int) { wait_forever(); }, {.timeout = 300ms}), TimeoutError);
}

TEST_F(SpawnTest, BadArgumentsAreRejected) {
  EXPECT_THROW(spawn(0, [](int, int) {}), InvalidArgument);
  EXPECT_THROW(spawn(-1, [](int, int) {}), InvalidArgument);
  EXPECT_THROW(spawn(2, nullptr), InvalidArgument);
  EXPECT_THROW(spawn(2, [](int, int) {}, {.master_port = 70000}), InvalidArgument);
}

}  // namespace
}  // namespace baton
