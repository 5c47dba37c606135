// random_u64, random_hex.
#include "core/random.hpp"

#include <sys/random.h>

#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <random>

namespace baton {

uint64_t random_u64() {
  uint64_t value = 0;
  if (::getrandom(&value, sizeof(value), 0) == static_cast<ssize_t>(sizeof(value))) return value;
  static std::mutex mu;
  static std::random_device device;
  std::lock_guard lock(mu);
  return (uint64_t{device()} << 32) ^ device();
}

std::string random_hex() {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, random_u64());
  return text;
}

}  // namespace baton
