// One peer's rings: sends through the outbound ring, receives from the
// inbound one; see connection.hpp.
#include "transport/shm/connection.hpp"

#include <signal.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "baton/error.hpp"
#include "transport/frame.hpp"

namespace baton::transport::shm {
namespace {

// Single-copy messages a sender lets run ahead of the receiver's
// acknowledgements. Like the ring's space for copied messages, this keeps a
// pipelined collective from announcing segments long before their receives
// are posted (which would make the receiver buffer and copy them twice).
constexpr size_t kSingleCopyInFlight = 2;

Record make_record(const Envelope& e, std::span<const std::byte> payload, bool single_copy) {
  Record r;
  r.kind = static_cast<uint32_t>(single_copy ? RecordKind::kSingleCopy : RecordKind::kData);
  r.channel = static_cast<uint8_t>(e.channel);
  r.op_kind = e.op.kind;
  r.dtype = e.op.dtype;
  r.reduce_op = e.op.reduce_op;
  r.root = e.op.root;
  r.algorithm = e.op.algorithm;
  r.seq = e.seq;
  r.tag = e.tag;
  r.count = e.op.count;
  r.length = payload.size();
  r.address = single_copy ? reinterpret_cast<uint64_t>(payload.data()) : 0;
  return r;
}

Envelope envelope_of(const Record& r) {
  Envelope e;
  e.channel = static_cast<Channel>(r.channel);
  e.seq = r.seq;
  e.tag = r.tag;
  e.op.kind = r.op_kind;
  e.op.dtype = r.dtype;
  e.op.reduce_op = r.reduce_op;
  e.op.root = r.root;
  e.op.count = r.count;
  e.op.algorithm = r.algorithm;
  return e;
}

}  // namespace

Connection::Connection(const Segment& segment, Matcher& matcher, Options options)
    : options_(options),
      matcher_(matcher),
      peer_slot_(segment.slot(options.peer_index)),
      self_slot_(segment.slot(options.self_index)),
      out_ring_(segment.ring(options.self_index, options.peer_index)),
      out_data_(segment.ring_data(options.self_index, options.peer_index)),
      in_ring_(segment.ring(options.peer_index, options.self_index)),
      in_data_(segment.ring_data(options.peer_index, options.self_index)),
      capacity_(segment.ring_bytes()) {}

// ---------------------------------------------------------------- sending

void Connection::send(const Envelope& envelope, std::span<const std::byte> payload,
                      const RequestPtr& request) {
  const bool single_copy = single_copy_for(payload.size());
  std::lock_guard lock(out_mu_);
  if (out_error_) {
    request->fail(out_error_);
    return;
  }
  out_queue_.push_back(Outgoing{make_record(envelope, payload, single_copy), payload, request});
  if (out_queue_.size() == 1) {
    push_locked();
  }
  if (!out_queue_.empty()) notify(self_slot_);  // the progress thread writes the rest
}

bool Connection::push() {
  std::unique_lock lock(out_mu_, std::try_to_lock);
  if (!lock) return false;  // the holder writes
  return push_locked();
}

bool Connection::push_locked() {
  bool progress = false;
  // Acknowledged single-copy sends: the receiver has copied them.
  const uint64_t acked = out_ring_.acked.load(std::memory_order_acquire);
  while (acked_seen_ < acked && !out_awaiting_.empty()) {
    out_awaiting_.front().first->complete(options_.peer, out_awaiting_.front().second);
    out_awaiting_.pop_front();
    ++acked_seen_;
    progress = true;
  }
  if (out_queue_.empty() || out_error_) return progress;
  uint64_t tail = out_ring_.tail.load(std::memory_order_acquire);
  const uint64_t start = out_head_;
  const size_t chunk = std::max<size_t>(capacity_ / 4, kRecordBytes);
  while (!out_queue_.empty()) {
    Outgoing& o = out_queue_.front();
    if (!o.header_written) {
      if (o.record.kind == static_cast<uint32_t>(RecordKind::kSingleCopy) &&
          out_awaiting_.size() >= kSingleCopyInFlight) {
        break;  // pushed on when an acknowledgement arrives
      }
      if (capacity_ - (out_head_ - tail) < kRecordBytes) {
        tail = out_ring_.tail.load(std::memory_order_acquire);
        if (capacity_ - (out_head_ - tail) < kRecordBytes) break;
      }
      ring_write(out_data_, capacity_, out_head_, reinterpret_cast<const std::byte*>(&o.record),
                 kRecordBytes);
      out_head_ += kRecordBytes;
      o.header_written = true;
      if (o.record.kind == static_cast<uint32_t>(RecordKind::kSingleCopy)) {
        // Completes when the receiver acknowledges (see the top of this function).
        out_awaiting_.emplace_back(std::move(o.request), o.payload.size());
        out_queue_.pop_front();
        continue;
      }
    }
    const size_t remaining = o.payload.size() - o.done;
    size_t space = capacity_ - static_cast<size_t>(out_head_ - tail);
    if (space == 0 && remaining > 0) {
      out_ring_.head.store(out_head_, std::memory_order_release);
      tail = out_ring_.tail.load(std::memory_order_acquire);
      space = capacity_ - static_cast<size_t>(out_head_ - tail);
      if (space == 0) break;
    }
    const size_t n = std::min({remaining, space, chunk});
    if (n > 0) {
      ring_write(out_data_, capacity_, out_head_, o.payload.data() + o.done, n);
      out_head_ += n;
      o.done += n;
    }
    if (o.done == o.payload.size()) {
      o.request->complete(options_.peer, o.payload.size());
      out_queue_.pop_front();
    } else {
      // Publish each chunk so that the receiver copies out while we copy in.
      out_ring_.head.store(out_head_, std::memory_order_release);
      notify(peer_slot_);
    }
  }
  if (out_head_ != start) {
    out_ring_.head.store(out_head_, std::memory_order_release);
    notify(peer_slot_);
    progress = true;
  }
  return progress;
}

// ---------------------------------------------------------------- receiving

bool Connection::reading() const {
  std::unique_lock lock(in_mu_, std::try_to_lock);
  return !lock.owns_lock();
}

bool Connection::drain() {
  std::unique_lock lock(in_mu_, std::try_to_lock);
  if (!lock) return false;  // the holder reads
  if (in_closed_) return false;
  bool progress = false;
  const uint64_t first_tail = in_tail_;
  for (;;) {
    const uint64_t head = in_ring_.head.load(std::memory_order_acquire);
    if (!have_record_) {
      if (head - in_tail_ < kRecordBytes) break;
      ring_read(in_data_, capacity_, in_tail_, reinterpret_cast<std::byte*>(&record_),
                kRecordBytes);
      in_tail_ += kRecordBytes;
      have_record_ = true;
      delivered_ = false;
      in_done_ = 0;
      progress = true;
      const Envelope env = envelope_of(record_);
      std::string problem;
      if (record_.kind != static_cast<uint32_t>(RecordKind::kData) &&
          record_.kind != static_cast<uint32_t>(RecordKind::kSingleCopy)) {
        problem = "unknown record kind " + std::to_string(record_.kind);
      } else if (record_.channel != static_cast<uint8_t>(Channel::kP2P) &&
                 record_.channel != static_cast<uint8_t>(Channel::kCollective)) {
        problem = "unknown channel " + std::to_string(record_.channel);
      } else {
        problem = envelope_problem(env, options_.size);
      }
      if (!problem.empty()) {
        in_closed_ = true;
        set_failure(std::make_exception_ptr(
            ProtocolError("rank " + std::to_string(options_.peer) +
                          " wrote a malformed record into its shared-memory ring: " + problem)));
        break;
      }
    }
    if (!delivered_) {
      delivery_ = matcher_.on_header(options_.peer, envelope_of(record_), record_.length);
      if (delivery_.kind == Delivery::Kind::kWait) break;  // asked again next time
      delivered_ = true;
    }
    if (record_.kind == static_cast<uint32_t>(RecordKind::kSingleCopy)) {
      if (!read_single_copy()) break;
      progress = true;
      continue;
    }
    const uint64_t remaining = record_.length - in_done_;
    const auto n = static_cast<size_t>(std::min<uint64_t>(head - in_tail_, remaining));
    if (n == 0 && remaining > 0) break;
    if (n > 0) {
      if (delivery_.kind == Delivery::Kind::kDirect ||
          delivery_.kind == Delivery::Kind::kBuffered) {
        ring_read(in_data_, capacity_, in_tail_, delivery_.target.data() + in_done_, n);
      }
      in_tail_ += n;
      in_done_ += n;
      // Free the space at once: a sender of a long message is waiting for it.
      in_ring_.tail.store(in_tail_, std::memory_order_release);
      notify(peer_slot_);
      progress = true;
    }
    if (in_done_ == record_.length) {
      have_record_ = false;
      Delivery d = std::move(delivery_);
      delivery_ = Delivery{};
      matcher_.on_payload(d);
    }
  }
  if (in_tail_ != first_tail) {
    in_ring_.tail.store(in_tail_, std::memory_order_release);
    notify(peer_slot_);
  }
  return progress;
}

bool Connection::read_single_copy() {
  const bool wanted =
      delivery_.kind == Delivery::Kind::kDirect || delivery_.kind == Delivery::Kind::kBuffered;
  std::string error;
  if (wanted && record_.length > 0) {
    size_t done = 0;
    while (done < record_.length) {
      struct iovec local {
        delivery_.target.data() + done, static_cast<size_t>(record_.length) - done
      };
      struct iovec remote {
        reinterpret_cast<void*>(record_.address + done), static_cast<size_t>(record_.length) - done
      };
      const ssize_t n = ::process_vm_readv(options_.peer_pid, &local, 1, &remote, 1, 0);
      if (n <= 0) {
        error = std::string("process_vm_readv failed: ") + std::strerror(n < 0 ? errno : EIO);
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  // A peer that closed, aborted or died before we finished may have freed
  // the buffer: keep the delivery pending and stop reading; the context
  // fails it with that peer's own error (its abort reason, or "closed" /
  // "died") when it handles the peer's state.
  const bool gone =
      peer_slot_.state.load(std::memory_order_acquire) != static_cast<uint32_t>(PeerState::kOpen) ||
      (!error.empty() && ::kill(options_.peer_pid, 0) != 0 && errno == ESRCH);
  if (gone) {
    in_closed_ = true;
    return false;
  }
  have_record_ = false;
  Delivery d = std::move(delivery_);
  delivery_ = Delivery{};
  if (!error.empty()) {
    auto e = std::make_exception_ptr(
        ConnectionError("rank " + std::to_string(options_.rank) + " could not copy a " +
                        std::to_string(record_.length) + "-byte message from rank " +
                        std::to_string(options_.peer) + ": " + error));
    matcher_.drop(d, e);
    in_closed_ = true;
    set_failure(e);
    return false;
  }
  matcher_.on_payload(d);
  in_ring_.tail.store(in_tail_, std::memory_order_release);
  in_ring_.acked.fetch_add(1, std::memory_order_release);
  notify(peer_slot_);
  return true;
}

// ---------------------------------------------------------------- failure

void Connection::set_failure(std::exception_ptr error) {
  std::lock_guard lock(error_mu_);
  if (!failure_) failure_ = std::move(error);
}

std::exception_ptr Connection::failure() const {
  std::lock_guard lock(error_mu_);
  return failure_;
}

bool Connection::sending() const {
  std::lock_guard lock(out_mu_);
  return !out_queue_.empty() || !out_awaiting_.empty();
}

void Connection::fail(const std::exception_ptr& error) {
  {
    std::lock_guard lock(in_mu_);
    in_closed_ = true;
    if (have_record_ && delivered_) matcher_.drop(delivery_, error);
    have_record_ = false;
    delivery_ = Delivery{};
  }
  std::deque<Outgoing> queue;
  std::deque<std::pair<RequestPtr, size_t>> awaiting;
  {
    std::lock_guard lock(out_mu_);
    if (!out_error_) out_error_ = error;
    queue.swap(out_queue_);
    awaiting.swap(out_awaiting_);
  }
  for (auto& o : queue) o.request->fail(error);
  for (auto& a : awaiting) a.first->fail(error);
}

}  // namespace baton::transport::shm
