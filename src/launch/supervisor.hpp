// run_job: starts every rank of a job on this machine, relays their output
// and stops them all when one fails. The one implementation behind both
// baton-run and baton::spawn.
//
// Output: with prefix_output, each rank's stdout and stderr are pipes; every
// line is written to out_fd / err_fd in one write, led by "[<rank>] ", so
// lines of different ranks never mix and a last line without a newline is
// still flushed (with one added). Pipes are read as they fill, so a rank that
// prints megabytes never blocks on a full pipe. Without it, ranks inherit the
// launcher's stdout and stderr.
//
// Failure: exits are seen at once through pidfds. When a rank exits non-zero
// or is killed by a signal, the launcher collects the failures of the next
// 250 ms (nothing is signalled meanwhile, so each of them is the job's own),
// then blames one: a rank killed by a signal before one that exited non-zero
// (a survivor that exits on the error its dead peer caused is a victim), each
// kind by the time its exit was seen. It prints "<name>: rank 2 (local rank 2,
// pid 1234) was killed by SIGKILL (Killed); stopping 2 other ranks" on err_fd,
// then "<name>: also: rank 0 (...) exited with code 3, 1 ms before rank 2" for
// each other failure, sends SIGTERM to the ranks still running and SIGKILL to
// any still running grace_period later. The result's exit code is the
// culprit's.
// With handle_signals, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to the
// launcher are forwarded to every rank the same way; a second one sends
// SIGKILL at once. run_job returns only when every rank has been reaped.
//
// Process groups: with own_process_group the ranks share one new process
// group (not the launcher's), so a Ctrl-C typed in the terminal reaches only
// the launcher, which forwards it once; signals to the group also reach any
// processes the ranks started. Without it (spawn), ranks stay in the caller's
// group and Ctrl-C reaches each of them directly from the terminal.
//
// Thread safety: call from one thread, which must outlive the job (it is the
// ranks' parent for PR_SET_PDEATHSIG). handle_signals blocks those signals in
// the calling thread while the job runs; other threads of the program must
// block them too (start them with the signals blocked), as baton-run does.
// Ranks start with the four signals unblocked.
#pragma once

#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "launch/child_process.hpp"
#include "launch/exit_status.hpp"

namespace baton::launch {

struct SupervisorOptions {
  std::string name = "baton-run";  // leads every message the supervisor prints
  bool prefix_output = true;
  bool own_process_group = true;
  bool handle_signals = false;
  std::chrono::milliseconds grace_period{std::chrono::seconds(3)};  // SIGTERM to SIGKILL
  std::chrono::milliseconds timeout{0};  // 0: no limit; else stop the job after this long
  int out_fd = STDOUT_FILENO;            // where prefixed stdout lines and messages go
  int err_fd = STDERR_FILENO;
};

// How one rank ended.
struct RankOutcome {
  int rank = 0;
  int local_rank = 0;
  pid_t pid = -1;
  ExitStatus status;
  bool stopped = false;  // still running when the launcher began stopping the job
};

enum class JobEnd {
  kSucceeded,    // every rank exited 0
  kRankFailed,   // a rank exited non-zero or was killed; the others were stopped
  kInterrupted,  // the launcher got a signal and stopped the ranks
  kTimedOut,     // options.timeout passed; the ranks were stopped
};

struct JobResult {
  JobEnd end = JobEnd::kSucceeded;
  int exit_code = 0;  // 0; the failed rank's code or 128 + signal; 128 + the signal received; 124
  std::vector<RankOutcome> ranks;     // in the order of the specs
  std::optional<RankOutcome> failed;  // kRankFailed: the culprit (see "Failure" above)
  int signal = 0;                     // kInterrupted: the signal the launcher received
  std::string
      reason;  // one line: "rank 2 (local rank 2, pid 1234) exited with code 3"; "" on success
};

// "rank 2 (local rank 2, pid 1234)".
std::string describe_rank(const RankOutcome& rank);

// Runs the job and blocks until every rank has exited (no timeout unless
// options.timeout is set; stopping takes at most grace_period plus the time
// the kernel needs to kill). Throws ExecError when a program cannot be
// executed and IoError when a rank cannot be started; ranks already started
// are killed and reaped first. A failing rank is a result, not an exception.
JobResult run_job(const std::vector<ChildSpec>& specs, const SupervisorOptions& options);

}  // namespace baton::launch
