// UniqueFd: owns one file descriptor and closes it exactly once.
//
// Every fd Baton opens (sockets, files, eventfds, shared-memory segments) is
// held in a UniqueFd so that no error path leaks it. Moving transfers
// ownership; the moved-from object holds -1.
//
// Thread safety: like a std::unique_ptr; one owner, no internal locking.
#pragma once

#include <unistd.h>

#include <utility>

namespace baton {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing; returns the fd.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and takes ownership of `fd`. close(2) is
  // not retried on EINTR: on Linux the fd is released either way.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace baton
