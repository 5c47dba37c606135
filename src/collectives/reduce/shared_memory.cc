// reduce, shared memory (ranks of one host with a shared area).
//
// Pattern, per chunk of at most one area buffer (generation g): every rank
// but the root copies its chunk into its buffer and posts g; the root posts
// g, waits for every peer and folds the p chunks in rank order
// (kernels::reduce_n, its own straight from its data) into its data.
//
// Bytes per rank: n copied in (non-roots); the root reads (p-1) * n.
// Steps: 1 synchronisation per chunk, no messages.
#include <algorithm>
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "collectives/shared_area.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::collectives {

void reduce_shared_memory(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root) {
  detail::check_root(root, comm);
  const size_t count = detail::element_count(data.size(), dtype, comm);
  if (comm.size() == 1) {
    detail::finish_average(op, dtype, data.data(), count, 1);
    return;
  }
  detail::AreaOp area(comm);
  using Flag = detail::AreaOp::Flag;
  const int p = comm.size();
  const size_t esize = element_size(dtype);
  const size_t capacity = std::max<size_t>(1, area.chunk_bytes() / esize);
  std::vector<const void*> inputs(static_cast<size_t>(p));
  size_t at = 0;
  do {
    const size_t n = std::min(capacity, count - at);
    std::byte* base = data.data() + at * esize;
    const uint64_t g = area.begin();
    if (comm.rank() != root) {
      if (n > 0) std::memcpy(area.mine(g), base, n * esize);
      area.post(Flag::kPosted, g);
    } else {
      area.post(Flag::kPosted, g);
      area.wait_all(Flag::kPosted, g);
      for (int q = 0; q < p; ++q) {
        inputs[static_cast<size_t>(q)] = q == root ? base : area.of(q, g);
      }
      if (n > 0) kernels::reduce_n(op, dtype, base, inputs, n);
    }
    at += n;
  } while (at < count);
  if (comm.rank() == root) detail::finish_average(op, dtype, data.data(), count, p);
}

}  // namespace baton::collectives
