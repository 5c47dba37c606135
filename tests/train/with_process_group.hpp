// Test support for the training layer: run a body on n forked ranks, each
// inside an initialised process group (FileStore rendezvous in a fresh
// scratch directory), as the bucketer, DDP and MNIST tests all do.
//
// Thread safety: call from the test's main thread.
#pragma once

#include <chrono>
#include <functional>

#include "baton/distributed.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {

// Runs fn(rank, n) between init_process_group and destroy_process_group on n
// forked ranks; each collective is bounded by `op_timeout`, the whole rank by
// `rank_timeout`. Failures are reported per rank (rank_runner.hpp).
inline void with_process_group(int n, const std::function<void(int rank, int n)>& fn,
                               std::chrono::milliseconds op_timeout = std::chrono::seconds(30),
                               std::chrono::milliseconds rank_timeout = std::chrono::seconds(60)) {
  JobDir dir;
  run_ranks(
      n,
      [&](int rank, int world) {
        InitOptions options;
        options.init_method = dir.init_method();
        options.rank = rank;
        options.world_size = world;
        options.timeout = op_timeout;
        init_process_group(options);
        fn(rank, world);
        destroy_process_group();
      },
      {.timeout = rank_timeout});
}

}  // namespace baton::testing
