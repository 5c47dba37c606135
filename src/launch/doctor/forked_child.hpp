// ForkedChild: a child the doctor forks for a check (two processes sharing a
// segment, a ping-pong partner), and the deadline-bounded flag waits both
// sides of such a check use.
//
// The child runs one function and leaves with _exit, so none of the
// parent's atexit handlers or stdio buffers run twice. Whatever the check
// does, the child is gone when the ForkedChild is: its destructor kills
// (SIGKILL) and reaps a child still running. Every wait takes a deadline, so
// a child that never answers costs a check its timeout, never a hang.
//
// Thread safety: one owner; fork from a process without other threads (or
// make the body touch only memory and async-signal-safe calls).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace baton::launch::doctor {

using Clock = std::chrono::steady_clock;

class ForkedChild {
 public:
  // Forks; the child runs body and _exits with its result. On failure pid()
  // is -1 and error() holds fork's errno.
  explicit ForkedChild(const std::function<int()>& body);
  ~ForkedChild();
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;

  pid_t pid() const { return pid_; }
  int error() const { return error_; }
  bool started() const { return pid_ > 0; }

  // Whether the child is still running (reaps it, keeping its code, when not).
  bool running();

  // Waits until the child exits or the deadline passes (then kills it).
  // The exit code, or nullopt when it was killed by a signal or timed out.
  // Later calls return the same answer.
  std::optional<int> wait_until(Clock::time_point deadline);

 private:
  pid_t pid_ = -1;
  int error_ = 0;
  bool reaped_ = false;
  std::optional<int> code_;
};

// Polls until `flag` holds `value` or the deadline passes; pauses the core
// between polls and yields it every few polls (the other side may share
// it). Returns whether the value was seen.
bool wait_for_value(const std::atomic<uint64_t>& flag, uint64_t value, Clock::time_point deadline);

}  // namespace baton::launch::doctor
