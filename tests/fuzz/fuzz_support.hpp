// What every fuzz harness shares: reading an input field by field, the rule
// for what counts as a graceful rejection, and the checks that stop the run.
//
// A harness is one LLVMFuzzerTestOneInput per parser (tests/fuzz/*_fuzz.cc).
// It is linked either with libFuzzer (scripts/fuzz.sh, clang-14, ASan+UBSan)
// or with replay_main.cc (ctest's fuzz.<target>, any compiler). Either way:
//  - a baton::Error (any subclass: InvalidArgument, ProtocolError, IoError,
//    ...) is the parser refusing the input, which is fine;
//  - any other exception, a failed check (BATON_FUZZ_CHECK), a crash or a
//    sanitizer report is a bug: the harness calls std::abort(), which both
//    drivers record as a failing input.
// Timeouts and memory limits are the driver's (libFuzzer -timeout=1
// -rss_limit_mb=512).
//
// Thread safety: harnesses run one input at a time on one thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>

#include "baton/error.hpp"

namespace baton::fuzz {

[[noreturn]] inline void fail(const char* file, int line, std::string_view what) {
  std::fprintf(stderr, "\nFUZZ FAILURE at %s:%d: %.*s\n", file, line, static_cast<int>(what.size()),
               what.data());
  std::fflush(stderr);
  std::abort();
}

// Stops the run (a failing input) when cond is false.
#define BATON_FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::baton::fuzz::fail(__FILE__, __LINE__, std::string("check '" #cond "' failed: ") + (what)); \
  } while (0)

// Runs f; a baton::Error is a graceful refusal (returns false), any other
// exception is a failure. Returns true when f returned normally.
template <class F>
bool graceful(F&& f) {
  try {
    f();
    return true;
  } catch (const baton::Error&) {
    return false;
  } catch (const std::exception& e) {
    fail(__FILE__, __LINE__,
         std::string("undeclared exception ") + typeid(e).name() + ": " + e.what());
  } catch (...) {
    fail(__FILE__, __LINE__, "an exception that is not a std::exception");
  }
}

// Reads an input front to back; past the end every field reads as zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : bytes_(data, size) {}
  uint8_t u8() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  // The next n bytes, fewer at the end.
  std::span<const uint8_t> take(size_t n) {
    n = std::min(n, bytes_.size() - pos_);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::span<const uint8_t> rest() { return take(bytes_.size() - pos_); }
  std::string_view rest_text() {
    const auto r = rest();
    return {reinterpret_cast<const char*>(r.data()), r.size()};
  }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

inline std::string hex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

}  // namespace baton::fuzz
