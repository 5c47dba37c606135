// Test support: run a function on N ranks, as threads or forked processes.
//
// run_ranks(n, fn) calls fn(rank, n) once per rank and returns when every rank
// has finished. A rank that throws, fails a GoogleTest assertion, exits
// non-zero, is killed by a signal or outlives the timeout is reported as a
// test failure that names the rank and what happened ("rank 2 of 4: killed by
// SIGSEGV", "rank 1 of 3: timed out after 30 s"). In process mode a timed-out
// rank is killed (SIGKILL) so a hang never outlives its test.
//
// Thread safety: call from the test's main thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace baton::testing {

enum class RankMode { kThreads, kProcesses };

struct RunOptions {
  RankMode mode = RankMode::kProcesses;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

// One rank's outcome; ok is true when the rank returned normally and passed.
struct RankResult {
  int rank = 0;
  bool ok = true;
  std::string what;  // empty when ok
};

// Runs fn on every rank and returns each rank's outcome, failing nothing.
std::vector<RankResult> try_run_ranks(int world_size, const std::function<void(int rank, int world_size)>& fn,
                                      RunOptions options = {});

// Runs fn on every rank; adds a GoogleTest failure for each rank that failed.
void run_ranks(int world_size, const std::function<void(int rank, int world_size)>& fn,
               RunOptions options = {});

}  // namespace baton::testing
