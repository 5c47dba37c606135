// rendezvous() end to end: ranks as forked processes meeting through env://,
// tcp:// and file://, missing ranks, disagreeing ranks, local ranks, stores
// served by a launcher or given by the caller.
#include "rendezvous/rendezvous.hpp"

#include <gtest/gtest.h>

#include "baton/error.hpp"
#include "baton/hash_store.hpp"
#include "baton/tcp_store.hpp"
#include "tests/rendezvous/rendezvous_test_util.hpp"
#include "tests/support/store_server_process.hpp"

namespace baton::rendezvous {
namespace {

using namespace std::chrono_literals;
using baton::testing::RankMode;
using baton::testing::run_ranks;
using baton::testing::StoreServerProcess;
using testing::check_and_leave;
using testing::free_port;
using testing::kProcesses;
using testing::ScopedEnv;
using testing::seconds_since;
using testing::set_torchrun_env;
using testing::TempDir;

class RendezvousWorld : public ::testing::TestWithParam<int> {};

TEST_P(RendezvousWorld, EnvWithTorchrunVariables) {
  const uint16_t port = free_port();
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port);
        const Result r = rendezvous({.timeout = 20s});
        if (rank == 0) {
          auto* tcp = dynamic_cast<TcpStore*>(r.store.get());
          ASSERT_NE(tcp, nullptr);
          ASSERT_NE(tcp->server(), nullptr) << "rank 0 serves the store";
          EXPECT_EQ(tcp->server()->host(), "127.0.0.1");
          EXPECT_EQ(tcp->server()->port(), port);
        }
        EXPECT_EQ(r.store->timeout(), 20s);
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST_P(RendezvousWorld, EnvWithOpenMpiVariables) {
  const uint16_t port = free_port();
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables()
            .set("MASTER_ADDR", "127.0.0.1")
            .set("MASTER_PORT", std::to_string(port));
        env.set("OMPI_COMM_WORLD_RANK", std::to_string(rank))
            .set("OMPI_COMM_WORLD_SIZE", std::to_string(world));
        check_and_leave(rendezvous({.timeout = 20s}), rank, world);
      },
      kProcesses);
}

TEST_P(RendezvousWorld, TcpWithExplicitRankAndWorldSize) {
  const uint16_t port = free_port();
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const Result r = rendezvous({.init_method = "tcp://127.0.0.1:" + std::to_string(port),
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST_P(RendezvousWorld, TcpWithMpichVariables) {
  const uint16_t port = free_port();
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables()
            .set("PMI_RANK", std::to_string(rank))
            .set("PMI_SIZE", std::to_string(world));
        check_and_leave(
            rendezvous({.init_method = "tcp://localhost:" + std::to_string(port), .timeout = 20s}),
            rank, world);
      },
      kProcesses);
}

TEST_P(RendezvousWorld, FileWithSlurmVariables) {
  TempDir dir;
  const std::string url = "file://" + dir.path() + "/store";
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables().set("SLURM_PROCID", std::to_string(rank));
        env.set("SLURM_NTASKS", std::to_string(world)).set("SLURM_LOCALID", std::to_string(rank));
        check_and_leave(rendezvous({.init_method = url, .timeout = 20s}), rank, world);
      },
      kProcesses);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/store"))
      << "the last FileStore removes the file";
}

TEST_P(RendezvousWorld, FileWithQueryRankAndWorldSize) {
  TempDir dir;
  run_ranks(
      GetParam(),
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const std::string url = "file://" + dir.path() + "/store?rank=" + std::to_string(rank) +
                                "&world_size=" + std::to_string(world);
        check_and_leave(rendezvous({.init_method = url, .timeout = 20s}), rank, world);
      },
      kProcesses);
}

INSTANTIATE_TEST_SUITE_P(Sizes, RendezvousWorld, ::testing::Values(1, 2, 4));

