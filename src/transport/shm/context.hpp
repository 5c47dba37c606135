// ShmContext: the shared-memory transport's Context (one per group and rank).
//
// It owns the mapped segment, the matcher, one Connection per peer, a pidfd
// per peer and the progress thread. Construction runs setup (factory.hpp).
//
// Progress thread: polls every connection (drain the inbound ring, write
// queued sends, collect acknowledgements) and every peer's state slot; after
// ~50 µs without work (1 ms while requests are in flight) it sets its `sleeping` flag and sleeps on
// its doorbell futex (at most 20 ms, so the liveness check keeps running). Whoever gives it work (a
// peer writing into a ring, freeing ring space or acknowledging; a local thread queuing a send or
// posting a receive a waiting message fits) rings the doorbell when the flag is set.
//
// Latency path: isend writes into the ring on the calling thread when nothing
// is queued ahead; irecv posts the receive and then drains the peer's ring
// (every ring for kAnySource) on the calling thread, so a message already
// there completes the receive inline. Every request carries a Driver
// (request.hpp): a thread waiting on it polls every peer's rings itself
// (progress(kAnySource)) for BATON_SPIN_US before it sleeps, so a message
// that arrives while the receiver waits completes on the receiver's thread,
// and a collective waiting on one peer still drains and pushes the others
// (the progress thread steps aside while a caller polls).
//
// Failure policy:
//  - a peer whose state slot says closed (its context was destroyed), whose
//    pidfd says its process exited, or who wrote a malformed record fails its
//    own requests (ConnectionError / ProtocolError naming its rank) after what
//    it had completely written has been read; the other peers go on;
//  - abort(why) writes why's code and message into this rank's slot and marks
//    it aborted, fails every request, present and future, with `why`, and
//    wakes every peer; a peer that sees the mark aborts with the same error
//    type and "(rank N aborted the group)" appended, without marking itself;
//  - the destructor marks the slot closed, fails what is pending with
//    ConnectionError, wakes every peer and joins the progress thread.
//
// Thread safety: as transport.hpp (isend, irecv, abort from any thread).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "baton/store.hpp"
#include "core/fd.hpp"
#include "transport/matcher.hpp"
#include "transport/peer_watch.hpp"
#include "transport/shm/area.hpp"
#include "transport/shm/connection.hpp"
#include "transport/shm/factory.hpp"
#include "transport/shm/segment.hpp"

