// RateLimit: at most `burst` log messages of one kind per period, so a flood
// of hostile connections cannot flood the log (docs/security.md).
//
// Usage:
//   if (uint64_t dropped = 0; refused_.allow(&dropped))
//     BATON_LOG_WARN(kLog) << "refused ..." << log::suppressed(dropped);
//
// Thread safety: allow() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace baton::log {

class RateLimit {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimit(int burst = 10, Clock::duration period = std::chrono::seconds(10))
      : burst_(burst), period_(period) {}

  // Whether a message may be written now. When it may, *suppressed is the
  // number of messages refused since the last one allowed.
  bool allow(uint64_t* suppressed, Clock::time_point now = Clock::now());

 private:
  std::mutex mutex_;
  const int burst_;
  const Clock::duration period_;
  Clock::time_point window_start_{};
  int used_ = 0;
  uint64_t dropped_ = 0;
};

// "" for 0, else " (N similar messages suppressed)".
std::string suppressed(uint64_t count);

}  // namespace baton::log