// The scenario: world 4, rank 3 never starts, T = 1 s; every other
// rank gets a TimeoutError naming rank 3 within T + 1 s.
TEST(Rendezvous, MissingRankIsNamedOnEveryOtherRank) {
  const uint16_t port = free_port();
  run_ranks(
      4,
      [&](int rank, int world) {
        if (rank == 3) return;
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port);
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.timeout = 1s});
          ADD_FAILURE() << "rank " << rank << ": rendezvous succeeded without rank 3";
        } catch (const TimeoutError& e) {
          EXPECT_STREQ(e.what(), "rendezvous: rank 3 of 4 did not join within 1 s");
        }
        const double took = seconds_since(start);
        EXPECT_GE(took, 0.9) << "rank " << rank;
        EXPECT_LT(took, 2.0) << "rank " << rank;
      },
      kProcesses);
}

TEST(Rendezvous, MissingRanksAreListedOverTcp) {
  const uint16_t port = free_port();
  run_ranks(
      4,
      [&](int rank, int world) {
        if (rank == 1 || rank == 3) return;
        ScopedEnv env;
        env.clear_launcher_variables().set("BATON_TIMEOUT",
                                           "1s");  // Request.timeout 0: BATON_TIMEOUT
        try {
          rendezvous({.init_method = "tcp://127.0.0.1:" + std::to_string(port),
                      .rank = rank,
                      .world_size = world});
          ADD_FAILURE() << "rank " << rank << ": rendezvous succeeded";
        } catch (const TimeoutError& e) {
          EXPECT_STREQ(e.what(), "rendezvous: ranks 1, 3 of 4 did not join within 1 s");
        }
      },
      kProcesses);
}

TEST(Rendezvous, MissingRankOverFileStore) {
  TempDir dir;
  run_ranks(
      2,
      [&](int rank, int world) {
        if (rank == 0) return;
        ScopedEnv env;
        env.clear_launcher_variables();
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.init_method = "file://" + dir.path() + "/store",
                      .rank = rank,
                      .world_size = world,
                      .timeout = 1s});
          ADD_FAILURE() << "rendezvous succeeded without rank 0";
        } catch (const TimeoutError& e) {
          EXPECT_STREQ(e.what(), "rendezvous: rank 0 of 2 did not join within 1 s");
        }
        EXPECT_LT(seconds_since(start), 2.0);
      },
      kProcesses);
}

// Without rank 0 there is no store server: the others say where they looked.
TEST(Rendezvous, MissingStoreServerIsAConnectionErrorNamingTheAddress) {
  const uint16_t port = free_port();
  run_ranks(
      3,
      [&](int rank, int world) {
        if (rank == 0) return;
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port);
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.timeout = 1s});
          ADD_FAILURE() << "rendezvous succeeded without a store";
        } catch (const ConnectionError& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find("MASTER_ADDR='127.0.0.1', MASTER_PORT=" + std::to_string(port)),
                    std::string::npos)
              << what;
        }
        EXPECT_LT(seconds_since(start), 2.0);
      },
      kProcesses);
}

TEST(Rendezvous, DifferentWorldSizesAreAMismatchOnEveryRank) {
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int) {
        ScopedEnv env;
        set_torchrun_env(env, rank, rank == 0 ? 2 : 3, port);
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.timeout = 10s});
          ADD_FAILURE() << "rank " << rank << ": rendezvous succeeded";
        } catch (const MismatchError& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find("with world size 2"), std::string::npos) << what;
          EXPECT_NE(what.find("with world size 3"), std::string::npos) << what;
        }
        EXPECT_LT(seconds_since(start), 2.0) << "a mismatch must not wait for the timeout";
      },
      kProcesses);
}

