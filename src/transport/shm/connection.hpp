// Connection: this rank's two rings with one peer of the same host.
//
// Sending (any thread): send() queues the message on the outbound ring's
// queue; when the queue was empty the calling thread writes at once, so a
// small message goes out without a hop through the progress thread. A
// message between the single-copy bounds (BATON_SHM_SINGLE_COPY_BYTES and
// BATON_SHM_SINGLE_COPY_MAX_BYTES: above it the pipelined ring is faster than
// process_vm_readv), to a peer that can
// process_vm_readv this process (probed at setup), goes as a kSingleCopy
// record carrying its address: the receiver copies it straight from the
// sender's buffer into its own and then advances the ring's `acked` counter,
// which completes the send; at most two such messages per peer are
// announced ahead of their acknowledgements. Any other message is copied through the ring in
// chunks of a quarter ring, published one by one so that the receiver copies
// out while the sender copies in (the pipelined double copy). An inline send
// completes when its last byte is in the ring.
//
// Receiving (any thread, one at a time): drain() reads records from the
// inbound ring and hands them to the Matcher exactly as the tcp transport
// does with frames (on_header, then the payload into the Delivery's target,
// then on_payload). When the matcher says kWait, the record stays unread
// and drain() asks again next time. Whoever holds the inbound lock drains:
// the progress thread, or a user thread in irecv (the latency path).
//
// Failure: fail() fails every queued and unacknowledged send and the
// receive being filled, and turns later sends into failures at once.
//
// Thread safety: every method may be called from any thread; the inbound and
// outbound sides each have their own lock (inbound before outbound when both
// are held).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <utility>

#include "transport/matcher.hpp"
#include "transport/request.hpp"
#include "transport/shm/segment.hpp"
#include "transport/transport.hpp"

namespace baton::transport::shm {

class Connection {
 public:
  struct Options {
    int rank = 0;  // group ranks (in messages, the matcher, envelope checks)
    int peer = 0;
    int size = 1;
    pid_t peer_pid = 0;
    size_t single_copy_bytes = 0;      // 0: never single copy to this peer
    size_t single_copy_max_bytes = 0;  // larger messages go through the ring; 0: no limit
    // The two ranks' indices in the segment (their places among its members).
    int self_index = 0;
    int peer_index = 0;
  };
  Connection(const Segment& segment, Matcher& matcher, Options options);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues a message; writes what fits at once when nothing is queued ahead.
  void send(const Envelope& envelope, std::span<const std::byte> payload,
            const RequestPtr& request);
  // Writes queued messages and completes acknowledged single-copy sends.
  // Returns true when it did something; false when there was nothing to do
  // or another thread holds the lock (that thread makes the progress: a
  // poller should relax, not spin hot against a copy under way).
  bool push();
  // Reads what the peer has written. Returns true when it did something;
  // false when there was nothing, or another thread is reading (see
  // reading()). Throws nothing: a malformed record or a failed copy is
  // reported through failure().
  bool drain();
  // Whether another thread is inside drain() now.
  bool reading() const;
  // Whether the peer wrote bytes this side has not consumed yet. Two loads,
  // no lock: for a caller deciding whether a drain() is worth it.
  bool has_input() const {
    return in_ring_.head.load(std::memory_order_acquire) !=
           in_ring_.tail.load(std::memory_order_relaxed);
  }
  // The error drain() or push() ran into (ProtocolError, ConnectionError), or null.
  std::exception_ptr failure() const;
  // Sends queued or waiting for an acknowledgement.
  bool sending() const;
  void fail(const std::exception_ptr& error);

  int peer() const { return options_.peer; }
  // Whether a message of `bytes` goes by single copy (else through the ring).
  bool single_copy_for(size_t bytes) const {
    return options_.single_copy_bytes > 0 && bytes >= options_.single_copy_bytes &&
           (options_.single_copy_max_bytes == 0 || bytes <= options_.single_copy_max_bytes);
  }
  // Single-copy messages the peer has copied so far (the ring's counter). For tests.
  uint64_t single_copies_acknowledged() const {
    return out_ring_.acked.load(std::memory_order_acquire);
  }

 private:
  struct Outgoing {
    Record record;
    std::span<const std::byte> payload;
    RequestPtr request;
    bool header_written = false;
    size_t done = 0;
  };
  bool push_locked();       // out_mu_ held
  bool read_single_copy();  // in_mu_ held
  void set_failure(std::exception_ptr error);

  const Options options_;
  Matcher& matcher_;
  RankSlot& peer_slot_;
  RankSlot& self_slot_;
  RingHeader& out_ring_;
  std::byte* const out_data_;
  RingHeader& in_ring_;
  const std::byte* const in_data_;
  const size_t capacity_;

  mutable std::mutex out_mu_;
  std::deque<Outgoing> out_queue_;  // GUARDED_BY(out_mu_)
  // Single-copy sends not yet acknowledged, with their sizes.
  std::deque<std::pair<RequestPtr, size_t>> out_awaiting_;  // GUARDED_BY(out_mu_)
  uint64_t out_head_ = 0;                                   // GUARDED_BY(out_mu_)
  uint64_t acked_seen_ = 0;                                 // GUARDED_BY(out_mu_)
  std::exception_ptr out_error_;                            // GUARDED_BY(out_mu_)

  mutable std::mutex in_mu_;
  uint64_t in_tail_ = 0;      // GUARDED_BY(in_mu_)
  bool have_record_ = false;  // GUARDED_BY(in_mu_): record_ read, its payload not finished
  bool delivered_ = false;    // GUARDED_BY(in_mu_): the matcher placed record_
  Record record_{};           // GUARDED_BY(in_mu_)
  Delivery delivery_;         // GUARDED_BY(in_mu_)
  uint64_t in_done_ = 0;      // GUARDED_BY(in_mu_): payload bytes copied
  bool in_closed_ = false;    // GUARDED_BY(in_mu_)

  mutable std::mutex error_mu_;
  std::exception_ptr failure_;  // GUARDED_BY(error_mu_)
};

}  // namespace baton::transport::shm
