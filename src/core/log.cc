// The logging facility: BATON_LOG=<level>[:<subsys>,<subsys>...].
#include "core/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>

namespace baton::log {
namespace {

constexpr std::array<std::string_view, 7> kSubsysNames = {"CORE",      "STORE", "RENDEZVOUS",
                                                          "TRANSPORT", "COLL",  "LAUNCH",
                                                          "TRAIN"};
constexpr std::array<std::string_view, 5> kLevelNames = {"error", "warn", "info", "debug",
                                                         "trace"};

struct Settings {
  int level = static_cast<int>(Level::kWarn);
  unsigned subsys_mask = ~0u;
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Parses BATON_LOG; an unknown word is reported once and ignored, so a typo
// never stops a job.
Settings parse(const char* text) {
  Settings s;
  if (text == nullptr || *text == '\0') return s;
  std::string_view spec(text);
  const auto colon = spec.find(':');
  const std::string level = lower(spec.substr(0, colon));
  bool known = false;
  for (size_t i = 0; i < kLevelNames.size(); ++i) {
    if (level == kLevelNames[i]) {
      s.level = static_cast<int>(i);
      known = true;
    }
  }
  if (!known && !level.empty()) {
    const std::string msg = "[baton warn CORE] BATON_LOG: unknown level '" + level +
                            "', expected error, warn, info, debug or trace\n";
    [[maybe_unused]] auto n = ::write(2, msg.data(), msg.size());
  }
  if (colon == std::string_view::npos) return s;
  s.subsys_mask = 0;
  std::string_view rest = spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string word = lower(rest.substr(0, comma));
    for (size_t i = 0; i < kSubsysNames.size(); ++i) {
      if (word == lower(kSubsysNames[i]) || word == "all") s.subsys_mask |= 1u << i;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return s;
}

std::atomic<int> g_level{-1};  // -1: not read yet
std::atomic<unsigned> g_mask{0};

void ensure_loaded() {
  if (g_level.load(std::memory_order_acquire) < 0) reload_from_env();
}

}  // namespace

void reload_from_env() {
  const Settings s = parse(std::getenv("BATON_LOG"));
  g_mask.store(s.subsys_mask, std::memory_order_relaxed);
  g_level.store(s.level, std::memory_order_release);
}

bool enabled(Level level, Subsys subsys) {
  ensure_loaded();
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed) &&
         (g_mask.load(std::memory_order_relaxed) & (1u << static_cast<unsigned>(subsys))) != 0;
}

Line::Line(Level level, Subsys subsys, const char* file, int line) {
  std::string_view path(file);
  const auto slash = path.rfind('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  out_ << "[baton " << kLevelNames[static_cast<size_t>(level)] << ' '
       << kSubsysNames[static_cast<size_t>(subsys)] << " pid " << ::getpid() << ' ' << path << ':'
       << line << "] ";
}

Line::~Line() {
  out_ << '\n';
  const std::string text = out_.str();
  // One write per line so that lines from many threads and ranks never interleave.
  [[maybe_unused]] auto n = ::write(2, text.data(), text.size());
}

}  // namespace baton::log
