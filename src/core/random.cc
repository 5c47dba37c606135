// random_u64, random_hex.
#include "core/random.hpp"

#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <random>

namespace baton {

uint64_t random_u64() {
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
