// ForkedChild and the flag waits (forked_child.hpp).
#include "launch/doctor/forked_child.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "core/spin.hpp"

namespace baton::launch::doctor {

ForkedChild::ForkedChild(const std::function<int()>& body) {
  std::fflush(nullptr);  // nothing buffered is written twice
  pid_ = ::fork();
  if (pid_ < 0) {
    error_ = errno;
    return;
  }
  if (pid_ == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
}

ForkedChild::~ForkedChild() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

bool ForkedChild::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return true;
  reaped_ = true;
  if (r == pid_ && WIFEXITED(status)) code_ = WEXITSTATUS(status);
  return false;
}

std::optional<int> ForkedChild::wait_until(Clock::time_point deadline) {
  if (pid_ <= 0 || reaped_) return code_;
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) code_ = WEXITSTATUS(status);
      return code_;
    }
    if (r < 0 && errno != EINTR) {
      reaped_ = true;  // not ours any more (a SIGCHLD handler reaped it)
      return code_;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      return code_;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

bool wait_for_value(const std::atomic<uint64_t>& flag, uint64_t value, Clock::time_point deadline) {
  for (uint32_t polls = 0;; ++polls) {
    if (flag.load(std::memory_order_acquire) == value) return true;
    if ((polls & 63) == 63) {
      if (Clock::now() >= deadline) return flag.load(std::memory_order_acquire) == value;
      ::sched_yield();
    } else {
      spin::cpu_relax();
    }
  }
}

}  // namespace baton::launch::doctor