namespace baton::transport::shm {

namespace detail {
// A tunable given in options (> 0) or else read from `name`; InvalidArgument
// when that is not positive.
size_t positive_tunable(size_t given, const char* name);
// "0, 2, 3".
std::string rank_list(const std::vector<int>& ranks);
}  // namespace detail

class ShmContext final : public Context {
 public:
  // Sets up the segment; see make_shm_context for what it blocks on and throws.
  ShmContext(Store& store, const std::string& group_key, int rank, int size,
             const ShmOptions& options);
  ~ShmContext() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "shm"; }
  RequestPtr isend(int peer, const Envelope& envelope, std::span<const std::byte> payload) override;
  RequestPtr irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) override;
  void abort(std::exception_ptr why) override;
  // Also reads what peers wrote since: messages of an earlier operation that
  // this rank ran on the shared area, where nothing reads the rings.
  void begin_op(uint64_t seq, const OpDesc& op) override;
  // Caller-driven progress, the body of the Driver every request carries:
  // drains what peer (kAnySource: every peer) wrote and pushes what is
  // queued for it, completing requests on the calling thread, and tells the
  // progress thread to step aside while callers poll. True when it did
  // something.
  bool progress(int peer);
  // The area is the segment's: the whole group's only when the segment is.
  SharedArea* shared_area() override {
    return static_cast<int>(members_.size()) == size_ ? area_.get() : nullptr;
  }
  SharedArea* host_area() override { return area_.get(); }

  // Whether messages to `peer` of at least the threshold go by single copy
  // (process_vm_readv by the peer), as probed at setup. For tests and logs.
  bool single_copy_to(int peer) const;
  // Whether a message of `bytes` to `peer` goes by single copy; and how many
  // single-copy messages to `peer` it has copied so far. For tests.
  bool single_copy_for(int peer, size_t bytes) const;
  uint64_t single_copies_to(int peer) const;
  // The segment's name (already unlinked once setup returns). For tests.
  const std::string& segment_name() const { return segment_name_; }

 private:
  using Clock = std::chrono::steady_clock;

  void setup(Store& store, const ShmOptions& options);
  // What setup() decided, for setup_segment().
  struct SetupPlan {
    Clock::time_point started, deadline;
    size_t ring_bytes = 0, area_bytes = 0;
    bool single_copy = false;
    size_t threshold = 0;
    size_t max_single_copy = 0;  // 0: no limit
    std::string job, name_key, planned_key;
    OpFormatter describe_op = nullptr;
  };
  // Creates or opens the segment, maps it with every peer, probes them;
  // setup() unlinks the segment when this throws.
  void setup_segment(Store& store, const SetupPlan& plan, const PeerWatch& setup_watch);
  void progress_loop();       // progress thread
  bool poll();                // progress thread
  bool in_flight() const;     // progress thread: requests it must complete
  void check_liveness();      // progress thread
  void check_peer(int peer);  // progress thread
  void on_peer_failed(int peer, const std::exception_ptr& error);  // progress thread
  void on_peer_abort(int peer);                                    // progress thread
  // The error a peer's abort gives this rank: its code, its reason, "(rank N aborted the group)".
  std::exception_ptr peer_abort_error(int peer) const;
  // For a thread waiting in the shared area: throws this context's error,
  // the progress thread's verdict on `peer` (died, closed) or the peer's
  // abort. No system call (caller_access.cc).
  void check_for_caller(int peer);
  std::string describe() const;  // "rank 2 of group 'g'"
  bool is_peer(int rank) const { return rank != rank_ && local_[static_cast<size_t>(rank)] >= 0; }
  RankSlot& slot(int rank) const { return segment_->slot(local_[static_cast<size_t>(rank)]); }
  RingHeader& ring(int from, int to) const {
    return segment_->ring(local_[static_cast<size_t>(from)], local_[static_cast<size_t>(to)]);
  }

  const int rank_;
  const int size_;
  const std::string group_key_;
  Matcher matcher_;
  std::atomic<bool> failed_{false};  // set once the matcher holds a context error
  std::atomic<bool> stop_{false};
  // When a waiting thread last polled (steady clock ticks): the progress
  // thread sleeps in short slices instead of spinning while callers poll.
  std::atomic<int64_t> caller_polled_{0};
  std::mutex abort_mu_;  // orders the slot's state: aborted before closed
  std::atomic<bool> abort_sent_{false};
  // A divergence the matcher found while a ring was being read (under the
  // connection's lock, where abort() cannot run): aborted by the next poll.
  std::atomic<bool> diverged_{false};
  std::mutex divergence_mu_;
  std::exception_ptr divergence_;  // GUARDED_BY(divergence_mu_)
  void abort_if_diverged();
  // For the shared area, after a wait on `peer`: reads what the peer wrote
  // before it posted (a message of a collective this rank runs otherwise)
  // and throws the context's error, if that aborted it.
  void check_messages_from(int peer);

  // Set during setup, then read-only.
  std::vector<int> members_;  // group ranks in the segment, increasing
  std::vector<int> local_;    // by group rank: index in the segment, -1 when not a member
  std::string key_prefix_;    // "<group_key>/shm" (+ "/<first member>" for a subset)
  std::unique_ptr<Segment> segment_;
  std::string segment_name_;
  std::vector<std::unique_ptr<Connection>> peers_;  // by rank; null for self
  PeerWatch watch_;  // the peers' processes (their slots' pids), for liveness
  size_t single_copy_bytes_ = 0;
  alignas(8) volatile uint64_t probe_word_ = 0;  // read by peers' process_vm_readv probe

  // Progress thread only.
  std::vector<bool> peer_done_;  // by rank: self, not a member, failed or closed: not polled
  std::vector<int> closing_;     // by rank: polls left before a closed peer fails
  bool peer_aborted_ = false;
  Clock::time_point next_liveness_{};

  std::unique_ptr<ShmArea> area_;  // when BATON_SHM_AREA_BYTES > 0
  // Caller-driven progress for this context's requests: a thread waiting on
  // one polls progress(peer) itself. Detached first in the destructor.
  std::shared_ptr<Driver> driver_;

  std::thread progress_;  // last: joined in the destructor before anything goes away
};

}  // namespace baton::transport::shm
