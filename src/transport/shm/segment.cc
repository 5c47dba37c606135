// The shared-memory segment: creation, mapping, layout, rings and futexes;
// see segment.hpp.
#include "transport/shm/segment.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>

#include "baton/error.hpp"

namespace baton::transport::shm {
namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

size_t slots_offset() { return round_up(sizeof(SegmentHeader), kAlign); }
size_t rings_offset(int size) {
  return slots_offset() + round_up(sizeof(RankSlot), kAlign) * static_cast<size_t>(size);
}
size_t ring_stride(size_t ring_bytes) {
  return round_up(sizeof(RingHeader), kAlign) + round_up(ring_bytes, kAlign);
}

std::string errno_text(int error) { return std::strerror(error); }

std::string where(const std::string& name) { return "shared-memory segment /dev/shm" + name; }

size_t areas_offset(int size, size_t ring_bytes) {
  const auto rings = static_cast<size_t>(size) * static_cast<size_t>(size > 0 ? size - 1 : 0);
  return rings_offset(size) + rings * ring_stride(ring_bytes);
}

size_t area_stride(size_t area_bytes) {
  return area_bytes == 0 ? 0 : round_up(sizeof(AreaFlags), kAlign) + round_up(area_bytes, kAlign);
}

}  // namespace

size_t Segment::bytes_for(int size, size_t ring_bytes, size_t area_bytes) {
  return areas_offset(size, ring_bytes) + static_cast<size_t>(size) * area_stride(area_bytes);
}

Segment::Segment(std::string name, int size, size_t ring_bytes, size_t area_bytes, std::byte* base,
                 size_t bytes, bool owner)
    : name_(std::move(name)),
      size_(size),
      ring_bytes_(ring_bytes),
      area_bytes_(area_bytes),
      base_(base),
      bytes_(bytes),
      owner_(owner) {}

Segment::Segment(Segment&& other) noexcept
    : name_(std::move(other.name_)),
      size_(other.size_),
      ring_bytes_(other.ring_bytes_),
      area_bytes_(other.area_bytes_),
      base_(other.base_),
      bytes_(other.bytes_),
      owner_(other.owner_) {
  other.base_ = nullptr;
  other.owner_ = false;
}

Segment::~Segment() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
  unlink();
}

void Segment::unlink() {
  if (!owner_) return;
  owner_ = false;
  ::shm_unlink(name_.c_str());
}

Segment Segment::create(const std::string& name, int size, size_t ring_bytes,
                        size_t area_bytes) {
  const size_t bytes = bytes_for(size, ring_bytes, area_bytes);
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    std::string hint;
    if (e == ENOENT) hint = " (/dev/shm is missing: mount a tmpfs there, or set BATON_TRANSPORT=tcp)";
    if (e == EEXIST) hint = " (it exists already: another group with the same name and token)";
    throw IoError("cannot create " + where(name) + ": " + errno_text(e) + hint);
  }
  // Allocate every page now: a full tmpfs fails here, not with SIGBUS later.
  const int alloc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (alloc != 0) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    throw IoError("cannot allocate " + std::to_string(bytes) + " bytes for " + where(name) + ": " +
                  errno_text(alloc) +
                  (alloc == ENOSPC ? " (/dev/shm is full: free space there, lower "
                                     "BATON_SHM_RING_BYTES, or set BATON_TRANSPORT=tcp)"
                                   : ""));
  }
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_error = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    ::shm_unlink(name.c_str());
    throw IoError("cannot map " + where(name) + " (" + std::to_string(bytes) +
                  " bytes): " + errno_text(map_error));
  }
  Segment segment(name, size, ring_bytes, area_bytes, static_cast<std::byte*>(base), bytes, true);
  // tmpfs pages start zeroed: every atomic starts at 0 (kOpen, empty rings).
  for (int r = 0; r < size; ++r) new (&segment.slot(r)) RankSlot{};
  for (int from = 0; from < size; ++from) {
    for (int to = 0; to < size; ++to) {
      if (from != to) new (&segment.ring(from, to)) RingHeader{};
    }
  }
  if (area_bytes > 0) {
    for (int r = 0; r < size; ++r) new (&segment.area_flags(r)) AreaFlags{};
  }
  auto* header = reinterpret_cast<SegmentHeader*>(segment.base_);
  header->version = kSegmentVersion;
  header->size = static_cast<uint32_t>(size);
  header->ring_bytes = ring_bytes;
  header->total_bytes = bytes;
  header->area_bytes = area_bytes;
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = kSegmentMagic;
  return segment;
}

