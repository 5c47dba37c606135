// Fuzzes the readers of BATON_* values (src/core/config.hpp): integers
// (counts and byte sizes, which are plain integers), booleans and durations,
// read from the environment of whoever starts the job.
//
// Input: byte 0 picks the reader; the rest is the value's text (up to its
// first zero byte, as an environment variable would hold it). A value that
// parses must parse again to the same result from its canonical text.
#include <cstdlib>
#include <string>

#include "core/config.hpp"
#include "fuzz_support.hpp"

namespace {

namespace cfg = baton::config;

// Tunables of each type (any registered one of that type would do).
constexpr const char* kInt = "BATON_STORE_MAX_VALUE_BYTES";
constexpr const char* kBool = "BATON_AGENT_STORE";
constexpr const char* kDuration = "BATON_TIMEOUT";

void set(const char* name, const std::string& value) {
  if (::setenv(name, value.c_str(), 1) != 0) baton::fuzz::fail(__FILE__, __LINE__, "setenv");
}

void integer(const std::string& text) {
  set(kInt, text);
  int64_t value = 0;
  if (!baton::fuzz::graceful([&] { value = cfg::get_int(kInt); })) return;
  set(kInt, " " + std::to_string(value) + "\n");
  BATON_FUZZ_CHECK(cfg::get_int(kInt) == value, "'" + text + "' -> " + std::to_string(value));
}

void boolean(const std::string& text) {
  set(kBool, text);
  bool value = false;
  if (!baton::fuzz::graceful([&] { value = cfg::get_bool(kBool); })) return;
  set(kBool, value ? "TRUE" : "off");
  BATON_FUZZ_CHECK(cfg::get_bool(kBool) == value, "'" + text + "'");
}

void duration(const std::string& text, bool through_env) {
  std::chrono::milliseconds value{};
  const bool parsed = baton::fuzz::graceful([&] {
    if (through_env) {
      set(kDuration, text);
      value = cfg::get_duration(kDuration);
    } else {
      value = cfg::parse_duration(text, "fuzz");
    }
  });
  if (!parsed) return;
  BATON_FUZZ_CHECK(value.count() >= 0, "'" + text + "' is a negative duration");
  const std::string again = std::to_string(value.count()) + "ms";
  BATON_FUZZ_CHECK(cfg::parse_duration(again, "fuzz") == value, "'" + text + "' -> " + again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  baton::fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  std::string text(in.rest_text());
  text = text.substr(0, text.find('\0'));  // an environment value ends at its first zero byte
  baton::fuzz::graceful([&] {
    switch (mode % 5) {
      case 0: integer(text); break;
      case 1: boolean(text); break;
      case 2: duration(text, false); break;
      case 3: duration(text, true); break;
      case 4: {
        // Reading a name that is not a registered tunable is a bug the
        // reader reports as InvalidArgument, whatever the name.
        const bool registered = [&] {
          for (const cfg::Tunable& t : cfg::tunables()) {
            if (t.name == text) return true;
          }
          return false;
        }();
        if (!registered) {
          BATON_FUZZ_CHECK(!baton::fuzz::graceful([&] { cfg::get_string(text); }),
                           "unregistered tunable '" + text + "' read");
        }
        break;
      }
    }
  });
  return 0;
}
