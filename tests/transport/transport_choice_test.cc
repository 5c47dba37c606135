// Which transport the native backend picks (BATON_TRANSPORT and the ranks'
// host identities), asserted through Group::transports(), and the mixed
// (routing) context with a fake host split: shm inside a "host", tcp across,
// collectives correct and p2p ANY_SOURCE receiving from both kinds of peer.
// Ranks are forked processes; a host split is faked with
// set_host_identity_override_for_testing before init_process_group.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>
#include <string>
#include <vector>

#include "baton/baton.hpp"
#include "baton/distributed.hpp"
#include "rendezvous/host_identity.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

InitOptions options_for(int rank, int size, const std::string& init_method) {
  InitOptions options;
  options.backend = "native";
  options.init_method = init_method;
  options.rank = rank;
  options.world_size = size;
  options.timeout = std::chrono::seconds(30);
  return options;
}

// What rank `rank` should report when rank r runs on hosts[r].
std::vector<std::string> expected(const std::vector<std::string>& hosts, int rank,
                                  const std::string& cross) {
  std::vector<std::string> out;
  for (size_t r = 0; r < hosts.size(); ++r) {
    out.push_back(static_cast<int>(r) == rank                          ? "self"
                  : hosts[r] == hosts[static_cast<size_t>(rank)] ? "shm"
                                                                 : cross);
  }
  return out;
}

// all_reduce of (rank + 1) over the world: n(n+1)/2 everywhere.
void check_all_reduce(int rank, int n) {
  Tensor t = Tensor::full({1000}, static_cast<double>(rank + 1));
  all_reduce(t, ReduceOp::SUM);
  for (int64_t i = 0; i < 1000; i += 333) ASSERT_EQ(t.item(i), n * (n + 1) / 2) << "index " << i;
}

class TransportChoiceTest : public ::testing::Test {
 protected:
  JobDir dir_;
  void run(int n, const std::string& mode, const std::vector<std::string>& hosts,
           const std::function<void(int, int)>& body) {
    const auto results = try_run_ranks(
        n,
        [&](int rank, int size) {
          ::setenv("BATON_TRANSPORT", mode.c_str(), 1);
          if (!hosts.empty()) {
            const std::string& h = hosts[static_cast<size_t>(rank)];
            rendezvous::set_host_identity_override_for_testing(
                rendezvous::HostIdentity{h, "boot-" + h});
          }
          body(rank, size);
        },
        {.mode = RankMode::kProcesses, .timeout = std::chrono::seconds(60)});
    for (const auto& r : results) EXPECT_TRUE(r.ok) << "rank " << r.rank << ": " << r.what;
  }
  std::string init() const { return dir_.init_method(); }
};

TEST_F(TransportChoiceTest, AutoOnOneHostIsShm) {
  const std::vector<std::string> hosts = {"a", "a", "a"};
  run(3, "auto", hosts, [&](int rank, int n) {
    init_process_group(options_for(rank, n, init()));
    EXPECT_THAT(world().transports(), ElementsAreArray(expected(hosts, rank, "tcp")));
    check_all_reduce(rank, n);
    destroy_process_group();
  });
}

TEST_F(TransportChoiceTest, TcpForcedOnOneHostIsTcp) {
  run(3, "tcp", {}, [&](int rank, int n) {
    init_process_group(options_for(rank, n, init()));
    std::vector<std::string> want(3, "tcp");
    want[static_cast<size_t>(rank)] = "self";
    EXPECT_THAT(world().transports(), ElementsAreArray(want));
    check_all_reduce(rank, n);
    destroy_process_group();
  });
}

TEST_F(TransportChoiceTest, AutoOnSeparateHostsIsTcp) {
  const std::vector<std::string> hosts = {"a", "b", "c"};
  run(3, "auto", hosts, [&](int rank, int n) {
    init_process_group(options_for(rank, n, init()));
    EXPECT_THAT(world().transports(), ElementsAreArray(expected(hosts, rank, "tcp")));
    check_all_reduce(rank, n);
    destroy_process_group();
  });
}

TEST_F(TransportChoiceTest, ShmForcedAcrossHostsNamesTheRanks) {
  const std::vector<std::string> hosts = {"a", "a", "b"};
  run(3, "shm", hosts, [&](int rank, int n) {
    try {
      init_process_group(options_for(rank, n, init()));
      FAIL() << "BATON_TRANSPORT=shm across hosts was accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("BATON_TRANSPORT=shm"));
      EXPECT_THAT(e.what(), HasSubstr(rank == 2 ? "ranks 0, 1" : "ranks 2"));
    }
  });
}

// Two "hosts" of two ranks: shm inside, tcp across; collectives and p2p
// (ANY_SOURCE from a same-host and an other-host peer) work across both.
TEST_F(TransportChoiceTest, MixedHostsRouteShmInsideAndTcpAcross) {
  const std::vector<std::string> hosts = {"a", "a", "b", "b"};
  run(4, "auto", hosts, [&](int rank, int n) {
    init_process_group(options_for(rank, n, init()));
    EXPECT_THAT(world().transports(), ElementsAreArray(expected(hosts, rank, "tcp")));
    check_all_reduce(rank, n);
    // A large all_reduce and a broadcast from the other host.
    Tensor big = Tensor::full({1 << 20}, static_cast<double>(rank));
    all_reduce(big, ReduceOp::SUM);
    ASSERT_EQ(big.item((1 << 20) - 1), 6.0);
    Tensor b = Tensor::full({4096}, rank == 3 ? 7.0 : 0.0);
    broadcast(b, 3);
    ASSERT_EQ(b.item(4095), 7.0);
    // Rank 0 receives from ANY_SOURCE: rank 1 (same host) and rank 2 (other host).
    if (rank == 0) {
      std::set<int> sources;
      for (int i = 0; i < 2; ++i) {
        Tensor t = Tensor::zeros({1});
        Work w = recv(t, ANY_SOURCE);
        w.wait();
        sources.insert(w.source_rank());
        EXPECT_EQ(t.item(), 100.0 + w.source_rank());
      }
      EXPECT_EQ(sources, (std::set<int>{1, 2}));
    } else if (rank == 1 || rank == 2) {
      send(Tensor::full({1}, 100.0 + rank), 0);
    }
    barrier();
    destroy_process_group();
  });
}

}  // namespace
}  // namespace baton::testing
