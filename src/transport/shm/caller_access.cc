// ShmContext, what a waiting caller does itself: caller-driven progress
// (polling the rings on the calling thread while the progress thread steps
// aside) and the health checks of a wait in the shared area. See
// transport.hpp and context.hpp.

#include <algorithm>
#include <chrono>
#include <string>

#include "baton/error.hpp"
#include "transport/frame.hpp"
#include "transport/shm/context.hpp"

namespace baton::transport::shm {

bool ShmContext::progress(int peer) {
  caller_polled_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  bool work = false;
  if (peer == kAnySource) {
    for (int p = 0; p < size_; ++p) {
      if (!is_peer(p)) continue;
      Connection& c = *peers_[static_cast<size_t>(p)];
      work = c.drain() || work;
      work = c.push() || work;
    }
    abort_if_diverged();
    return work;
  }
  if (peer < 0 || peer >= size_ || !is_peer(peer)) return false;
  Connection& c = *peers_[static_cast<size_t>(peer)];
  work = c.drain();
  work = c.push() || work;
  abort_if_diverged();
  return work;
}

void ShmContext::begin_op(uint64_t seq, const OpDesc& op) {
  matcher_.begin_op(seq, op);
  for (int p = 0; p < size_; ++p) {
    if (is_peer(p) && peers_[static_cast<size_t>(p)]->has_input()) {
      peers_[static_cast<size_t>(p)]->drain();
    }
  }
  abort_if_diverged();
}

void ShmContext::check_messages_from(int peer) {
  if (!is_peer(peer)) return;
  Connection& c = *peers_[static_cast<size_t>(peer)];
  if (!c.has_input()) return;
  const bool failed_before = matcher_.context_error() != nullptr;
  c.drain();
  abort_if_diverged();
  // Only a divergence this drain found ends it: the wait got what it needed,
  // so a peer that closed or aborted since then is the next operation's error.
  if (failed_before) return;
  if (auto error = matcher_.context_error()) std::rethrow_exception(error);
}

std::exception_ptr ShmContext::peer_abort_error(int peer) const {
  const RankSlot& theirs = slot(peer);
  const std::string reason(theirs.abort_reason,
                           std::min<size_t>(theirs.abort_length, kAbortReasonBytes));
  const uint32_t code = theirs.abort_code;
  const ErrorCode error_code = code <= static_cast<uint32_t>(kLastErrorCode)
                                   ? static_cast<ErrorCode>(code)
                                   : ErrorCode::kInternal;
  return make_error(error_code, reason + " (rank " + std::to_string(peer) + " aborted the group)");
}

void ShmContext::check_for_caller(int peer) {
  // The progress thread is the one judge of liveness (pidfds, closed slots,
  // malformed records): its verdict on `peer` is the matcher's error for it.
  // An abort is read straight from the peer's slot, so it ends the wait at
  // once rather than when the progress thread next looks.
  if (auto error = matcher_.send_error(peer)) std::rethrow_exception(error);
  if (static_cast<PeerState>(slot(peer).state.load(std::memory_order_acquire)) ==
      PeerState::kAborted) {
    std::rethrow_exception(peer_abort_error(peer));
  }
}

}  // namespace baton::transport::shm
