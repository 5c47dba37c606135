// FlightRecorder: the last operations of one group on this rank, always on,
// in memory, written out when something goes wrong (docs/observability.md).
//
// Each group of the native backend keeps a fixed ring of
// BATON_FLIGHT_RECORDER_ENTRIES entries (default 512; 0 turns it off): per
// operation its sequence number, kind, dtype, element count, bytes, root or
// peer and tag, the algorithm that ran, its state (issued, started,
// completed, failed; point-to-point: posted, completed) and when it was
// issued, started and (when it failed) ended. Recording costs a few relaxed
// atomic stores and one read of the coarse monotonic clock per operation
// (two for a queued one); there is no lock, allocation or I/O on the hot
// path (baton-flight-bench measures it).
//
// Dumps: dump_flight_records() writes every live recorder of the process to
// BATON_FLIGHT_DIR/rank<R>.<pid>.flight (R: the world rank; nothing when
// the variable is unset). The native backend calls it when a group fails
// (a timeout, an abort, a dead peer); install_flight_signal_handlers() makes
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT and (where the program left it at
// its default) SIGTERM dump first and then act as before. The writer is
// async-signal-safe: fixed buffers, write(2), names from static tables. The
// format (a line-based text, "baton-flight 1") is in docs/observability.md;
// launch/flight_report.hpp reads it.
//
// Thread safety: issued/started/ended may be called from any thread, also
// concurrently with a dump (which then may show an entry half updated).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "transport/transport.hpp"

namespace baton::backends {

enum class FlightState : uint8_t {
  kEmpty = 0,
  kIssued = 1,     // a collective queued or about to run
  kStarted = 2,    // a collective running
  kCompleted = 3,  // done, successfully
  kFailed = 4,     // done, with an error
  kPosted = 5,     // a send or receive handed to the transport, not yet done
};

// What is recorded of one operation when it is issued.
struct FlightOp {
  uint64_t seq = 0;        // the collective's sequence number; 0 for point-to-point
  transport::OpDesc desc;  // kind, dtype, reduce op, root, count
  uint64_t bytes = 0;      // this rank's payload
  int32_t peer = -1;       // point-to-point: the other rank (-1: any)
  int32_t tag = 0;         // point-to-point tag
  bool is_send = false;    // point-to-point direction
};

class FlightRecorder {
 public:
  struct Identity {
    std::string group_name;  // "world", "group 1"
    int rank = 0;            // group rank
    int size = 1;
    std::vector<int> world_ranks;  // per group rank (empty: 0 .. size-1)
    std::string transport;         // "shm", "tcp", "shm+tcp"
  };

  // A recorder of `entries` operations (0: BATON_FLIGHT_RECORDER_ENTRIES),
  // rounded up to a power of two, registered for dumps until destroyed.
  // nullptr when recording is off.
  static std::shared_ptr<FlightRecorder> make(Identity identity, size_t entries = 0);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  // Records a new operation; returns its ticket for the calls below.
  uint64_t issued(const FlightOp& op, FlightState state = FlightState::kIssued);
  void started(uint64_t ticket);
  // `algorithm`: collectives::Algorithm + 1, 0 when none (point-to-point).
  void ended(uint64_t ticket, bool ok, uint8_t algorithm = 0);

  const Identity& identity() const { return identity_; }
  size_t capacity() const { return capacity_; }

  // A copy of one entry, oldest first in snapshot(); for tests and the
  // writer.
  struct Record {
    uint64_t ticket = 0;
    uint64_t seq = 0;
    uint8_t kind = 0, dtype = 0, reduce_op = 0, algorithm = 0;
    FlightState state = FlightState::kEmpty;
    bool is_send = false;
    int32_t root = -1, peer = -1, tag = 0;
    uint64_t count = 0, bytes = 0;
    int64_t issued_us = 0, started_us = 0, ended_us = 0;  // coarse monotonic clock
  };
  std::vector<Record> snapshot() const;
  // Without allocating (the dump writer): the tickets still held are
  // [first_ticket(), end_ticket()); read() fills `out` and returns true
  // unless that entry is being rewritten.
  uint64_t first_ticket() const;
  uint64_t end_ticket() const { return next_.load(std::memory_order_acquire); }
  bool read(uint64_t ticket, Record& out) const;

 private:
  struct Entry {
    std::atomic<uint64_t> ticket{0};  // 0: never used
    std::atomic<uint64_t> seq{0}, count{0}, bytes{0};
    std::atomic<uint32_t> packed{0};  // kind | dtype << 8 | reduce_op << 16 | is_send << 24
    std::atomic<int32_t> root{-1}, peer{-1}, tag{0};
    std::atomic<uint8_t> state{0}, algorithm{0};
    std::atomic<int64_t> issued_us{0}, started_us{0}, ended_us{0};
  };

  FlightRecorder(Identity identity, size_t entries);
  Entry* find(uint64_t ticket);

  const Identity identity_;
  std::unique_ptr<Entry[]> entries_;
  size_t capacity_ = 0;
  std::atomic<uint64_t> next_{1};
  int registry_slot_ = -1;
};

// The coarse monotonic clock in microseconds (a few ns to read; ms steps).
int64_t flight_now_us();

// Writes every registered recorder to BATON_FLIGHT_DIR (see above), with
// `reason` (one line; newlines become spaces). Returns whether a file was
// written. Async-signal-safe when `reason` is a static string; the dump path
// is read from the environment whenever a recorder is made.
bool dump_flight_records(const char* reason);
// Re-reads BATON_FLIGHT_DIR; the first time it is set, installs the signal
// handlers. Called whenever a recorder is made.
void install_flight_signal_handlers();

}  // namespace baton::backends
