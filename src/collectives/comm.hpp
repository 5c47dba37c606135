// Comm: what a collective algorithm sees of the group while it runs one operation.
//
// Algorithms are plain functions that take a Comm and run to completion on
// the calling thread (the backend's worker thread), posting sends and
// receives and waiting for them. Every message an algorithm sends carries the
// operation's sequence number and OpDesc, so ranks that disagree about the
// operation fail with MismatchError instead of exchanging wrong data. The
// `step` of isend/irecv tells the messages of one operation apart; both
// sides must use the same step for a message.
//
// Agreement: begin() tells the transport which operation (with the
// algorithm chosen) this rank runs, before the first message; a Comm used
// without begin() (algorithm tests) tells it at its first message. A wait
// that lasts BATON_MISMATCH_CHECK sends every peer an agreement probe
// (transport.hpp), once per operation, so ranks that disagree fail with
// MismatchError within about that time even when no message of one reaches
// the other.
//
// Errors: wait() throws the request's error, or TimeoutError naming the
// operation, the operation's number and the rank it was waiting for when the
// deadline passes; wait_all() names every rank still missing. An algorithm
// that fails calls abort() before it frees its scratch buffers, so the
// transport never writes into freed memory and the peers learn of the error.
//
// Thread safety: one Comm belongs to one operation on one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "collectives/op_kind.hpp"
#include "collectives/settings.hpp"
#include "transport/transport.hpp"

namespace baton::collectives {

class Comm {
 public:
  using Clock = std::chrono::steady_clock;

  // `settings` (the group's, read once when it was set up) must outlive the
  // Comm; null reads them from the environment now (algorithm tests).
  Comm(transport::Context& context, uint64_t seq, transport::OpDesc op, Clock::time_point deadline,
       const Settings* settings = nullptr);

  // A view of this operation over some of the group's ranks, for algorithms
  // that work in stages over parts of the group (hierarchical): `members` are
  // group ranks in increasing order, this rank among them. In the view,
  // rank(), size() and every peer argument count positions in `members`,
  // messages carry step + `step_base` (so stages never match each other's
  // messages), shared_area() is `area` and errors name group ranks.
  Comm subset(std::vector<int> members, transport::SharedArea* area, int64_t step_base) const;

  int rank() const { return members_.empty() ? context_.rank() : sub_rank_; }
  int size() const {
    return members_.empty() ? context_.size() : static_cast<int>(members_.size());
  }
  OpKind kind() const { return static_cast<OpKind>(op_.kind); }
  const transport::OpDesc& op() const { return op_; }
  uint64_t seq() const { return seq_; }
  Clock::time_point deadline() const { return deadline_; }
  // The collectives' tunables (settings.hpp).
  const Settings& settings() const { return *settings_; }

  // This rank runs the operation with `algorithm` (collectives::Algorithm
  // + 1, as transport::OpDesc::algorithm); see Agreement above.
  void begin(uint8_t algorithm);

  transport::RequestPtr isend(int peer, int64_t step, std::span<const std::byte> bytes);
  transport::RequestPtr irecv(int peer, int64_t step, std::span<std::byte> bytes);
  // Waits for one request (see Errors above). `peer` is named in a timeout.
  void wait(const transport::RequestPtr& request, int peer);
  // One request and the rank it involves; a null request counts as done.
  struct Pending {
    transport::RequestPtr request;
    int peer = -1;
  };
  // Waits for every request. A request that fails ends the wait at once with
  // its error, even while earlier ones are pending; at the deadline throws
  // TimeoutError naming every rank whose request is still pending.
  void wait_all(std::span<const Pending> pending);
  // Fails every pending and future request of the group's context with `why`
  // (transport::Context::abort). Does not block.
  void abort(std::exception_ptr why);
  // The group's shared area (transport.hpp), or nullptr: what the
  // shared_memory algorithms run on.
  transport::SharedArea* shared_area() const { return area_set_ ? area_ : context_.shared_area(); }
  // The group's topology (transport.hpp, Context::hosts and host_area); whole group only.
  std::span<const int> hosts() const { return context_.hosts(); }
  transport::SharedArea* host_area() const { return context_.host_area(); }
  // Blocking conveniences.
  void send(int peer, int64_t step, std::span<const std::byte> bytes);
  void recv(int peer, int64_t step, std::span<std::byte> bytes);

  // "all_reduce #12" for messages.
  std::string describe() const;

 private:
  // Tells the transport about this operation unless begin() did.
  void ensure_begun() {
    if (!begun_) begin(op_.algorithm);
  }
  // Waits for `request` until the deadline, sending the agreement probes
  // once the wait has lasted BATON_MISMATCH_CHECK. True when it completed.
  bool wait_until_deadline(transport::Request& request, Clock::time_point until);
  // Sends every other rank of the group an agreement probe, once.
  void probe();

  // The group rank of `peer` (a position in members_ in a subset).
  int group_rank(int peer) const {
    return members_.empty() || peer < 0 || peer >= static_cast<int>(members_.size())
               ? peer
               : members_[static_cast<size_t>(peer)];
  }

  transport::Context& context_;
  std::shared_ptr<const Settings> owned_settings_;  // only when none was given
  const Settings* settings_;
  uint64_t seq_;
  transport::OpDesc op_;
  Clock::time_point deadline_;
  // A subset (see subset()); empty members_: the whole group.
  std::vector<int> members_;
  int sub_rank_ = 0;
  int64_t step_base_ = 0;
  transport::SharedArea* area_ = nullptr;
  bool area_set_ = false;
  bool begun_ = false;
  bool probed_ = false;
  Clock::time_point probe_at_{};  // when a wait sends the probes; set by the first slow wait
};

// Byte view helpers for algorithms.
inline std::span<std::byte> bytes_of(void* data, size_t n) {
  return {static_cast<std::byte*>(data), n};
}
inline std::span<const std::byte> bytes_of(const void* data, size_t n) {
  return {static_cast<const std::byte*>(data), n};
}

}  // namespace baton::collectives
