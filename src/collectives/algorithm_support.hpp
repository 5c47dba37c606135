// Building blocks shared by the algorithm files: block and segment layout,
// ring arithmetic, argument checks, ordered combination and the abort guard.
//
// Thread safety: pure functions and value types, except guarded() which
// aborts the Comm's context on failure.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <string>

#include "baton/error.hpp"
#include "collectives/algorithms.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::collectives::detail {

inline size_t ceil_div(size_t a, size_t b) {
  return (a + b - 1) / b;
}

// x mod p in [0, p) for any int x.
inline int ring_mod(int x, int p) {
  return ((x % p) + p) % p;
}

// Elements in a reduction buffer; InvalidArgument when the byte length is
// not a whole number of elements.
inline size_t element_count(size_t bytes, DType dtype, const Comm& comm) {
  const size_t esize = element_size(dtype);
  if (bytes % esize != 0) {
    throw InvalidArgument(comm.describe() + ": a buffer of " + std::to_string(bytes) +
                          " bytes is not a whole number of " + std::string(dtype_name(dtype)) +
                          " elements (" + std::to_string(esize) + " bytes each)");
  }
  return bytes / esize;
}

inline void check_root(int root, const Comm& comm) {
  if (root < 0 || root >= comm.size()) {
    throw InvalidArgument(comm.describe() + ": root " + std::to_string(root) +
                          " is not a rank of a group of " + std::to_string(comm.size()));
  }
}

inline void check_list(size_t got, const Comm& comm, const char* what) {
  if (got != static_cast<size_t>(comm.size())) {
    throw InvalidArgument(comm.describe() + ": expected " + std::to_string(comm.size()) + " " +
                          what + " (one per rank), got " + std::to_string(got));
  }
}

// `count` items cut into `parts` nearly equal consecutive blocks: the first
// count % parts blocks hold one more item. Blocks may be empty (count < parts).
struct BlockLayout {
  size_t count;
  size_t parts;
  size_t offset(size_t i) const { return i * (count / parts) + std::min(i, count % parts); }
  size_t length(size_t i) const { return count / parts + (i < count % parts ? 1 : 0); }
};

// Segment k of a block of `length` items cut in segments of `segment` items:
// [begin, begin + size); size is 0 past the block's end.
struct Segment {
  size_t begin;
  size_t size;
};
inline Segment segment_of(size_t length, size_t segment, size_t k) {
  const size_t begin = k * segment;
  if (begin >= length) return {length, 0};
  return {begin, std::min(segment, length - begin)};
}

// Items per segment for a given element size: whole elements, at least one.
inline size_t segment_items(const Tuning& tuning, size_t element_bytes) {
  return std::max<size_t>(1, tuning.segment_bytes / element_bytes);
}

// Whether two byte ranges share memory.
inline bool overlaps(ConstBytes a, ConstBytes b) {
  if (a.empty() || b.empty()) return false;
  return a.data() < b.data() + b.size() && b.data() < a.data() + a.size();
}

// Copies src into dst unless they are the same memory (memmove otherwise).
inline void copy_bytes(Bytes dst, ConstBytes src) {
  if (dst.data() != src.data() && !src.empty()) std::memmove(dst.data(), src.data(), src.size());
}

// all_gather's arguments: one output per rank, each as long as the input.
inline void check_all_gather(const Comm& comm, ConstBytes input, std::span<const Bytes> outputs) {
  check_list(outputs.size(), comm, "all_gather outputs");
  for (const Bytes& out : outputs) {
    if (out.size() != input.size()) {
      throw InvalidArgument(comm.describe() + ": every output must hold " +
                            std::to_string(input.size()) + " bytes like the input, got one of " +
                            std::to_string(out.size()));
    }
  }
}

// reduce_scatter's arguments: one input per rank, each as long as the
// output. Returns whether the output overlaps an input (then the result goes
// through scratch).
inline bool check_reduce_scatter(const Comm& comm, std::span<const ConstBytes> inputs,
                                 ConstBytes output) {
  check_list(inputs.size(), comm, "reduce_scatter inputs");
  bool overlapping = false;
  for (const ConstBytes& in : inputs) {
    if (in.size() != output.size()) {
      throw InvalidArgument(comm.describe() + ": every input must hold " +
                            std::to_string(output.size()) + " bytes like the output, got one of " +
                            std::to_string(in.size()));
    }
    overlapping = overlapping || overlaps(in, output);
  }
  return overlapping;
}

// mine = op(lower, higher) where `theirs` came from the peer: the operand of
// the lower rank goes on the left, so both partners compute the same bits.
// `theirs` is clobbered.
inline void combine_ordered(ReduceOp op, DType dtype, std::byte* mine, std::byte* theirs,
                            size_t count, bool theirs_is_lower) {
  if (count == 0) return;
  if (theirs_is_lower) {
    kernels::reduce_into(op, dtype, theirs, mine, count);
    std::memcpy(mine, theirs, count * element_size(dtype));
  } else {
    kernels::reduce_into(op, dtype, mine, theirs, count);
  }
}

// AVG's last step on a result of `count` elements.
inline void finish_average(ReduceOp op, DType dtype, std::byte* data, size_t count, int size) {
  if (op == ReduceOp::AVG && count > 0) kernels::divide(dtype, data, count, size);
}

// Runs body; if it throws, aborts the group's context with the error (so that
// no transfer into this algorithm's buffers survives it and the peers stop
// waiting) and rethrows. Call it while every scratch buffer is still alive.
template <class Body>
void guarded(Comm& comm, Body&& body) {
  try {
    body();
  } catch (...) {
    comm.abort(std::current_exception());
    throw;
  }
}

}  // namespace baton::collectives::detail