Segment Segment::open(const std::string& name, int size, size_t ring_bytes, size_t area_bytes) {
  const size_t bytes = bytes_for(size, ring_bytes, area_bytes);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    throw IoError("cannot open " + where(name) + ": " + errno_text(e) +
                  (e == ENOENT ? " (it is gone: rank 0 failed or unlinked it, or /dev/shm is "
                                 "not shared between the ranks)"
                               : ""));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != bytes) {
    ::close(fd);
    throw ProtocolError(where(name) + " has " + std::to_string(st.st_size) + " bytes, expected " +
                        std::to_string(bytes) + " for " + std::to_string(size) +
                        " ranks, rings of " + std::to_string(ring_bytes) +
                        " bytes and shared areas of " + std::to_string(area_bytes) +
                        " bytes (do all ranks have the same BATON_SHM_* settings?)");
  }
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_error = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    throw IoError("cannot map " + where(name) + ": " + errno_text(map_error));
  }
  Segment segment(name, size, ring_bytes, area_bytes, static_cast<std::byte*>(base), bytes, false);
  const auto* header = reinterpret_cast<const SegmentHeader*>(segment.base_);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (header->magic != kSegmentMagic || header->version != kSegmentVersion ||
      header->size != static_cast<uint32_t>(size) || header->ring_bytes != ring_bytes ||
      header->area_bytes != area_bytes) {
    throw ProtocolError(where(name) + " has an unexpected header (version " +
                        std::to_string(header->version) + ", " + std::to_string(header->size) +
                        " ranks, rings of " + std::to_string(header->ring_bytes) +
                        " bytes); expected version " + std::to_string(kSegmentVersion) + ", " +
                        std::to_string(size) + " ranks, rings of " + std::to_string(ring_bytes));
  }
  return segment;
}

RankSlot& Segment::slot(int rank) const {
  return *reinterpret_cast<RankSlot*>(base_ + slots_offset() +
                                      round_up(sizeof(RankSlot), kAlign) *
                                          static_cast<size_t>(rank));
}

size_t Segment::area_offset(int rank) const {
  return areas_offset(size_, ring_bytes_) + area_stride(area_bytes_) * static_cast<size_t>(rank);
}

AreaFlags& Segment::area_flags(int rank) const {
  return *reinterpret_cast<AreaFlags*>(base_ + area_offset(rank));
}

std::byte* Segment::area(int rank) const {
  return base_ + area_offset(rank) + round_up(sizeof(AreaFlags), kAlign);
}

size_t Segment::ring_offset(int from, int to) const {
  const int index = from * (size_ - 1) + (to < from ? to : to - 1);
  return rings_offset(size_) + ring_stride(ring_bytes_) * static_cast<size_t>(index);
}

RingHeader& Segment::ring(int from, int to) const {
  return *reinterpret_cast<RingHeader*>(base_ + ring_offset(from, to));
}

std::byte* Segment::ring_data(int from, int to) const {
  return base_ + ring_offset(from, to) + round_up(sizeof(RingHeader), kAlign);
}

void ring_write(std::byte* data, size_t capacity, uint64_t pos, const std::byte* src, size_t n) {
  const auto at = static_cast<size_t>(pos % capacity);
  const size_t first = std::min(n, capacity - at);
  std::memcpy(data + at, src, first);
  if (first < n) std::memcpy(data, src + first, n - first);
}

void ring_read(const std::byte* data, size_t capacity, uint64_t pos, std::byte* dst, size_t n) {
  const auto at = static_cast<size_t>(pos % capacity);
  const size_t first = std::min(n, capacity - at);
  std::memcpy(dst, data + at, first);
  if (first < n) std::memcpy(dst + first, data, n - first);
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, std::chrono::microseconds timeout) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr,
            0);
}

void ring_doorbell(RankSlot& slot) {
  slot.doorbell.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(slot.doorbell);
}

void notify(RankSlot& slot) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (slot.sleeping.load(std::memory_order_relaxed) != 0) ring_doorbell(slot);
}

}  // namespace baton::transport::shm
