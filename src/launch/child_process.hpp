// start_child: forks one rank, set up as the launcher wants, and execs it or
// runs a function in it.
//
// The child is set up before it runs anything of the user's: it joins the
// job's process group (when asked), arranges to be killed with SIGKILL if the
// thread that started it dies (PR_SET_PDEATHSIG, checked against the race
// where the parent is already gone), restores the signal mask the launcher
// had before it blocked SIGINT and friends, points stdout and stderr at pipes
// (when output is captured), closes the launcher's other descriptors and sets
// its environment variables. In exec mode the program is looked up on PATH as
// execvp(3) does; a failed exec is reported back through a close-on-exec pipe
// and start_child throws ExecError, so "no such program" is an error at start
// rather than a rank that exits 127.
//
// Everything the exec path needs is allocated before fork(), so the child
// only makes async-signal-safe calls until exec. Function mode runs the
// function in the forked copy of the caller, as Python's multiprocessing
// "fork" start method does: call it before starting threads.
//
// Thread safety: start_child may be called from any thread; the returned
// ChildProcess belongs to the caller. PR_SET_PDEATHSIG fires when the calling
// *thread* exits, so that thread must outlive the child.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "baton/error.hpp"
#include "core/fd.hpp"
#include "launch/job_env.hpp"

namespace baton::launch {

// What to run as one rank.
struct ChildSpec {
  int rank = 0;                   // global rank: names the child in prefixes and messages
  int local_rank = 0;             // rank on this node
  EnvList env;                    // set in the child's environment, replacing inherited values
  std::vector<std::string> argv;  // exec mode: argv[0] is looked up on PATH
  std::function<int()> body;      // function mode (argv empty): its result is the exit code
};

// How every child of a job is set up.
struct ChildSetup {
  bool capture_output = false;  // stdout and stderr go to pipes the caller reads
  pid_t process_group = -1;     // -1: stay in the caller's group; 0: lead a new one; > 0: join it
  bool stdin_null = false;      // replace stdin with /dev/null
  const sigset_t* signal_mask = nullptr;  // the child's signal mask; nullptr keeps the caller's
  std::vector<int> close_fds;             // descriptors of the caller the child must not keep
};

// A started child. The pidfd becomes readable when the child exits; the
// caller reaps it with waitpid.
struct ChildProcess {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd out;  // read end of the child's stdout, non-blocking (when captured)
  UniqueFd err;  // read end of the child's stderr, non-blocking (when captured)
};

// The program could not be executed; error_number() is exec's errno.
class ExecError : public IoError {
 public:
  ExecError(const std::string& message, int error_number)
      : IoError(message), error_number_(error_number) {}
  int error_number() const noexcept { return error_number_; }

 private:
  int error_number_;
};

// Starts the child. Does not wait for it, except in exec mode until the exec
// has succeeded or failed (milliseconds). Throws ExecError when exec fails
// (the child is reaped), IoError when fork, pipe or pidfd_open fail,
// InvalidArgument when the spec has neither argv nor body.
ChildProcess start_child(const ChildSpec& spec, const ChildSetup& setup);

// Sends sig to the child through its pidfd (never a recycled pid). Returns
// false if the child is already gone.
bool send_signal(const ChildProcess& child, int sig);

}  // namespace baton::launch
