// Launching ranks from C++: baton::spawn, the tutorial's one-machine template.
//
//   int main() {
//     baton::spawn(4, [](int rank, int world_size) {
//       baton::init_process_group();   // env:// finds MASTER_ADDR, RANK, ... set by spawn
//       run(rank, world_size);
//     });
//   }
//
// spawn forks nprocs copies of the calling process. In each, RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK (0), GROUP_WORLD_SIZE
// (1), MASTER_ADDR, MASTER_PORT, BATON_STORE_ADDR and BATON_STORE_PORT (the
// same as MASTER_*), BATON_JOB_ID, BATON_AGENT_STORE (0: rank 0 serves the
// store) and the restart counts (TORCHELASTIC_RESTART_COUNT,
// BATON_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS: 0, spawn never restarts)
// are set in the environment, then fn(rank, nprocs) runs
// and the process exits 0. An exception escaping fn
// is printed on stderr with the rank ("baton::spawn: rank 2 of 4 failed:
// ...") and the process exits 1. When any rank fails, the others get SIGTERM,
// then SIGKILL after the grace period, and spawn throws SpawnError naming the
// rank that caused the failure (of the ranks failing within 250 ms of the
// first, one killed by a signal before one that exited non-zero) and its exit
// code or signal. The same supervisor
// runs the ranks of the baton-run launcher (docs/launch.md).
//
// Processes: the children are forks, not fresh programs (Python's "fork"
// start method): call spawn before starting threads of your own. They stay in
// the caller's process group, so a Ctrl-C in the terminal reaches each rank
// directly; if the calling process dies, the ranks are killed with it
// (PR_SET_PDEATHSIG). A child leaves with _exit: the parent's static
// destructors and atexit handlers do not run in it.
//
// Thread safety: call from one thread at a time; that thread blocks in spawn
// until every rank has exited.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "baton/error.hpp"

namespace baton {

struct SpawnOptions {
  std::string master_addr = "127.0.0.1";  // MASTER_ADDR given to every rank
  int master_port = 0;         // 0: MASTER_PORT from the environment if set, else a free port
  bool prefix_output = false;  // lead each line the ranks print with "[<rank>] "
  std::chrono::milliseconds grace_period{std::chrono::seconds(3)};  // SIGTERM to SIGKILL
  std::chrono::milliseconds timeout{0};  // 0: no limit; else stop the ranks and throw
};

// A rank started by spawn failed. Its code is ErrorCode::kIo.
class SpawnError : public Error {
 public:
  SpawnError(const std::string& message, int rank, int exit_code, int signal)
      : Error(ErrorCode::kIo, message), rank_(rank), exit_code_(exit_code), signal_(signal) {}
  int rank() const noexcept { return rank_; }            // the rank that caused the failure
  int exit_code() const noexcept { return exit_code_; }  // its exit code; -1 if killed by a signal
  int signal() const noexcept { return signal_; }  // the signal that killed it; 0 if it exited

 private:
  int rank_;
  int exit_code_;
  int signal_;
};

// Runs fn(rank, nprocs) in nprocs child processes and waits for all of them.
// Blocks until every rank has exited; no timeout unless options.timeout is set.
// Throws InvalidArgument (nprocs < 1, empty fn, bad port), SpawnError (a rank
// failed), TimeoutError (options.timeout passed; the ranks were stopped),
// IoError or ConnectionError (the processes or the free port could not be had).
void spawn(int nprocs, std::function<void(int rank, int world_size)> fn,
           const SpawnOptions& options = {});

}  // namespace baton
