// RateLimit; see rate_limit.hpp.
#include "core/rate_limit.hpp"

namespace baton::log {

bool RateLimit::allow(uint64_t* suppressed, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (used_ == 0 || now - window_start_ >= period_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++dropped_;
    return false;
  }
  ++used_;
  *suppressed = dropped_;
  dropped_ = 0;
  return true;
}

std::string suppressed(uint64_t count) {
  if (count == 0) return "";
  return " (" + std::to_string(count) + " similar message" + (count == 1 ? "" : "s") +
         " suppressed)";
}

}  // namespace baton::log
