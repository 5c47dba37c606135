// BATON_SPIN_US, read once.
#include "core/spin.hpp"

#include <sched.h>

#include "core/config.hpp"

namespace baton::spin {

std::chrono::microseconds spin_duration() {
  static const std::chrono::microseconds value{config::get_int("BATON_SPIN_US")};
  return value;
}

bool oversubscribed(int threads) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return false;
  return threads > CPU_COUNT(&set);
}

}  // namespace baton::spin
