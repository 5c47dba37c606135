// Matcher: pairs arriving messages with posted receives, for every transport.
//
// It implements the matching rules of transport.hpp once, so that the tcp and
// shm transports behave the same:
//  - p2p: a receive matches the oldest message from its peer (or from any
//    peer with kAnySource) with its tag; an arriving message matches the
//    oldest posted receive it fits. Messages from one peer arrive in stream
//    order, so messages between a pair with one tag keep their order.
//  - collective: a receive matches the message from its peer with the same
//    seq and tag. A message with the seq of a posted receive from the same
//    peer but another OpDesc fails that receive with MismatchError naming
//    both ranks and both descriptions; a receive posted for a seq whose
//    buffered message carries another OpDesc fails the same way.
//  - lengths: a p2p message longer than its receive buffer fails the receive
//    with MismatchError naming both sizes (a shorter one completes it with
//    its own length); a collective message must fill its buffer exactly
//    (MismatchError otherwise). Either way the message is consumed and its
//    payload discarded, so the stream stays in step.
//
// Buffering: a message that arrives before its receive is posted is copied
// into a buffer owned here (an "unexpected" message). Their total size is
// bounded (MatcherOptions::unexpected_limit, BATON_UNEXPECTED_BYTES); when an
// arriving message does not fit, on_header() answers kWait and the transport
// must stop reading that peer and call on_header() again for the same header
// after the matcher calls on_space() (a receive was posted or buffered bytes
// were released). A message larger than the whole bound therefore waits for
// its receive and lands straight in the receive's buffer.
//
// Agreement (transport.hpp, "Agreement"): begin_op() records the collective
// this rank runs, in a short history. A collective message or probe
// (kProbeTag, consumed here, never delivered) from any peer that contradicts
// it, a message for an operation this rank has finished, and a message still
// unclaimed when a later operation begins are a divergence: the matcher fails
// everything with a MismatchError naming both ranks and both operations (so
// no later message completes a receive) and calls on_divergence with it (the
// transport aborts the group, which tells the peers).
// A probe for an operation this rank has not reached yet is kept until
// begin_op() gets there. on_divergence is called without the matcher's lock,
// from the thread that found it (the progress thread, or begin_op's caller),
// and at most once.
//
// Failures: fail_peer() fails the posted receives from that peer and every
// pending kAnySource receive (the message they wait for may have been the dead
// peer's), and later receives from it or from kAnySource that no buffered
// message satisfies fail at once. Messages that arrived complete before the
// failure can still be received. fail_all() fails everything, now and later.
//
// Threads: post() is called by user threads and may complete the request
// inline (copying a buffered message); on_header/on_payload/drop by the
// thread that reads the source's stream (the transport's progress thread, or
// a caller driving it), one message at a time per source. While a Delivery
// is in flight, its target buffer belongs to that reader.
// on_space() is called without the matcher's lock held, from either thread.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "transport/request.hpp"
#include "transport/transport.hpp"

