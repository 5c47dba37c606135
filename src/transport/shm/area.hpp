// ShmArea: the shared-memory transport's SharedArea (transport.hpp): the
// per-rank buffers and flags at the end of the group's segment.
//
// Each rank's area (segment.hpp, AreaFlags + area bytes) holds kAreaBuffers
// buffers; each starts with a 64-byte header (the seq and OpDesc of the
// collective that wrote it) and then buffer_bytes() of data.
//
// Waiting: a waiter polls the peer's flag, pausing the core between polls
// (yielding it instead when the host's ranks outnumber its cores), for up to
// BATON_SPIN_US; then it sleeps on the flag (a futex) in 1 ms slices,
// announcing itself in the peer's `sleepers` so that the peer's post wakes
// it. Every few hundred polls, and on every wake, it checks the deadline and
// the peer (ShmArea::Hooks::check: died or closed as the context's progress
// thread found it, aborted, this context failed). start() checks every peer
// once, so a collective on a group that a peer has aborted fails even when no
// wait would block.
//
// Thread safety: one collective at a time per group, on one thread (the
// context's progress thread never touches the area).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "transport/matcher.hpp"
#include "transport/shm/segment.hpp"
#include "transport/transport.hpp"

namespace baton::transport::shm {

inline constexpr int kAreaBuffers = 16;
inline constexpr size_t kAreaHeaderBytes = 64;

// Bytes of a rank's area for buffers of `buffer_bytes` (0 for 0).
size_t area_bytes_for(size_t buffer_bytes);

class ShmArea final : public SharedArea {
 public:
  struct Hooks {
    // Throws the error that ends a wait on `peer` (its death or close as the
    // progress thread found it, its abort, this rank's context failing);
    // returns when all is well. Cheap: called every few hundred polls.
    std::function<void(int peer)> check;
    // Names collectives in errors.
    OpFormatter describe_op = nullptr;
    // Stamped (steady clock ticks) while waiting: the progress thread steps aside.
    std::atomic<int64_t>* caller_polled = nullptr;
    // Asks the peers whether they run collective `seq` as `op` (agreement
    // probes, transport.hpp); called once per collective whose wait has slept
    // for `mismatch_check` (0: never).
    std::function<void(uint64_t seq, const OpDesc& op)> probe;
    std::chrono::milliseconds mismatch_check{0};
    // After a wait on `peer` returned: looks at the messages the peer sent
    // before it posted (a collective it runs otherwise, by messages) and
    // throws if that shows a divergence. May be empty.
    std::function<void(int peer)> after_wait;
    // What this rank ran as collective `seq`, if known (for messages).
    std::function<std::optional<OpDesc>(uint64_t seq)> ran;
  };

  // `segment` holds one area per member; `members[i]` is the group rank of
  // member i (increasing), `index` this rank's position. The area's ranks
  // (buffer(), wait()) are positions; checks and messages name group ranks.
  ShmArea(const Segment& segment, std::vector<int> members, int index, Hooks hooks);

  int buffers() const override { return kAreaBuffers; }
  size_t buffer_bytes() const override { return buffer_bytes_; }
  void start(uint64_t seq, const OpDesc& op, Clock::time_point deadline) override;
  uint64_t begin() override;
  std::byte* buffer(int rank, uint64_t generation) const override;
  void post(Flag flag, uint64_t generation) override;
  void wait(int peer, Flag flag, uint64_t generation) override;

 private:
  struct Header {
    uint64_t seq;
    OpDesc op;
  };
  Header& header(int rank, uint64_t generation) const;
  std::atomic<uint32_t>& word(int rank, Flag flag) const;
  // Polls, then sleeps, until `peer`'s flag reaches `generation`.
  void await(int peer, Flag flag, uint64_t generation);
  [[noreturn]] void timed_out(int peer, Flag flag, uint64_t generation) const;
  // Compares `peer`'s header of `generation` with this rank's (MismatchError
  // when they differ); `peer` must have posted it.
  void verify(int peer, uint64_t generation);
  // Before this rank posts `generation`: verifies each peer's headers of the
  // generation before (and of this one) that the peer has posted and no wait
  // verified; while this rank has not posted `generation`, no peer can reuse
  // those buffers. So each pair compares every generation, one side or the other.
  void verify_peers_before_post(uint64_t generation);
  std::string describe() const;

  const std::vector<int> members_;
  const int rank_;
  const int size_;
  const size_t buffer_bytes_;
  const bool oversubscribed_;
  Hooks hooks_;
  std::vector<std::byte*> areas_;   // by rank: its area's first buffer
  std::vector<AreaFlags*> flags_;   // by rank
  uint64_t generation_ = 0;         // the last generation begun
  std::vector<uint64_t> posted_;    // by rank: a generation it is known to have posted
  std::vector<uint64_t> verified_;  // by rank: the last generation whose header was compared
  bool probed_ = false;             // this collective sent its agreement probes
  uint64_t seq_ = 0;
  OpDesc op_{};
  Clock::time_point deadline_{};
};

}  // namespace baton::transport::shm
