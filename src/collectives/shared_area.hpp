// AreaOp: one collective's use of the group's shared area
// (transport::SharedArea), for the shared_memory algorithms.
//
// It opens the collective on the area (its seq, OpDesc and deadline, which
// the area's waits check) and names buffers by rank and generation. The
// rules of the area (transport.hpp) hold for every algorithm: write your own
// buffer of generation g only after begin() returned g, publish it with
// post(kPosted, g), read a peer's buffer of g only after wait(peer, ..., g).
//
// Thread safety: one collective on one thread (as Comm).
#pragma once

#include <cstddef>
#include <cstdint>

#include "collectives/comm.hpp"

namespace baton::collectives::detail {

class AreaOp {
 public:
  using Flag = transport::SharedArea::Flag;

  // comm.shared_area() must not be null.
  explicit AreaOp(Comm& comm)
      : area_(*comm.shared_area()), rank_(comm.rank()), size_(comm.size()) {
    area_.start(comm.seq(), comm.op(), comm.deadline());
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Bytes of one buffer: the largest chunk a generation carries.
  size_t chunk_bytes() const { return area_.buffer_bytes(); }
  uint64_t begin() { return area_.begin(); }
  std::byte* mine(uint64_t generation) const { return area_.buffer(rank_, generation); }
  const std::byte* of(int rank, uint64_t generation) const {
    return area_.buffer(rank, generation);
  }
  void post(Flag flag, uint64_t generation) { area_.post(flag, generation); }
  void wait(int peer, Flag flag, uint64_t generation) { area_.wait(peer, flag, generation); }
  void wait_all(Flag flag, uint64_t generation) {
    for (int q = 0; q < size_; ++q) {
      if (q != rank_) area_.wait(q, flag, generation);
    }
  }

 private:
  transport::SharedArea& area_;
  const int rank_;
  const int size_;
};

}  // namespace baton::collectives::detail
