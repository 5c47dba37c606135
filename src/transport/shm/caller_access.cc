// ShmContext, what a waiting caller does itself: caller-driven progress
// (polling the rings on the calling thread while the progress thread steps
// aside), direct reads of a peer's memory (process_vm_readv) for the
// direct_read all_reduce, and the health checks of a wait in the shared
// area. See transport.hpp and context.hpp.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "baton/error.hpp"
#include "transport/frame.hpp"
#include "transport/shm/context.hpp"

namespace baton::transport::shm {

bool ShmContext::can_read_peer(int peer) const {
  // ring(a, b).single_copy: b's probe of process_vm_readv from a. Both
  // directions must work, so that both ranks of a pair decide alike.
  return peer >= 0 && peer < size_ && is_peer(peer) && segment_ &&
         ring(peer, rank_).single_copy.load(std::memory_order_acquire) != 0 &&
         ring(rank_, peer).single_copy.load(std::memory_order_acquire) != 0;
}

void ShmContext::read_peer(int peer, uint64_t address, std::span<std::byte> out) {
  if (!can_read_peer(peer)) {
    throw UnsupportedError(describe() + " cannot read rank " + std::to_string(peer) +
                           "'s memory (process_vm_readv not permitted or another host)");
  }
  size_t done = 0;
  while (done < out.size()) {
    struct iovec local {
      out.data() + done, out.size() - done
    };
    struct iovec remote {
      reinterpret_cast<void*>(address + done), out.size() - done
    };
    const ssize_t n = ::process_vm_readv(pids_[static_cast<size_t>(peer)], &local, 1, &remote, 1, 0);
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      throw ConnectionError(describe() + ": reading " + std::to_string(out.size()) +
                            " bytes from rank " + std::to_string(peer) + " failed (" +
                            std::strerror(e) + "); did rank " + std::to_string(peer) + " exit?");
    }
    done += static_cast<size_t>(n);
  }
}

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
    return work;
  }
  if (peer < 0 || peer >= size_ || !is_peer(peer)) return false;
  Connection& c = *peers_[static_cast<size_t>(peer)];
  work = c.drain();
  return c.push() || work;
}

std::exception_ptr ShmContext::peer_abort_error(int peer) const {
  const RankSlot& theirs = slot(peer);
  const std::string reason(theirs.abort_reason,
                           std::min<size_t>(theirs.abort_length, kAbortReasonBytes));
  const uint32_t code = theirs.abort_code;
  const ErrorCode error_code = code <= static_cast<uint32_t>(ErrorCode::kUnsupported)
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
