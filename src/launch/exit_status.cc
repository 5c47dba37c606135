// Words for how a child process ended.
#include "launch/exit_status.hpp"

#include <string.h>
#include <sys/wait.h>

namespace baton::launch {

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  } else if (WIFEXITED(status)) {
    s.code = WEXITSTATUS(status);
  }
  return s;
}

std::string ExitStatus::describe() const {
  if (!signaled) return "exited with code " + std::to_string(code);
  std::string text = "was killed by " + signal_name(signal);
  const char* what = ::sigdescr_np(signal);
  if (what != nullptr || core_dumped) {
    text += " (";
    if (what != nullptr) text += what;
    if (what != nullptr && core_dumped) text += ", ";
    if (core_dumped) text += "core dumped";
    text += ")";
  }
  return text;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev == nullptr) return "signal " + std::to_string(sig);
  return std::string("SIG") + abbrev;
}

}  // namespace baton::launch
