// Writing flight records out: the registry, the async-signal-safe writer and
// the fatal-signal handlers (flight_recorder.hpp; the format is in
// docs/observability.md and is read by launch/flight_report.hpp).
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string_view>

#include "backends/flight_recorder.hpp"
#include "backends/flight_registry.hpp"
#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "collectives/op_kind.hpp"
#include "collectives/select.hpp"

namespace baton::backends {
namespace flight {
namespace {

std::array<std::atomic<FlightRecorder*>, kMaxRecorders> g_slots{};

// BATON_FLIGHT_DIR, read when a recorder is made (a signal handler must
// not call getenv).
char g_dir[512] = {0};
std::mutex g_setup_mu;
bool g_handlers_installed = false;

}  // namespace

int register_recorder(FlightRecorder* recorder) {
  for (int i = 0; i < kMaxRecorders; ++i) {
    FlightRecorder* expected = nullptr;
    if (g_slots[static_cast<size_t>(i)].compare_exchange_strong(expected, recorder)) return i;
  }
  return -1;
}

void unregister_recorder(int slot, FlightRecorder* recorder) {
  if (slot < 0) return;
  FlightRecorder* expected = recorder;
  g_slots[static_cast<size_t>(slot)].compare_exchange_strong(expected, nullptr);
}

FlightRecorder* recorder_at(int slot) {
  return g_slots[static_cast<size_t>(slot)].load(std::memory_order_acquire);
}

}  // namespace flight

namespace {

// Appends to a fixed buffer and flushes with write(2): no allocation.
class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  ~Out() { flush(); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  Out& text(std::string_view s) {
    for (const char c : s) put(c);
    return *this;
  }
  // A value inside a key=value line: no spaces or line breaks.
  Out& word(std::string_view s) {
    if (s.empty()) return text("-");
    for (const char c : s) put(c == ' ' || c == '\n' || c == '\r' || c == '\t' ? '_' : c);
    return *this;
  }
  // The rest of a line: no line breaks.
  Out& line_text(std::string_view s) {
    for (const char c : s) put(c == '\n' || c == '\r' ? ' ' : c);
    return *this;
  }
  Out& num(int64_t v) {
    char digits[24];
    int n = 0;
    const bool negative = v < 0;
    uint64_t u = negative ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (negative) put('-');
    while (n > 0) put(digits[--n]);
    return *this;
  }
  Out& unum(uint64_t v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  bool ok() const { return ok_; }
  void flush() {
    size_t done = 0;
    while (done < used_) {
      const ssize_t n = ::write(fd_, buf_ + done, used_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok_ = false;
        break;
      }
      done += static_cast<size_t>(n);
    }
    used_ = 0;
  }

 private:
  void put(char c) {
    if (used_ == sizeof buf_) flush();
    buf_[used_++] = c;
  }
  int fd_;
  char buf_[8192];
  size_t used_ = 0;
  bool ok_ = true;
};

std::string_view state_name(FlightState s) {
  switch (s) {
    case FlightState::kEmpty: return "empty";
    case FlightState::kIssued: return "issued";
    case FlightState::kStarted: return "started";
    case FlightState::kCompleted: return "completed";
    case FlightState::kFailed: return "failed";
    case FlightState::kPosted: return "posted";
  }
  return "unknown";
}

int world_rank_of(const FlightRecorder& r) {
  const auto& id = r.identity();
  if (static_cast<size_t>(id.rank) < id.world_ranks.size()) {
    return id.world_ranks[static_cast<size_t>(id.rank)];
  }
  return id.rank;
}

void write_group(Out& out, const FlightRecorder& recorder) {
  const auto& id = recorder.identity();
  out.text("group ").line_text(id.group_name).text("\n");
  out.text("group_info rank=").num(id.rank).text(" size=").num(id.size).text(" transport=");
  out.word(id.transport).text(" capacity=").unum(recorder.capacity()).text(" world_ranks=");
  for (int r = 0; r < id.size; ++r) {
    if (r > 0) out.text(",");
    out.num(static_cast<size_t>(r) < id.world_ranks.size() ? id.world_ranks[static_cast<size_t>(r)]
                                                           : r);
  }
  out.text("\n");
  FlightRecorder::Record rec;
  for (uint64_t t = recorder.first_ticket(), end = recorder.end_ticket(); t < end; ++t) {
    if (!recorder.read(t, rec)) continue;
    const bool p2p = rec.seq == 0;
    out.text("op ticket=").unum(rec.ticket).text(" seq=").unum(rec.seq).text(" kind=");
    if (p2p) {
      out.text(rec.is_send ? "send" : "recv");
    } else {
      out.word(collectives::op_kind_name(static_cast<collectives::OpKind>(rec.kind)));
    }
    out.text(" dtype=").word(dtype_name(static_cast<DType>(rec.dtype)));
    out.text(" count=").unum(rec.count).text(" bytes=").unum(rec.bytes);
    out.text(" root=").num(rec.root).text(" peer=").num(rec.peer).text(" tag=").num(rec.tag);
    out.text(" algorithm=");
    if (rec.algorithm == 0) {
      out.text("-");
    } else {
      out.word(collectives::algorithm_name(static_cast<collectives::Algorithm>(rec.algorithm - 1)));
    }
    out.text(" state=").text(state_name(rec.state));
    out.text(" issued_us=").num(rec.issued_us).text(" started_us=").num(rec.started_us);
    out.text(" ended_us=").num(rec.ended_us).text("\n");
  }
}

std::atomic<uint64_t> g_dump_counter{0};

void append(char* dst, size_t room, size_t& at, std::string_view s) {
  for (const char c : s) {
    if (at + 1 >= room) break;
    dst[at++] = c;
  }
  dst[at] = '\0';
}

void append_num(char* dst, size_t room, size_t& at, uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && at + 1 < room) dst[at++] = digits[--n];
  dst[at] = '\0';
}

void read_dir_from_env() {
  const char* dir = ::getenv("BATON_FLIGHT_DIR");
  if (dir == nullptr || std::strlen(dir) + 64 >= sizeof flight::g_dir) dir = "";
  if (std::strcmp(dir, flight::g_dir) != 0) std::strcpy(flight::g_dir, dir);
}

// ---- fatal signals ----

struct Handled {
  int sig;
  const char* reason;
  bool only_if_default;  // take it over only when the program left the default
};
constexpr Handled kHandled[] = {
    {SIGSEGV, "fatal signal SIGSEGV", false}, {SIGBUS, "fatal signal SIGBUS", false},
    {SIGFPE, "fatal signal SIGFPE", false},   {SIGILL, "fatal signal SIGILL", false},
    {SIGABRT, "fatal signal SIGABRT", false}, {SIGTERM, "signal SIGTERM", true},
    {SIGINT, "signal SIGINT", true},
};
struct sigaction g_previous[std::size(kHandled)];

void on_signal(int sig) {
  for (size_t i = 0; i < std::size(kHandled); ++i) {
    if (kHandled[i].sig != sig) continue;
    const int saved = errno;
    dump_flight_records(kHandled[i].reason);
    errno = saved;
    // Act as before: the previous disposition, for this and later signals.
    ::sigaction(sig, &g_previous[i], nullptr);
    ::raise(sig);
    return;
  }
}

}  // namespace

bool dump_flight_records(const char* reason) {
  if (flight::g_dir[0] == '\0') return false;
  FlightRecorder* first = nullptr;
  for (int i = 0; i < flight::kMaxRecorders && first == nullptr; ++i)
    first = flight::recorder_at(i);
  if (first == nullptr) return false;
  const int world_rank = world_rank_of(*first);
  const auto pid = static_cast<uint64_t>(::getpid());

  char path[600];
  size_t at = 0;
  append(path, sizeof path, at, flight::g_dir);
  append(path, sizeof path, at, "/rank");
  append_num(path, sizeof path, at, static_cast<uint64_t>(world_rank < 0 ? 0 : world_rank));
  append(path, sizeof path, at, ".");
  append_num(path, sizeof path, at, pid);
  append(path, sizeof path, at, ".flight");
  char tmp[640];
  size_t tat = 0;
  append(tmp, sizeof tmp, tat, path);
  append(tmp, sizeof tmp, tat, ".tmp");
  append_num(tmp, sizeof tmp, tat, g_dump_counter.fetch_add(1));

  const int fd = ::open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = false;
  {
    Out out(fd);
    timespec wall{};
    ::clock_gettime(CLOCK_REALTIME, &wall);
    out.text("baton-flight 1\npid ").unum(pid).text("\nrank ").num(world_rank).text("\n");
    out.text("reason ").line_text(reason == nullptr ? "" : reason).text("\n");
    out.text("now_us ").num(flight_now_us()).text("\n");
    out.text("wall_us ").num(static_cast<int64_t>(wall.tv_sec) * 1000000 + wall.tv_nsec / 1000);
    out.text("\n");
    for (int i = 0; i < flight::kMaxRecorders; ++i) {
      if (const FlightRecorder* r = flight::recorder_at(i)) write_group(out, *r);
    }
    out.text("end\n");
    out.flush();
    ok = out.ok();
  }
  ::close(fd);
  if (!ok || ::rename(tmp, path) != 0) {
    ::unlink(tmp);
    return false;
  }
  return true;
}

void install_flight_signal_handlers() {
  std::lock_guard lock(flight::g_setup_mu);
  read_dir_from_env();
  // Nowhere to write: leave the program's signals alone.
  if (flight::g_handlers_installed || flight::g_dir[0] == '\0') return;
  flight::g_handlers_installed = true;
  {
    for (size_t i = 0; i < std::size(kHandled); ++i) {
      struct sigaction current {};
      if (::sigaction(kHandled[i].sig, nullptr, &current) != 0) continue;
      const bool is_default = (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL;
      if (kHandled[i].only_if_default && !is_default) continue;
      struct sigaction ours {};
      ours.sa_handler = on_signal;
      sigemptyset(&ours.sa_mask);
      ours.sa_flags = SA_RESTART;
      ::sigaction(kHandled[i].sig, &ours, &g_previous[i]);
    }
  }
}

}  // namespace baton::backends