TEST(Rendezvous, LocalRanksFromHostIdentities) {
  const uint16_t port = free_port();
  run_ranks(
      4,
      [&](int rank, int world) {
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port);
        // Ranks 0 and 2 on host "a", 1 and 3 on host "b".
        set_host_identity_override_for_testing(HostIdentity{rank % 2 == 0 ? "a" : "b", "boot"});
        const Result r = rendezvous({.timeout = 20s});
        EXPECT_EQ(r.local_rank, rank / 2);
        EXPECT_EQ(r.local_world_size, 2);
        ASSERT_EQ(r.hosts.size(), 4u);
        for (int q = 0; q < 4; ++q)
          EXPECT_EQ(r.hosts[static_cast<size_t>(q)].hostname, q % 2 == 0 ? "a" : "b");
        r.store->set("test/left/" + std::to_string(rank), "1");
        if (rank == 0)
          r.store->wait(std::vector<std::string>{"test/left/1", "test/left/2", "test/left/3"}, 20s);
      },
      kProcesses);
}

TEST(Rendezvous, LocalRanksFromTheLauncherWin) {
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port);
        env.set("LOCAL_RANK", "0").set("LOCAL_WORLD_SIZE", "1");  // as if on two nodes
        const Result r = rendezvous({.timeout = 20s});
        EXPECT_EQ(r.local_rank, 0);
        EXPECT_EQ(r.local_world_size, 1);
        r.store->set("test/left/" + std::to_string(rank), "1");
        if (rank == 0) r.store->wait(std::vector<std::string>{"test/left/1"}, 20s);
      },
      kProcesses);
}

// A launcher serves the store (BATON_AGENT_STORE=1): rank 0 is a client too,
// and successive jobs on that store never see each other's keys.
TEST(Rendezvous, AgentStoreServedByTheLauncher) {
  StoreServerProcess server({.host = "127.0.0.1", .port = 0});  // not a thread: ranks are forked
  auto job = [&](const std::string& job_id, int expected_round) {
    run_ranks(
        2,
        [&](int rank, int world) {
          ScopedEnv env;
          set_torchrun_env(env, rank, world, server.port());
          env.set("BATON_AGENT_STORE", "1");
          if (!job_id.empty()) env.set("BATON_JOB_ID", job_id);
          const Result r = rendezvous({.timeout = 20s});
          auto* tcp = dynamic_cast<TcpStore*>(r.store.get());
          ASSERT_NE(tcp, nullptr);
          EXPECT_EQ(tcp->server(), nullptr) << "rank " << rank << " must not serve the store";
          EXPECT_EQ(r.round, expected_round);
          if (!job_id.empty()) {
            EXPECT_EQ(r.job_id, job_id);
          }
        },
        kProcesses);
  };
  job("", 1);
  job("", 2);  // a re-run on the same store: a fresh round
  job("second", 1);
  // A re-run in which rank 1 never starts must not be satisfied by the
  // records rank 1 left in earlier rounds.
  run_ranks(
      2,
      [&](int rank, int world) {
        if (rank == 1) return;
        ScopedEnv env;
        set_torchrun_env(env, rank, world, server.port());
        env.set("BATON_AGENT_STORE", "1");
        try {
          rendezvous({.timeout = 500ms});
          ADD_FAILURE() << "rank 0 joined with rank 1's stale records";
        } catch (const TimeoutError& e) {
          EXPECT_STREQ(e.what(), "rendezvous: rank 1 of 2 did not join within 0.5 s");
        }
      },
      kProcesses);
}

TEST(Rendezvous, GivenStoreIsUsedAndInitMethodIgnored) {
  auto store = std::make_shared<HashStore>();
  run_ranks(4,
            [&](int rank, int world) {
              const Result r = rendezvous({.init_method = "udp://ignored",
                                           .rank = rank,
                                           .world_size = world,
                                           .timeout = 10s,
                                           .store = store});
              EXPECT_EQ(r.store, store);
              EXPECT_EQ(r.rank, rank);
              EXPECT_EQ(r.hosts.size(), 4u);
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
}

}  // namespace
}  // namespace baton::rendezvous
