// ExitStatus: how a child process ended, and the words for it.
//
// Built from a waitpid(2) status. describe() gives the phrase the launcher
// prints ("exited with code 3", "was killed by SIGSEGV (Segmentation fault)");
// shell_code() gives the exit code a shell would report (the code, or 128 plus
// the signal number), which baton-run returns for a failed job.
//
// Thread safety: a plain value type; signal_name() is safe from any thread.
#pragma once

#include <string>

namespace baton::launch {

struct ExitStatus {
  bool signaled = false;     // killed by a signal rather than exiting
  int code = 0;              // the exit code when !signaled
  int signal = 0;            // the terminating signal when signaled
  bool core_dumped = false;  // the signal left a core dump

  static ExitStatus from_wait_status(int status);
  static ExitStatus exited(int code) { return {.code = code}; }
  static ExitStatus killed(int sig) { return {.signaled = true, .signal = sig}; }

  bool success() const { return !signaled && code == 0; }
  int shell_code() const { return signaled ? 128 + signal : code; }
  // "exited with code 3" / "was killed by SIGSEGV (Segmentation fault, core dumped)".
  std::string describe() const;
};

// "SIGSEGV" for 11; "signal 77" for a number without a name.
std::string signal_name(int sig);

}  // namespace baton::launch
