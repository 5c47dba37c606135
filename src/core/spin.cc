// BATON_SPIN_US, read once.
#include "core/spin.hpp"

#include "core/config.hpp"

namespace baton::spin {

std::chrono::microseconds spin_duration() {
  static const std::chrono::microseconds value{config::get_int("BATON_SPIN_US")};
  return value;
}

}  // namespace baton::spin
