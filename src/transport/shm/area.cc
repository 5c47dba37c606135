// ShmArea: buffers, flags and waiting of the shared area; see area.hpp.
#include "transport/shm/area.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "baton/error.hpp"
#include "core/spin.hpp"

namespace baton::transport::shm {
namespace {

constexpr size_t kAlign = 64;
constexpr auto kSleepSlice = std::chrono::milliseconds(1);
// Polls between looks at the clock and at the peer's health.
constexpr unsigned kPollsPerCheck = 128;
// How long a rank that found a peer past its operation waits for that peer's
// own verdict (which can name both operations) before giving its own.
constexpr auto kVerdictWait = std::chrono::milliseconds(200);

size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

bool reached(uint32_t value, uint64_t generation) {
  return static_cast<int32_t>(value - static_cast<uint32_t>(generation)) >= 0;
}

const char* flag_name(SharedArea::Flag flag) {
  return flag == SharedArea::Flag::kPosted ? "its data" : "its reduced block";
}

}  // namespace

size_t area_bytes_for(size_t buffer_bytes) {
  if (buffer_bytes == 0) return 0;
  return static_cast<size_t>(kAreaBuffers) * (kAreaHeaderBytes + round_up(buffer_bytes));
}

ShmArea::ShmArea(const Segment& segment, std::vector<int> members, int index, Hooks hooks)
    : members_(std::move(members)),
      rank_(index),
      size_(static_cast<int>(members_.size())),
      buffer_bytes_(segment.area_bytes() / kAreaBuffers - kAreaHeaderBytes),
      oversubscribed_(spin::oversubscribed(size_)),
      hooks_(std::move(hooks)),
      posted_(static_cast<size_t>(size_), 0),
      verified_(static_cast<size_t>(size_), 0) {
  static_assert(sizeof(Header) <= kAreaHeaderBytes);
  for (int r = 0; r < size_; ++r) {
    areas_.push_back(segment.area(r));
    flags_.push_back(&segment.area_flags(r));
  }
}

void ShmArea::start(uint64_t seq, const OpDesc& op, Clock::time_point deadline) {
  seq_ = seq;
  op_ = op;
  deadline_ = deadline;
  probed_ = false;
  for (int q = 0; q < size_; ++q) {
    if (q != rank_) hooks_.check(members_[static_cast<size_t>(q)]);
  }
}

ShmArea::Header& ShmArea::header(int rank, uint64_t generation) const {
  const size_t stride = kAreaHeaderBytes + buffer_bytes_;
  return *reinterpret_cast<Header*>(areas_[static_cast<size_t>(rank)] +
                                    (generation % kAreaBuffers) * stride);
}

std::byte* ShmArea::buffer(int rank, uint64_t generation) const {
  return reinterpret_cast<std::byte*>(&header(rank, generation)) + kAreaHeaderBytes;
}

std::atomic<uint32_t>& ShmArea::word(int rank, Flag flag) const {
  AreaFlags& flags = *flags_[static_cast<size_t>(rank)];
  return flag == Flag::kPosted ? flags.posted : flags.reduced;
}

uint64_t ShmArea::begin() {
  const uint64_t generation = ++generation_;
  if (generation >= kAreaBuffers) {
    // The buffer was last used kAreaBuffers generations ago: every peer must
    // be past it (posted a later one) before it is overwritten.
    const uint64_t needed = generation - kAreaBuffers + 1;
    for (int q = 0; q < size_; ++q) {
      if (q == rank_ || posted_[static_cast<size_t>(q)] >= needed) continue;
      await(q, Flag::kPosted, needed);
      posted_[static_cast<size_t>(q)] = needed;
    }
  }
  Header& mine = header(rank_, generation);
  mine.seq = seq_;
  mine.op = op_;
  return generation;
}

void ShmArea::verify(int peer, uint64_t generation) {
  verified_[static_cast<size_t>(peer)] = generation;
  const Header& theirs = header(peer, generation);
  const Header& mine = header(rank_, generation);
  if (theirs.seq == mine.seq && theirs.op == mine.op) return;
  const int them = members_[static_cast<size_t>(peer)];
  if (theirs.seq > mine.seq && hooks_.probe) {
    // The peer is past this operation: it ran it otherwise, perhaps by
    // messages. Its transport knows what; ask it, and give its verdict (which
    // names both operations) a moment to arrive as its abort.
    hooks_.probe(mine.seq, mine.op);
    const auto until = std::min(deadline_, Clock::now() + kVerdictWait);
    while (Clock::now() < until) {
      hooks_.check(them);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const OpFormatter name = hooks_.describe_op ? hooks_.describe_op : describe_op_raw;
  std::string me = "rank " + std::to_string(members_[static_cast<size_t>(rank_)]) +
                   (mine.seq == seq_ ? " runs " : " ran ") + name(mine.op, mine.seq);
  if (theirs.seq < mine.seq && hooks_.ran) {
    // This rank is past the peer's operation: say what it ran as that one.
    if (auto past = hooks_.ran(theirs.seq)) {
      me = "rank " + std::to_string(members_[static_cast<size_t>(rank_)]) + " ran " +
           name(*past, theirs.seq);
    }
  }
  throw MismatchError(me + " but rank " + std::to_string(them) + " runs " +
                      name(theirs.op, theirs.seq) + " (shared-memory collective)");
}

void ShmArea::verify_peers_before_post(uint64_t generation) {
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    const auto i = static_cast<size_t>(q);
    for (uint64_t g = generation > 1 ? generation - 1 : 1; g <= generation; ++g) {
      if (verified_[i] >= g) continue;
      if (posted_[i] < g) {
        if (!reached(word(q, Flag::kPosted).load(std::memory_order_acquire), g)) break;
        posted_[i] = g;
      }
      verify(q, g);
    }
  }
}

void ShmArea::post(Flag flag, uint64_t generation) {
  if (flag == Flag::kPosted) verify_peers_before_post(generation);
  std::atomic<uint32_t>& w = word(rank_, flag);
  // seq_cst: ordered before the look at `sleepers` (a waiter increments it,
  // then reads the flag; one of the two sees the other).
  w.store(static_cast<uint32_t>(generation), std::memory_order_seq_cst);
  if (flags_[static_cast<size_t>(rank_)]->sleepers.load(std::memory_order_seq_cst) != 0) {
    futex_wake_all(w);
  }
}

void ShmArea::wait(int peer, Flag flag, uint64_t generation) {
  const auto q = static_cast<size_t>(peer);
  if (flag != Flag::kPosted || posted_[q] < generation) {
    await(peer, flag, generation);
    if (flag == Flag::kPosted) posted_[q] = generation;
  }
  if (hooks_.after_wait) hooks_.after_wait(members_[q]);
  if (flag == Flag::kPosted && verified_[q] < generation) verify(peer, generation);
}

void ShmArea::await(int peer, Flag flag, uint64_t generation) {
  std::atomic<uint32_t>& w = word(peer, flag);
  if (reached(w.load(std::memory_order_acquire), generation)) return;
  // Whether the peer failed (hooks_.check throws its error). A peer may
  // publish the flag, finish the collective and close its context between
  // this thread's look at the flag and the check: it did its part, so the
  // flag decides, and only a flag still missing makes its failure this wait's.
  const int member = members_[static_cast<size_t>(peer)];
  auto check_peer = [&] {
    try {
      hooks_.check(member);
    } catch (...) {
      if (reached(w.load(std::memory_order_acquire), generation)) return true;
      throw;
    }
    return false;
  };
  const auto spin_until = std::min(deadline_, Clock::now() + spin::spin_duration());
  for (unsigned polls = 1;; ++polls) {
    if (reached(w.load(std::memory_order_acquire), generation)) return;
    if (oversubscribed_) {
      ::sched_yield();
    } else {
      spin::cpu_relax();
    }
    if (polls % kPollsPerCheck != 0) continue;
    const auto now = Clock::now();
    if (hooks_.caller_polled) {
      hooks_.caller_polled->store(now.time_since_epoch().count(), std::memory_order_relaxed);
    }
    if (check_peer()) return;
    if (now >= spin_until) break;
  }
  // Sleep on the flag, announced in the peer's `sleepers` (see post()).
  std::atomic<uint32_t>& sleepers = flags_[static_cast<size_t>(peer)]->sleepers;
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  struct Leave {
    std::atomic<uint32_t>& count;
    ~Leave() { count.fetch_sub(1, std::memory_order_seq_cst); }
  } leave{sleepers};
  const auto probe_at = Clock::now() + hooks_.mismatch_check;
  for (;;) {
    const uint32_t value = w.load(std::memory_order_seq_cst);
    if (reached(value, generation)) return;
    if (check_peer()) return;
    const auto now = Clock::now();
    if (now >= deadline_) timed_out(peer, flag, generation);
    if (!probed_ && hooks_.probe && hooks_.mismatch_check.count() > 0 && now >= probe_at) {
      probed_ = true;
      hooks_.probe(seq_, op_);
    }
    futex_wait(w, value, kSleepSlice);
  }
}

std::string ShmArea::describe() const {
  const OpFormatter name = hooks_.describe_op ? hooks_.describe_op : describe_op_raw;
  return name(op_, seq_);
}

void ShmArea::timed_out(int peer, Flag flag, uint64_t generation) const {
  const uint32_t at = word(peer, flag).load(std::memory_order_acquire);
  const std::string me = std::to_string(members_[static_cast<size_t>(rank_)]);
  const std::string them = std::to_string(members_[static_cast<size_t>(peer)]);
  throw TimeoutError(describe() + " on rank " + me + " timed out waiting for rank " + them +
                     " to publish " + flag_name(flag) + " in shared memory (step " +
                     std::to_string(generation) + ", rank " + them + " is at step " +
                     std::to_string(at) + ")");
}

}  // namespace baton::transport::shm