namespace baton::transport {

// Formats one rank's view of a collective for mismatch messages, e.g.
// "all_reduce #3 (float32, 1000 elements, SUM)". The collective layer knows
// the names; the transport only passes the function along.
using OpFormatter = std::string (*)(const OpDesc& op, uint64_t seq);
// The fallback: "operation kind 2 #3 (float32, 1000 elements, reduce op 0, root -1)".
std::string describe_op_raw(const OpDesc& op, uint64_t seq);

struct MatcherOptions {
  int rank = 0;
  int size = 1;
  size_t unexpected_limit = size_t{256} << 20;
  OpFormatter describe_op = nullptr;  // nullptr: describe_op_raw
  std::function<void()> on_space;     // see "Buffering" above; may be empty
  // See "Agreement" above; may be empty.
  std::function<void(std::exception_ptr)> on_divergence;
};

namespace detail {
struct Message;
}

// Where the progress thread puts the payload of the message whose header it
// just read.
struct Delivery {
  enum class Kind : uint8_t {
    kDirect,    // into a posted receive's buffer (target)
    kBuffered,  // into a buffer owned by the matcher (target)
    kDiscard,   // read and drop `length` bytes (the receive failed)
    kWait,      // stop reading this source; ask again after on_space()
  };
  Kind kind = Kind::kDiscard;
  int source = -1;
  uint64_t length = 0;
  std::span<std::byte> target;               // exactly `length` bytes for kDirect/kBuffered
  RequestPtr request;                        // kDirect
  std::shared_ptr<detail::Message> message;  // kBuffered
};

class Matcher {
 public:
  explicit Matcher(MatcherOptions options);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Posts a receive of `buffer` from `peer` (a rank, or kAnySource on the
  // p2p channel). Completes or fails `request` inline when a buffered message
  // matches or the peer or context has failed; otherwise queues it. Never
  // blocks (beyond copying a buffered message).
  void post(int peer, const Envelope& envelope, std::span<std::byte> buffer,
            const RequestPtr& request);

  // The header of a message of `length` bytes from `source` has arrived.
  // May fail posted receives (mismatch, size). Never blocks.
  Delivery on_header(int source, const Envelope& envelope, uint64_t length);
  // The payload of `delivery` has been written to its target: completes the
  // receive (or marks the buffered message complete).
  void on_payload(Delivery& delivery);
  // The payload of `delivery` will never be complete (its peer failed, or the
  // context is going down): fails the receive waiting for it.
  void drop(Delivery& delivery, const std::exception_ptr& error);

  // This rank runs collective `seq` described by `op` (see "Agreement").
  void begin_op(uint64_t seq, const OpDesc& op);
  // What this rank ran (or runs) as collective `seq`, while the history holds it.
  std::optional<OpDesc> ran(uint64_t seq) const;

  // See "Failures" above. The first error recorded for a peer wins.
  void fail_peer(int peer, const std::exception_ptr& error);
  void fail_all(const std::exception_ptr& error);
  // The error a send to `peer` fails with (the context's or the peer's), or null.
  std::exception_ptr send_error(int peer) const;
  std::exception_ptr context_error() const;

  // For tests and logs.
  size_t unexpected_bytes() const;
  size_t posted_receives() const;

 private:
  struct Posted {
    int peer;
    Envelope envelope;
    std::span<std::byte> buffer;
    RequestPtr request;
  };
  using Failures = std::vector<std::pair<RequestPtr, std::exception_ptr>>;

  // on_header() under the lock: failures and a divergence to report after it.
  Delivery on_header_locked(int source, const Envelope& envelope, uint64_t length,
                            Failures& failures, std::exception_ptr& divergence);
  static bool matches(int posted_peer, const Envelope& posted, int source, const Envelope& env);
  // Checks the length of a message for a receive; null when it fits.
  std::exception_ptr size_error(int source, const Envelope& env, uint64_t length,
                                size_t capacity) const;
  std::exception_ptr mismatch_error(const Envelope& mine, int source, const Envelope& theirs) const;
  void release_locked(detail::Message& message);
  void notify_space();
  // What this rank ran as operation `seq`, if the history still holds it.
  const OpDesc* history_locked(uint64_t seq) const;
  // The divergence (or null) that a collective message or probe from
  // `source` shows against this rank's history; consumes probes.
  std::exception_ptr check_agreement_locked(int source, const Envelope& env);
  // Reports a divergence found under the lock, once (see "Agreement").
  void diverged(std::exception_ptr error);

  struct Probe {
    int source;
    uint64_t seq;
    OpDesc op;
  };
  static constexpr size_t kHistory = 256;

  const MatcherOptions options_;
  mutable std::mutex mu_;
  std::list<Posted> posted_;  // GUARDED_BY(mu_), in post order
  // Buffered messages in arrival order, including ones still arriving that a
  // receive has already taken (Message::attached), which matching skips.
  std::list<std::shared_ptr<detail::Message>> unexpected_;  // GUARDED_BY(mu_)
  size_t unexpected_bytes_ = 0;                             // GUARDED_BY(mu_)
  std::vector<std::exception_ptr> peer_error_;              // GUARDED_BY(mu_), by rank
  std::exception_ptr any_peer_error_;                       // GUARDED_BY(mu_), first peer failure
  std::exception_ptr all_error_;                            // GUARDED_BY(mu_)
  std::vector<bool> waiting_;                               // GUARDED_BY(mu_), sources told kWait
  int waiting_count_ = 0;                                   // GUARDED_BY(mu_)
  // Agreement: the operation this rank runs (once begun_), the last kHistory
  // ones by seq % kHistory, and probes for operations not reached yet.
  bool begun_ = false;                                // GUARDED_BY(mu_)
  uint64_t current_seq_ = 0;                          // GUARDED_BY(mu_)
  std::vector<std::pair<uint64_t, OpDesc>> history_;  // GUARDED_BY(mu_)
  std::vector<Probe> early_probes_;                   // GUARDED_BY(mu_)
  bool divergence_reported_ = false;                  // GUARDED_BY(mu_)
};

}  // namespace baton::transport
