// The backend conformance suite's fixture and its tests (see backend_suite.hpp).
#include "tests/backends/backend_suite.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <set>
#include <thread>

#include "tests/backends/suite_bodies.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/support/sanitizers.hpp"

namespace baton::testing {

InitOptions BackendSuite::init_options(int rank, int n) const {
  InitOptions options;
  options.backend = param().backend;
  options.init_method = dir_.init_method();
  options.rank = rank;
  options.world_size = n;
  options.timeout = std::chrono::seconds(60);
  return options;
}

void BackendSuite::apply_env(int rank) const {
  for (const auto& [name, value] : param().env) ::setenv(name.c_str(), value.c_str(), 1);
  if (param().ranks_per_host > 0) {
    const std::string host = "suite-host-" + std::to_string(rank / param().ranks_per_host);
    ::setenv("BATON_HOST_ID", host.c_str(), 1);
  }
}

void BackendSuite::run(const std::function<void(int, int)>& body,
                       std::chrono::milliseconds timeout) {
  run_plain(
      world_size(),
      [&](int rank, int n) {
        init_process_group(init_options(rank, n));
        body(rank, n);
        destroy_process_group();
      },
      timeout);
}

void BackendSuite::run_plain(int n, const std::function<void(int, int)>& body,
                             std::chrono::milliseconds timeout) {
  run_ranks(n,
            [&](int rank, int size) {
              apply_env(rank);
              body(rank, size);
            },
            {.mode = RankMode::kProcesses, .timeout = timeout});
}

std::string suite_param_name(const ::testing::TestParamInfo<SuiteParam>& info) {
  return std::get<0>(info.param).name + "_ws" + std::to_string(std::get<1>(info.param));
}

namespace {

bool one_of(int n, std::initializer_list<int> sizes) {
  return std::find(sizes.begin(), sizes.end(), n) != sizes.end();
}

}  // namespace

// The bodies live in suite_bodies.cc (shared with the mpirun suite, tests/mpi/).

// Every collective at the small element counts, blocking and async.
TEST_P(BackendSuite, EveryCollectiveSmallCounts) {
  run(every_collective_small_counts);
}

// Every collective on more than 1 Mi elements (the pipelined paths). Under
// TSan 8 ranks on a small machine outlast the group's 60 s per collective
// (a reduce_scatter through the 192-byte area took longer).
TEST_P(BackendSuite, EveryCollectiveLargeCount) {
  if (!one_of(world_size(), {1, 2, 3, 5, 8})) GTEST_SKIP() << "sampled world sizes: 1, 2, 3, 5, 8";
  if (kThreadSanitized && world_size() == 8) GTEST_SKIP() << "8 ranks: too slow under TSan";
  run(every_collective_large_count, std::chrono::seconds(150));
}

// Every dtype x every reduce op it supports, for all_reduce (under the
// default and both message algorithms), reduce and reduce_scatter; and the data-moving
// collectives for every dtype. A group reads BATON_ALGO_ALL_REDUCE when it
// is set up, and setenv is unsafe while Baton's threads may call getenv:
// one process group per algorithm, the variable set before it starts.
TEST_P(BackendSuite, EveryDTypeAndReduceOp) {
  if (!one_of(world_size(), {2, 3, 5})) GTEST_SKIP() << "sampled world sizes: 2, 3, 5";
  for (const std::string algo : {"auto", "recursive_doubling", "ring"}) {
    run_plain(
        world_size(),
        [&](int rank, int n) {
          ::setenv("BATON_ALGO_ALL_REDUCE", algo.c_str(), 1);
          init_process_group(init_options(rank, n));
          every_dtype_and_reduce_op(rank, n, algo);
          destroy_process_group();
        },
        std::chrono::seconds(60));
  }
}

// send/recv/isend/irecv: a ring, tags out of order, the non-overtaking rule,
// ANY_SOURCE, empty and large messages.
TEST_P(BackendSuite, PointToPoint) {
  if (world_size() < 2) GTEST_SKIP() << "needs two ranks";
  run(point_to_point);
}

// Subgroups: results only combine members, group ranks follow the list's
// order, non-members get a handle they cannot use, and operations of the
// world and of subgroups in flight at once never mix.
TEST_P(BackendSuite, NewGroupIsolation) {
  if (world_size() < 3) GTEST_SKIP() << "needs three ranks";
  run(new_group_isolation);
}

// Operations on two groups from two threads at once.
TEST_P(BackendSuite, ConcurrentGroupsFromTwoThreads) {
  if (!one_of(world_size(), {2, 4, 7})) GTEST_SKIP() << "sampled world sizes: 2, 4, 7";
  run(concurrent_groups_from_two_threads);
}

// destroy_process_group, then a second init on the same store.
TEST_P(BackendSuite, DestroyThenReinit) {
  if (!one_of(world_size(), {1, 3})) GTEST_SKIP() << "sampled world sizes: 1, 3";
  run_plain(world_size(), [this](int rank, int n) {
    destroy_then_reinit(rank, n, [&] { return init_options(rank, n); });
  });
}

// abort_process_group from another thread: rank 0's blocked receive fails
// at once with the reason, its later operations fail too, and the other
// ranks, blocked in a barrier rank 0 never reaches, fail with the same reason.
TEST_P(BackendSuite, AbortFromAnotherThreadFailsPendingOperationsEverywhere) {
  if (!one_of(world_size(), {2, 3})) GTEST_SKIP() << "sampled world sizes: 2, 3";
  run([](int rank, int) {
    const auto start = std::chrono::steady_clock::now();
    auto expect_aborted = [&](const std::function<void()>& op, const std::string& what) {
      try {
        op();
        ADD_FAILURE() << "rank " << rank << ": " << what << " succeeded after the abort";
      } catch (const ConnectionError& e) {
        EXPECT_NE(std::string(e.what()).find("rank 0 aborted world"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("watchdog says stop"), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << rank << ": " << what << ": " << e.what()
                      << " (expected ConnectionError)";
      }
    };
    if (rank == 0) {
      std::thread watchdog([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        abort_process_group(world(), "watchdog says stop");
      });
      Tensor never = Tensor::zeros({4});
      expect_aborted([&] { recv(never, 1, world(), 77); }, "a receive nobody sends to");
      watchdog.join();
      expect_aborted([] { barrier(); }, "a barrier after the abort");
    } else {
      expect_aborted([] { barrier(); }, "a barrier rank 0 never joins");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
        << "rank " << rank << " waited for its timeout";
  });
}

// Rendezvous through tcp:// (rank 0 serves the store) instead of a file.
TEST_P(BackendSuite, TcpInitMethod) {
  if (!one_of(world_size(), {2, 4})) GTEST_SKIP() << "sampled world sizes: 2, 4";
  const int port = free_tcp_port();
  run_plain(world_size(), [this, port](int rank, int n) {
    InitOptions options = init_options(rank, n);
    options.init_method = "tcp://127.0.0.1:" + std::to_string(port);
    init_process_group(options);
    Tensor t = Tensor::full({3}, 1, DType::Float32);
    all_reduce(t, ReduceOp::SUM);
    expect_tensor(
        t, [&](int64_t) { return n; }, "tcp:// all_reduce");
    destroy_process_group();
  });
}

}  // namespace baton::testing
