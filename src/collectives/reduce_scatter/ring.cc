// reduce_scatter, ring rank -> rank + 1, pipelined in segments.
//
// Pattern: block b is every rank's inputs[b]. In step s (0 <= s < p-1) rank
// r sends its partial result of block r-s-1 (its own inputs[r-1] at s = 0)
// to r+1 and receives the partial result of block r-s-2 from r-1, combining
// its own inputs[r-s-2] into it; after p-1 steps the block received is block
// r with every rank's contribution, and it lands in output. Blocks are cut
// into segments of at most Tuning::segment_bytes; a segment goes on as soon
// as it is reduced and the receives for the next Tuning::pipeline_depth
// segments stay posted while one is reduced.
//
// Steps: p-1 (times the segments, pipelined).
// Bytes sent per rank: (p-1) * n, where n is the output size.
// Reduction: block b is folded along the ring starting at rank b+1, always in
// the same order. Scratch: two partial blocks (2n bytes).
// n == 0 still exchanges empty messages (a dissemination round) so that
// ranks that disagree about the operation are caught.
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void reduce_scatter_ring(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, DType dtype,
                         ReduceOp op, const Tuning& tuning) {
  using detail::ring_mod;
  const bool through_scratch = detail::check_reduce_scatter(comm, inputs, output);
  const size_t count = detail::element_count(output.size(), dtype, comm);
  const size_t esize = element_size(dtype);
  const int p = comm.size();
  const int r = comm.rank();
  if (p == 1) {
    detail::copy_bytes(output, inputs[0]);  // AVG over one rank divides by 1
    return;
  }
  if (count == 0) {
    barrier_dissemination(comm);
    return;
  }

  const size_t seg = detail::segment_items(tuning, esize);
  const size_t nseg = detail::ceil_div(count, seg);
  const size_t units = static_cast<size_t>(p - 1) * nseg;  // unit u = step * nseg + segment
  const size_t depth = std::clamp<size_t>(tuning.pipeline_depth, 1, nseg);
  const int right = ring_mod(r + 1, p);
  const int left = ring_mod(r - 1, p);
  const size_t last = static_cast<size_t>(p - 2);

  std::vector<std::byte> partials(2 * output.size());
  auto partial = [&](size_t step) {
    return Bytes(partials).subspan((step % 2) * output.size(), output.size());
  };
  auto piece = [&](auto block, size_t u) {
    const detail::Segment sg = detail::segment_of(count, seg, u % nseg);
    return block.subspan(sg.begin * esize, sg.size * esize);
  };
  auto input = [&](int b) { return inputs[static_cast<size_t>(ring_mod(b, p))]; };
  // Where the partial result of unit u's step is accumulated.
  auto target = [&](size_t step) {
    return step == last && !through_scratch ? output : partial(step);
  };

  detail::guarded(comm, [&] {
    std::vector<transport::RequestPtr> sends(units);
    std::vector<transport::RequestPtr> recvs(units);
    auto post_send = [&](size_t u) {
      const size_t s = u / nseg;
      const ConstBytes from =
          s == 0 ? piece(input(r - 1), u) : ConstBytes(piece(partial(s - 1), u));
      sends[u] = comm.isend(right, static_cast<int64_t>(u), from);
    };
    auto post_recv = [&](size_t u) {
      const size_t s = u / nseg;
      // The send of step s-1 read this partial buffer's segment.
      if (s >= 2 && !(s == last && !through_scratch)) comm.wait(sends[u - nseg], right);
      recvs[u] = comm.irecv(left, static_cast<int64_t>(u), piece(target(s), u));
    };

    for (size_t u = 0; u < nseg; ++u) post_send(u);
    for (size_t u = 0; u < depth && u < units; ++u) post_recv(u);
    for (size_t u = 0; u < units; ++u) {
      const size_t s = u / nseg;
      comm.wait(recvs[u], left);
      recvs[u].reset();
      const Bytes acc = piece(target(s), u);
      kernels::reduce_into(op, dtype, acc.data(),
                           piece(input(r - static_cast<int>(s) - 2), u).data(), acc.size() / esize);
      if (u + depth < units) post_recv(u + depth);
      if (u + nseg < units) post_send(u + nseg);
    }
    std::vector<Comm::Pending> pending;
    for (auto& s : sends) pending.push_back({std::move(s), right});
    comm.wait_all(pending);
  });
  if (through_scratch) std::memcpy(output.data(), partial(last).data(), output.size());
  detail::finish_average(op, dtype, output.data(), count, p);
}

}  // namespace baton::collectives
