// FlightRecorder: recording and the process-wide registry; the dump writer
// is flight_dump.cc.
#include "backends/flight_recorder.hpp"

#include <time.h>

#include <algorithm>
#include <bit>

#include "backends/flight_registry.hpp"
#include "core/config.hpp"

namespace baton::backends {

int64_t flight_now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::shared_ptr<FlightRecorder> FlightRecorder::make(Identity identity, size_t entries) {
  if (entries == 0) {
    const int64_t configured = config::get_int("BATON_FLIGHT_RECORDER_ENTRIES");
    if (configured <= 0) return nullptr;
    entries = static_cast<size_t>(std::min<int64_t>(configured, int64_t{1} << 20));
  }
  // A power of two: the ring is indexed by a mask, not a division.
  entries = std::bit_ceil(entries);
  return std::shared_ptr<FlightRecorder>(new FlightRecorder(std::move(identity), entries));
}

FlightRecorder::FlightRecorder(Identity identity, size_t entries)
    : identity_(std::move(identity)), entries_(new Entry[entries]), capacity_(entries) {
  install_flight_signal_handlers();
  registry_slot_ = flight::register_recorder(this);
}

FlightRecorder::~FlightRecorder() {
  flight::unregister_recorder(registry_slot_, this);
}

uint64_t FlightRecorder::issued(const FlightOp& op, FlightState state) {
  const uint64_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
  Entry& e = entries_[ticket & (capacity_ - 1)];
  e.ticket.store(0, std::memory_order_relaxed);  // a reader skips it while it changes
  e.seq.store(op.seq, std::memory_order_relaxed);
  e.count.store(op.desc.count, std::memory_order_relaxed);
  e.bytes.store(op.bytes, std::memory_order_relaxed);
  e.packed.store(uint32_t{op.desc.kind} | uint32_t{op.desc.dtype} << 8 |
                     uint32_t{op.desc.reduce_op} << 16 | uint32_t{op.is_send} << 24,
                 std::memory_order_relaxed);
  e.root.store(op.desc.root, std::memory_order_relaxed);
  e.peer.store(op.peer, std::memory_order_relaxed);
  e.tag.store(op.tag, std::memory_order_relaxed);
  e.algorithm.store(0, std::memory_order_relaxed);
  const int64_t now = flight_now_us();
  e.issued_us.store(now, std::memory_order_relaxed);
  e.started_us.store(state == FlightState::kStarted ? now : 0, std::memory_order_relaxed);
  e.ended_us.store(0, std::memory_order_relaxed);
  e.state.store(static_cast<uint8_t>(state), std::memory_order_relaxed);
  e.ticket.store(ticket, std::memory_order_release);
  return ticket;
}

FlightRecorder::Entry* FlightRecorder::find(uint64_t ticket) {
  Entry& e = entries_[ticket & (capacity_ - 1)];
  // Overwritten by capacity() later operations: nothing to update.
  return e.ticket.load(std::memory_order_relaxed) == ticket ? &e : nullptr;
}

void FlightRecorder::started(uint64_t ticket) {
  if (Entry* e = find(ticket)) {
    e->started_us.store(flight_now_us(), std::memory_order_relaxed);
    e->state.store(static_cast<uint8_t>(FlightState::kStarted), std::memory_order_release);
  }
}

void FlightRecorder::ended(uint64_t ticket, bool ok, uint8_t algorithm) {
  if (Entry* e = find(ticket)) {
    e->algorithm.store(algorithm, std::memory_order_relaxed);
    // A success is not timed: one clock read fewer per operation (the
    // report needs when pending and failed operations began and ended).
    if (!ok) e->ended_us.store(flight_now_us(), std::memory_order_relaxed);
    e->state.store(static_cast<uint8_t>(ok ? FlightState::kCompleted : FlightState::kFailed),
                   std::memory_order_release);
  }
}

uint64_t FlightRecorder::first_ticket() const {
  const uint64_t next = end_ticket();
  return next > capacity_ ? next - capacity_ : 1;
}

bool FlightRecorder::read(uint64_t t, Record& r) const {
  const Entry& e = entries_[t & (capacity_ - 1)];
  if (e.ticket.load(std::memory_order_acquire) != t) return false;  // being rewritten
  r.ticket = t;
  r.seq = e.seq.load(std::memory_order_relaxed);
  const uint32_t packed = e.packed.load(std::memory_order_relaxed);
  r.kind = static_cast<uint8_t>(packed);
  r.dtype = static_cast<uint8_t>(packed >> 8);
  r.reduce_op = static_cast<uint8_t>(packed >> 16);
  r.is_send = ((packed >> 24) & 1) != 0;
  r.algorithm = e.algorithm.load(std::memory_order_relaxed);
  r.state = static_cast<FlightState>(e.state.load(std::memory_order_acquire));
  r.root = e.root.load(std::memory_order_relaxed);
  r.peer = e.peer.load(std::memory_order_relaxed);
  r.tag = e.tag.load(std::memory_order_relaxed);
  r.count = e.count.load(std::memory_order_relaxed);
  r.bytes = e.bytes.load(std::memory_order_relaxed);
  r.issued_us = e.issued_us.load(std::memory_order_relaxed);
  r.started_us = e.started_us.load(std::memory_order_relaxed);
  r.ended_us = e.ended_us.load(std::memory_order_relaxed);
  return e.ticket.load(std::memory_order_acquire) == t;
}

std::vector<FlightRecorder::Record> FlightRecorder::snapshot() const {
  std::vector<Record> out;
  for (uint64_t t = first_ticket(), end = end_ticket(); t < end; ++t) {
    Record r;
    if (read(t, r)) out.push_back(r);
  }
  return out;
}

}  // namespace baton::backends
