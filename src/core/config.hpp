// Config: every BATON_* tunable, defined once with its default and its doc.
//
// Each tunable is a row of kTunables in config.cc; docs/configuration.md lists
// them all (a test checks the two agree). Read values through the functions
// below, never with getenv directly, so that a malformed value gets one clear
// InvalidArgument naming the variable.
//
// Thread safety: safe from any thread; values are read from the environment
// at each call.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace baton::config {

struct Tunable {
  std::string_view name;           // "BATON_LOG"
  std::string_view default_value;  // as text, "" when unset means "none"
  std::string_view doc;            // one line
};

// Every tunable Baton reads.
std::span<const Tunable> tunables();

// The variable's value, or its default. Throws InvalidArgument when `name` is
// not a registered tunable (a bug) or when the value does not parse.
std::string get_string(std::string_view name);
int64_t get_int(std::string_view name);
bool get_bool(std::string_view name);  // 1/0, true/false, yes/no, on/off
std::chrono::milliseconds get_duration(std::string_view name);  // "30s", "500ms", "2m", plain number = seconds

// A non-Baton environment variable (RANK, MASTER_ADDR, ...): nullopt when unset.
std::optional<std::string> env(std::string_view name);

// Parses "30s", "500ms", "2m", "1h" or a plain number of seconds; throws
// InvalidArgument naming `what` otherwise.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);

}  // namespace baton::config
