// Little-endian integers in byte buffers, for the wire formats: fields are
// written one by one, never by copying structs, so the bytes are the same on
// every compiler and host.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace baton {

// Writes value's sizeof(T) bytes at out, least significant first.
template <class T>
void put_le(std::byte* out, T value) {
  auto u = static_cast<std::make_unsigned_t<T>>(value);
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<std::byte>(u & 0xff);
    u = static_cast<decltype(u)>(u >> 8);
  }
}

// Reads a T written by put_le.
template <class T>
T get_le(const std::byte* in) {
  std::make_unsigned_t<T> u = 0;
  for (size_t i = sizeof(T); i-- > 0;) {
    u = static_cast<decltype(u)>((u << 8) | std::to_integer<uint8_t>(in[i]));
  }
  return static_cast<T>(u);
}

}  // namespace baton
