// Logging: one facility with a level and a subsystem.
//
// BATON_LOG sets both: "warn" (the default), "info", "debug" or "trace",
// optionally followed by a colon and the subsystems to show, e.g.
// BATON_LOG=debug:store,launch. Each line is written with one write(2) to
// stderr: "[baton <level> <SUBSYS> pid <pid>] <object id>: message".
//
// Usage: BATON_LOG_INFO(Subsys::kStore) << "server " << id_ << " listening on " << port;
// The stream expression is not evaluated when the level or subsystem is off.
//
// Thread safety: safe from any thread.
#pragma once

#include <sstream>
#include <string_view>

namespace baton::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };
enum class Subsys { kCore, kStore, kRendezvous, kTransport, kColl, kLaunch, kTrain };

// Whether messages of this level and subsystem are shown.
bool enabled(Level level, Subsys subsys);
// Re-reads BATON_LOG (tests call this after setenv).
void reload_from_env();

class Line {
 public:
  Line(Level level, Subsys subsys, const char* file, int line);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  std::ostream& stream() { return out_; }

 private:
  std::ostringstream out_;
};

}  // namespace baton::log

#define BATON_LOG_AT(level, subsys)                                      \
  if (!::baton::log::enabled(::baton::log::Level::level, subsys)) {      \
  } else                                                                 \
    ::baton::log::Line(::baton::log::Level::level, subsys, __FILE__, __LINE__).stream()

#define BATON_LOG_ERROR(subsys) BATON_LOG_AT(kError, subsys)
#define BATON_LOG_WARN(subsys) BATON_LOG_AT(kWarn, subsys)
#define BATON_LOG_INFO(subsys) BATON_LOG_AT(kInfo, subsys)
#define BATON_LOG_DEBUG(subsys) BATON_LOG_AT(kDebug, subsys)
#define BATON_LOG_TRACE(subsys) BATON_LOG_AT(kTrace, subsys)
