// Shared store rules; see store_common.hpp.
#include "store/store_common.hpp"

#include <charconv>
#include <limits>

#include "baton/error.hpp"
#include "core/describe.hpp"

namespace baton::store {

void check_key(std::string_view key, std::string_view op) {
  if (key.size() > kMaxKeyBytes) {
    throw InvalidArgument("store " + std::string(op) + ": key " + quote_key(key) + " is " +
                          std::to_string(key.size()) + " bytes, longer than the limit of " +
                          std::to_string(kMaxKeyBytes) + " bytes");
  }
}

void check_keys(std::span<const std::string> keys, std::string_view op) {
  if (keys.size() > kMaxKeysPerRequest) {
    throw InvalidArgument("store " + std::string(op) + ": " + std::to_string(keys.size()) +
                          " keys in one call, more than the limit of " +
                          std::to_string(kMaxKeysPerRequest));
  }
  for (const std::string& key : keys) check_key(key, op);
}

int64_t parse_counter(std::string_view key, std::span<const uint8_t> value) {
  const char* begin = reinterpret_cast<const char*>(value.data());
  const char* end = begin + value.size();
  int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, out);
  if (value.empty() || ec != std::errc() || ptr != end) {
    throw InvalidArgument("store add: key " + quote_key(key) + " holds " +
                          quote_key(std::string_view(begin, value.size())) +
                          ", expected a decimal integer counter");
  }
  return out;
}

int64_t add_counter(std::string_view key, int64_t value, int64_t delta) {
  int64_t sum = 0;
  if (__builtin_add_overflow(value, delta, &sum)) {
    throw InvalidArgument("store add: counter " + quote_key(key) + " = " + std::to_string(value) +
                          " plus " + std::to_string(delta) + " overflows int64");
  }
  return sum;
}

std::vector<uint8_t> counter_bytes(int64_t value) {
  const std::string text = std::to_string(value);
  return std::vector<uint8_t>(text.begin(), text.end());
}

std::string quote_key(std::string_view key) {
  constexpr size_t kShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < key.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += "'";
  if (key.size() > kShown) out += "... (" + std::to_string(key.size()) + " bytes)";
  return out;
}

std::string quote_keys(std::span<const std::string> keys) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < keys.size() && i < kShown; ++i) {
    if (i > 0) out += ", ";
    out += quote_key(keys[i]);
  }
  if (keys.size() > kShown) out += " and " + std::to_string(keys.size() - kShown) + " more";
  return out;
}

std::string hex_bytes(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}


std::string timeout_message(std::string_view where, std::string_view op,
                            std::span<const std::string> missing,
                            std::chrono::milliseconds timeout) {
  std::string out(where);
  out += ": " + std::string(op) + " timed out after " + describe_duration(timeout);
  if (missing.size() == 1) {
    out += " waiting for key " + quote_key(missing[0]);
  } else {
    out += "; missing keys: " + quote_keys(missing);
  }
  return out;
}

}  // namespace baton::store
