// Rules every store shares: key limits, counter text, and error messages.
//
// Each store validates keys with check_key before touching its data, parses
// counters with parse_counter, and words its TimeoutError with
// timeout_message, so the same mistake reads the same on every store.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton::store {

// The longest key any store accepts (the TcpStore protocol's bound).
inline constexpr size_t kMaxKeyBytes = size_t{8} * 1024;
// The most keys one check() or wait() may name.
inline constexpr size_t kMaxKeysPerRequest = size_t{64} * 1024;

// Throws InvalidArgument naming the operation when key is longer than
// kMaxKeyBytes.
void check_key(std::string_view key, std::string_view op);
// Same for every key, plus the count limit.
void check_keys(std::span<const std::string> keys, std::string_view op);

// The counter at key: its decimal text, or InvalidArgument naming the key and
// its value when the value is not an integer.
int64_t parse_counter(std::string_view key, std::span<const uint8_t> value);
// value + delta, or InvalidArgument naming the key when it overflows int64.
int64_t add_counter(std::string_view key, int64_t value, int64_t delta);
std::vector<uint8_t> counter_bytes(int64_t value);

// A key for a message: quoted, non-printable bytes escaped, long keys cut.
std::string quote_key(std::string_view key);
// "'a', 'b', 'c' and 7 more".
std::string quote_keys(std::span<const std::string> keys);
// "0a1bff": bytes as hex, for messages about bytes that make no sense.
std::string hex_bytes(std::span<const uint8_t> bytes);
// The TimeoutError text: "<where>: get timed out after 0.1 s waiting for
// key 'k'" / "<where>: wait timed out after 0.1 s; missing keys: 'a', 'b'".
std::string timeout_message(std::string_view where, std::string_view op,
                            std::span<const std::string> missing,
                            std::chrono::milliseconds timeout);

}  // namespace baton::store
