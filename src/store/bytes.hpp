// ByteWriter / ByteReader: little-endian encoding for the store's formats.
//
// The TcpStore protocol and the FileStore file are both written with these,
// field by field, never by copying structs, so the bytes are the same on
// every compiler and host. A ByteReader never reads past its span: each
// get_* returns false (and leaves the reader failed) when bytes run out.
//
// Thread safety: plain values, one owner.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace baton::store {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void i64(int64_t v) { put(static_cast<uint64_t>(v), 8); }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void bytes(std::string_view s) {
    out_.insert(out_.end(), reinterpret_cast<const uint8_t*>(s.data()),
                reinterpret_cast<const uint8_t*>(s.data()) + s.size());
  }
  // u32 length, then the bytes. The caller has checked the length fits.
  void blob(std::span<const uint8_t> b) {
    u32(static_cast<uint32_t>(b.size()));
    bytes(b);
  }
  void blob(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(s);
  }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}
  bool u8(uint8_t& v) {
    uint64_t x = 0;
    if (!get(x, 1)) return false;
    v = static_cast<uint8_t>(x);
    return true;
  }
  bool u16(uint16_t& v) {
    uint64_t x = 0;
    if (!get(x, 2)) return false;
    v = static_cast<uint16_t>(x);
    return true;
  }
  bool u32(uint32_t& v) {
    uint64_t x = 0;
    if (!get(x, 4)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  bool u64(uint64_t& v) { return get(v, 8); }
  bool i64(int64_t& v) {
    uint64_t x = 0;
    if (!get(x, 8)) return false;
    v = static_cast<int64_t>(x);
    return true;
  }
  // A view of the next n bytes (valid as long as the underlying span).
  bool bytes(size_t n, std::span<const uint8_t>& v) {
    if (failed_ || remaining() < n) return fail();
    v = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool failed() const { return failed_; }

 private:
  bool fail() {
    failed_ = true;
    return false;
  }
  bool get(uint64_t& v, size_t n) {
    if (failed_ || remaining() < n) return fail();
    v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[pos_ + i]) << (8 * i);
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

inline std::string_view as_string_view(std::span<const uint8_t> b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace baton::store
