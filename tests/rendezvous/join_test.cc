// The join protocol on an in-memory store, ranks as threads: who arrived,
// who did not, world-size disagreements, repeated rendezvous on one store.
#include "rendezvous/join.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "baton/error.hpp"
#include "baton/hash_store.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::rendezvous {
namespace {

using namespace std::chrono_literals;
using baton::testing::RankMode;
using baton::testing::run_ranks;

JoinOptions options_for(int rank, int world_size, std::chrono::milliseconds timeout,
                        std::string job_id = "") {
  JoinOptions o;
  o.rank = rank;
  o.world_size = world_size;
  o.job_id = std::move(job_id);
  o.self = {"host" + std::to_string(rank / 2), "boot-" + std::to_string(rank / 2)};
  o.timeout = timeout;
  o.deadline = Clock::now() + timeout;
  return o;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class JoinWorld : public ::testing::TestWithParam<int> {};

TEST_P(JoinWorld, EveryRankLearnsEveryHost) {
  const int world = GetParam();
  HashStore store;
  std::mutex mu;
  std::vector<JoinResult> results(static_cast<size_t>(world));
  run_ranks(world,
            [&](int rank, int n) {
              JoinResult r = join(store, options_for(rank, n, 10s));
              std::lock_guard lock(mu);
              results[static_cast<size_t>(rank)] = std::move(r);
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
  for (int rank = 0; rank < world; ++rank) {
    const JoinResult& r = results[static_cast<size_t>(rank)];
    ASSERT_EQ(r.hosts.size(), static_cast<size_t>(world)) << "rank " << rank;
    EXPECT_EQ(r.round, 1);
    EXPECT_EQ(r.job_id.size(), 16u) << "a made-up job id: " << r.job_id;
    EXPECT_EQ(r.job_id, results[0].job_id) << "rank " << rank << " disagrees on the job id";
    for (int q = 0; q < world; ++q) {
      EXPECT_EQ(r.hosts[static_cast<size_t>(q)].hostname, "host" + std::to_string(q / 2))
          << "rank " << rank << " sees rank " << q;
      EXPECT_EQ(r.hosts[static_cast<size_t>(q)].boot_id, "boot-" + std::to_string(q / 2));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, JoinWorld, ::testing::Values(1, 2, 3, 4, 8));

TEST(Join, JobIdFromOptions) {
  HashStore store;
  run_ranks(2,
            [&](int rank, int n) {
              const JoinResult r = join(store, options_for(rank, n, 10s, "job-42"));
              EXPECT_EQ(r.job_id, "job-42");
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
  const std::string key[] = {"baton/rdzv/job-42/1/rank/1"};
  EXPECT_TRUE(store.check(key)) << "records live under the job's prefix";
}

// The scenario: world 4, rank 3 never starts; every other rank gets
// a TimeoutError naming exactly rank 3, within T + 1 s.
TEST(Join, MissingRankIsNamedOnEveryRankWithinTimeoutPlusOneSecond) {
  HashStore store;
  run_ranks(4,
            [&](int rank, int n) {
              if (rank == 3) return;
              const auto start = Clock::now();
              try {
                join(store, options_for(rank, n, 1s));
                ADD_FAILURE() << "rank " << rank << ": join succeeded without rank 3";
              } catch (const TimeoutError& e) {
                EXPECT_STREQ(e.what(), "rendezvous: rank 3 of 4 did not join within 1 s");
              }
              const double took = seconds_since(start);
              EXPECT_GE(took, 0.9) << "rank " << rank;
              EXPECT_LT(took, 2.0) << "rank " << rank;
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
}

TEST(Join, SeveralMissingRanksAreListed) {
  HashStore store;
  run_ranks(4,
            [&](int rank, int n) {
              if (rank == 1 || rank == 3) return;
              try {
                join(store, options_for(rank, n, 500ms));
                ADD_FAILURE() << "rank " << rank << ": join succeeded";
              } catch (const TimeoutError& e) {
                EXPECT_STREQ(e.what(), "rendezvous: ranks 1, 3 of 4 did not join within 0.5 s");
              }
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
}

TEST(Join, LateRankGetsTheSameVerdict) {
  HashStore store;
  EXPECT_THROW(join(store, options_for(0, 2, 200ms)), TimeoutError);
  // Rank 1 arrives after the verdict: it reads it rather than waiting alone.
  const auto start = Clock::now();
  try {
    join(store, options_for(1, 2, 5s));
    ADD_FAILURE() << "a late rank joined a rendezvous that had already timed out";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(), "rendezvous: rank 1 of 2 did not join within 5 s");
  }
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(Join, DifferentWorldSizesAreAMismatchOnEveryRank) {
  HashStore store;
  run_ranks(2,
            [&](int rank, int) {
              const int world = rank == 0 ? 2 : 3;  // rank 1 was started with WORLD_SIZE=3
              const auto start = Clock::now();
              try {
                join(store, options_for(rank, world, 10s));
                ADD_FAILURE() << "rank " << rank << ": join succeeded";
              } catch (const MismatchError& e) {
                const std::string what = e.what();
                EXPECT_NE(what.find("rendezvous: rank "), std::string::npos) << what;
                EXPECT_NE(what.find("rank 0 "), std::string::npos) << what;
                EXPECT_NE(what.find("rank 1 "), std::string::npos) << what;
                EXPECT_NE(what.find("with world size 2"), std::string::npos) << what;
                EXPECT_NE(what.find("with world size 3"), std::string::npos) << what;
              }
              EXPECT_LT(seconds_since(start), 1.0) << "a mismatch must not wait for the timeout";
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
}

TEST(Join, SecondRendezvousOnTheSameStoreUsesFreshKeys) {
  HashStore store;
  run_ranks(2, [&](int rank, int n) { EXPECT_EQ(join(store, options_for(rank, n, 10s)).round, 1); },
            {.mode = RankMode::kThreads, .timeout = 30s});
  run_ranks(2, [&](int rank, int n) { EXPECT_EQ(join(store, options_for(rank, n, 10s)).round, 2); },
            {.mode = RankMode::kThreads, .timeout = 30s});
  // A third round where rank 1 never comes: rank 0 must not be satisfied by
  // rank 1's records of the earlier rounds.
  try {
    join(store, options_for(0, 2, 300ms));
    ADD_FAILURE() << "rank 0 joined with stale keys";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(), "rendezvous: rank 1 of 2 did not join within 0.3 s");
  }
}

TEST(Join, DifferentJobsOnOneStoreDoNotMeet) {
  HashStore store;
  run_ranks(
      2,
      [&](int rank, int n) { EXPECT_EQ(join(store, options_for(rank, n, 10s, "a")).job_id, "a"); },
      {.mode = RankMode::kThreads, .timeout = 30s});
  run_ranks(2,
            [&](int rank, int n) {
              const JoinResult r = join(store, options_for(rank, n, 10s, "b"));
              EXPECT_EQ(r.job_id, "b");
              EXPECT_EQ(r.round, 1);
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
}

TEST(Join, DuplicateRankGetsAHint) {
  HashStore store;
  std::atomic<int> hints{0};
  run_ranks(2,
            [&](int, int) {
              try {
                join(store, options_for(0, 2, 300ms));  // both threads claim rank 0
                ADD_FAILURE() << "join succeeded without rank 1";
              } catch (const TimeoutError& e) {
                const std::string what = e.what();
                EXPECT_EQ(what.rfind("rendezvous: rank 1 of 2 did not join within 0.3 s", 0), 0u)
                    << what;
                if (what.find("another process also joined as rank 0") != std::string::npos)
                  ++hints;
              }
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
  EXPECT_EQ(hints.load(), 1);
}

// Pretends rank 1 of 2 arrived in round 1 and then vanished before reading the outcome.
void plant_vanished_rank_one(Store& store) {
  store.add("baton/rdzv/-/round/1", 1);
  store.set("baton/rdzv/-/1/world_size", std::string_view("2 1"));
  store.set("baton/rdzv/-/1/rank/1", std::string_view("2\thostB\tboot-b\t4242"));
  store.add("baton/rdzv/-/1/arrived", 1);
}

TEST(Join, StoreHostWaitsForReadersButNotForever) {
  HashStore store;
  plant_vanished_rank_one(store);
  JoinOptions o = options_for(0, 2, 10s);
  o.hosts_store = true;
  const auto start = Clock::now();
  const JoinResult r = join(store, o);
  const double took = seconds_since(start);
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[1].hostname, "hostB");
  EXPECT_GE(took, 0.45) << "the host must wait for rank 1 to read the outcome";
  EXPECT_LT(took, 1.5) << "but only for kHostLingerTime";
}

TEST(Join, StoreHostReturnsOnceEveryoneHasRead) {
  HashStore store;
  run_ranks(4,
            [&](int rank, int n) {
              JoinOptions o = options_for(rank, n, 10s);
              o.hosts_store = rank == 0;
              const auto start = Clock::now();
              join(store, o);
              EXPECT_LT(seconds_since(start), 0.4) << "rank " << rank;
            },
            {.mode = RankMode::kThreads, .timeout = 30s});
  const std::string read[] = {"baton/rdzv/-/1/read/1", "baton/rdzv/-/1/read/2",
                              "baton/rdzv/-/1/read/3"};
  EXPECT_TRUE(store.check(read));
}

TEST(Join, NonHostDoesNotWaitForReaders) {
  HashStore store;
  plant_vanished_rank_one(store);
  const auto start = Clock::now();
  EXPECT_EQ(join(store, options_for(0, 2, 10s)).hosts.size(), 2u);
  EXPECT_LT(seconds_since(start), 0.3);
}

TEST(Join, MalformedRecordIsAProtocolError) {
  HashStore store;
  store.set("baton/rdzv/-/1/rank/1", std::string_view("garbage"));
  try {
    // Rank 0 arrives second (the counter says one record is there) and builds the table.
    store.set("baton/rdzv/-/1/arrived", std::string_view("1"));
    store.set("baton/rdzv/-/1/world_size", std::string_view("2 1"));
    join(store, options_for(0, 2, 2s));
    ADD_FAILURE() << "join accepted a malformed record";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("'baton/rdzv/-/1/rank/1' holds 'garbage'"),
              std::string::npos)
        << e.what();
  }
}

TEST(Join, LocalPlacement) {
  const std::vector<HostIdentity> hosts = {{"a", "1"}, {"b", "1"}, {"a", "1"},
                                           {"a", "2"}, {"b", "1"}, {"a", "1"}};
  EXPECT_EQ(local_placement(hosts, 0).local_rank, 0);
  EXPECT_EQ(local_placement(hosts, 0).local_world_size, 3);
  EXPECT_EQ(local_placement(hosts, 2).local_rank, 1);
  EXPECT_EQ(local_placement(hosts, 5).local_rank, 2);
  EXPECT_EQ(local_placement(hosts, 4).local_rank, 1);
  EXPECT_EQ(local_placement(hosts, 4).local_world_size, 2);
  EXPECT_EQ(local_placement(hosts, 3).local_rank, 0);  // same hostname, another boot
  EXPECT_EQ(local_placement(hosts, 3).local_world_size, 1);
}

}  // namespace
}  // namespace baton::rendezvous
