// reduce_scatter, shared memory (ranks of one host with a shared area).
//
// Pattern, per chunk of the output (generation g; a buffer holds p pieces of
// the chunk, piece q for rank q): every rank copies the chunk of inputs[q]
// into piece q of its buffer for every q != rank and posts g; once every peer
// has posted g it folds, in rank order, piece `rank` of every peer's buffer
// and its own inputs[rank] (kernels::reduce_n) into its output. An output
// that overlaps an input is written through scratch, so no input changes
// before it has been read.
//
// Bytes per rank: (p-1)/p * p n = (p-1) * n copied in, (p-1) * n read to
// reduce. Steps: 1 synchronisation per chunk, no messages.
#include <algorithm>
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "collectives/shared_area.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::collectives {

void reduce_scatter_shared_memory(Comm& comm, std::span<const ConstBytes> inputs, Bytes output,
                                  DType dtype, ReduceOp op) {
  const bool through_scratch = detail::check_reduce_scatter(comm, inputs, output);
  const size_t count = detail::element_count(output.size(), dtype, comm);
  const size_t esize = element_size(dtype);
  const int p = comm.size();
  const int r = comm.rank();
  if (p == 1) {
    detail::copy_bytes(output, inputs[0]);  // AVG over one rank divides by 1
    return;
  }
  std::vector<std::byte> scratch(through_scratch ? output.size() : 0);
  const Bytes result = through_scratch ? Bytes(scratch) : output;

  detail::AreaOp area(comm);
  using Flag = detail::AreaOp::Flag;
  const size_t piece = std::max<size_t>(1, area.chunk_bytes() / esize / static_cast<size_t>(p));
  const size_t piece_bytes = piece * esize;
  std::vector<const void*> operands(static_cast<size_t>(p));
  size_t at = 0;
  do {
    const size_t n = std::min(piece, count - at);
    const size_t offset = at * esize;
    const uint64_t g = area.begin();
    std::byte* mine = area.mine(g);
    for (int q = 0; q < p; ++q) {
      if (q != r && n > 0) {
        std::memcpy(mine + static_cast<size_t>(q) * piece_bytes,
                    inputs[static_cast<size_t>(q)].data() + offset, n * esize);
      }
    }
    area.post(Flag::kPosted, g);
    area.wait_all(Flag::kPosted, g);
    for (int q = 0; q < p; ++q) {
      operands[static_cast<size_t>(q)] =
          q == r ? inputs[static_cast<size_t>(r)].data() + offset
                 : area.of(q, g) + static_cast<size_t>(r) * piece_bytes;
    }
    if (n > 0) kernels::reduce_n(op, dtype, result.data() + offset, operands, n);
    at += n;
  } while (at < count);
  if (through_scratch) std::memcpy(output.data(), scratch.data(), output.size());
  detail::finish_average(op, dtype, output.data(), count, p);
}

}  // namespace baton::collectives
