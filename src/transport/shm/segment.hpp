// Segment: the POSIX shared-memory segment that the ranks of one host share
// for one group, and the layout inside it (docs/wire_protocol.md, "Shared
// memory").
//
// Layout (every part aligned to 64 bytes, so no two writers share a cache line):
//   SegmentHeader                      magic, version, world size, ring bytes
//   RankSlot  x size                   per rank: doorbell (futex word), sleeping
//                                      flag, state (open/closed/aborted), pid,
//                                      the abort reason, the single-copy probe
//   (RingHeader + ring_bytes) x size*(size-1)
//                                      one ring per ordered pair (from, to)
//   (AreaFlags + area_bytes) x size    per rank: the shared area of the
//                                      shared-memory collectives (area.hpp);
//                                      absent when area_bytes is 0
// A ring is a single-producer/single-consumer byte stream: the sender (from)
// alone advances `head`, the receiver (to) alone advances `tail` and `acked`.
// Records (Record, 64 bytes) and payload bytes follow each other in the
// stream and wrap around the end of the ring.
//
// Rank 0 creates the segment (shm_open O_EXCL + posix_fallocate, so a full
// /dev/shm is an IoError at once rather than a SIGBUS later); the others open
// it by name; rank 0 unlinks it as soon as every rank has mapped it.
//
// Thread safety: Segment is immutable after construction; what lives inside
// it is accessed through atomics (the rules above say who writes what).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace baton::transport::shm {

inline constexpr uint64_t kSegmentMagic = 0x314d48534e544142ull;  // "BATNSHM1"
inline constexpr uint32_t kSegmentVersion = 3;                    // 3: records carry the algorithm
inline constexpr size_t kRecordBytes = 64;
inline constexpr size_t kAbortReasonBytes = 4096;

// RankSlot::state.
enum class PeerState : uint32_t { kOpen = 0, kClosed = 1, kAborted = 2 };

// Record::kind.
enum class RecordKind : uint32_t {
  kData = 1,        // `length` payload bytes follow in the ring
  kSingleCopy = 2,  // the payload stays in the sender: `length` bytes at `address`
};

// One message's header in a ring (64 bytes, host byte order: both ends share a kernel).
struct Record {
  uint32_t kind = 0;  // RecordKind
  uint8_t channel = 0;
  uint8_t op_kind = 0;
  uint8_t dtype = 0;
  uint8_t reduce_op = 0;
  int32_t root = -1;
  uint8_t algorithm = 0;
  uint8_t reserved[3] = {};
  uint64_t seq = 0;
  int64_t tag = 0;
  uint64_t count = 0;
  uint64_t length = 0;
  uint64_t address = 0;  // kSingleCopy: the payload's address in the sender
  uint64_t reserved2 = 0;
};
static_assert(sizeof(Record) == kRecordBytes);

struct SegmentHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t size;
  uint64_t ring_bytes;
  uint64_t total_bytes;
  uint64_t area_bytes;
};

struct alignas(64) RankSlot {
  // Bumped (then FUTEX_WAKE) by whoever gives this rank's progress thread work.
  alignas(64) std::atomic<uint32_t> doorbell;
  // 1 while this rank's progress thread sleeps (or is about to) on doorbell.
  alignas(64) std::atomic<uint32_t> sleeping;
  alignas(64) std::atomic<uint32_t> state;  // PeerState
  int32_t pid;
  uint64_t probe_address;  // an 8-byte word in this process holding probe_value
  uint64_t probe_value;
  uint32_t abort_code;    // ErrorCode, valid once state is kAborted
  uint32_t abort_length;  // bytes of abort_reason
  char abort_reason[kAbortReasonBytes];
};

struct alignas(64) RingHeader {
  alignas(64) std::atomic<uint64_t> head;   // bytes written by the sender, ever
  alignas(64) std::atomic<uint64_t> tail;   // bytes consumed by the receiver, ever
  alignas(64) std::atomic<uint64_t> acked;  // kSingleCopy records the receiver finished
  // Set by the receiver at setup: 1 when it can process_vm_readv the sender.
  std::atomic<uint32_t> single_copy;
};

// The flags of one rank's shared area, written by that rank alone (area.hpp).
struct alignas(64) AreaFlags {
  // Generation numbers (low 32 bits) this rank has reached; futex words.
  std::atomic<uint32_t> posted;
  std::atomic<uint32_t> reduced;
  // Peers asleep (or about to sleep) on these words: a post wakes them.
  alignas(64) std::atomic<uint32_t> sleepers;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

class Segment {
 public:
  // Creates (rank 0) the segment `name` ("/baton-...") for `size` ranks.
  // Throws IoError naming /dev/shm when it is missing or cannot hold the
  // segment, or when the name exists already.
  // `area_bytes`: bytes of each rank's shared area (0: none).
  static Segment create(const std::string& name, int size, size_t ring_bytes,
                        size_t area_bytes = 0);
  // Opens and maps an existing segment; checks its header. IoError when it
  // cannot be opened; ProtocolError when its header disagrees.
  static Segment open(const std::string& name, int size, size_t ring_bytes, size_t area_bytes = 0);

  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&&) = delete;
  ~Segment();  // unmaps; unlinks too if this process created it and has not unlinked yet

  // Removes the name from /dev/shm (the mapping stays). Idempotent.
  void unlink();
  const std::string& name() const { return name_; }

  RankSlot& slot(int rank) const;
  RingHeader& ring(int from, int to) const;
  std::byte* ring_data(int from, int to) const;
  size_t ring_bytes() const { return ring_bytes_; }
  // A rank's shared area (area_bytes() > 0 only): its flags and its bytes.
  AreaFlags& area_flags(int rank) const;
  std::byte* area(int rank) const;
  size_t area_bytes() const { return area_bytes_; }

  // The bytes a segment for `size` ranks with rings of `ring_bytes` and
  // shared areas of `area_bytes` needs.
  static size_t bytes_for(int size, size_t ring_bytes, size_t area_bytes = 0);

 private:
  Segment(std::string name, int size, size_t ring_bytes, size_t area_bytes, std::byte* base,
          size_t bytes, bool owner);
  size_t ring_offset(int from, int to) const;
  size_t area_offset(int rank) const;

  std::string name_;
  int size_ = 0;
  size_t ring_bytes_ = 0;
  size_t area_bytes_ = 0;
  std::byte* base_ = nullptr;
  size_t bytes_ = 0;
  bool owner_ = false;  // created it and has not unlinked it yet
};

// Copies into / out of a ring's data area at stream position `pos`, wrapping.
void ring_write(std::byte* data, size_t capacity, uint64_t pos, const std::byte* src, size_t n);
void ring_read(const std::byte* data, size_t capacity, uint64_t pos, std::byte* dst, size_t n);

// Futex on a word in shared memory (not FUTEX_PRIVATE: other processes wake it).
// Waits while *word == expected, at most `timeout`; returns on wake, timeout or signal.
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, std::chrono::microseconds timeout);
void futex_wake_all(std::atomic<uint32_t>& word);

// Wakes `slot`'s progress thread if it sleeps. Call after publishing work
// (a fence orders the publication before the check; see docs/thread_model.md).
void notify(RankSlot& slot);
// Wakes it whether or not it sleeps.
void ring_doorbell(RankSlot& slot);

}  // namespace baton::transport::shm
