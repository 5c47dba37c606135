// all_reduce, ring: reduce-scatter then all-gather around the ring
// rank -> rank + 1, pipelined in segments.
//
// Pattern: the buffer is cut into p blocks (block i holds count/p elements,
// the first count%p blocks one more; blocks may be empty when count < p) and
// every block into segments of at most Tuning::segment_bytes. In
// reduce-scatter step s (0 <= s < p-1) rank r sends block r-s to r+1 and
// receives block r-s-1 from r-1, reducing it into its own copy; after p-1
// steps rank r holds the full result of block r+1. In all-gather step t
// (0 <= t < p-1) rank r sends block r+1-t and receives block r-t straight
// into the buffer. Each (step, segment) is one message; a segment is
// forwarded as soon as it is reduced or received, and the receives for the
// next Tuning::pipeline_depth segments stay posted while one is reduced, so
// reducing one segment overlaps the transfer of the next.
//
// Steps: 2(p-1) (times the segments per block, pipelined).
// Bytes sent per rank: 2(p-1)/p * n, in 2(p-1) * ceil(n/p / segment) messages.
// Reduction: each block is reduced along the ring starting at its owner + 1,
// always in the same order, and every rank receives the same bits.
// count == 0 still exchanges empty messages (a dissemination round) so that
// ranks that disagree about the operation are caught.
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void all_reduce_ring(Comm& comm, Bytes data, DType dtype, ReduceOp op, const Tuning& tuning) {
  using detail::ring_mod;
  const int p = comm.size();
  const int r = comm.rank();
  const size_t count = detail::element_count(data.size(), dtype, comm);
  const size_t esize = element_size(dtype);
  if (p == 1) return;  // AVG over one rank divides by 1
  if (count == 0) {
    barrier_dissemination(comm);
    return;
  }

  const detail::BlockLayout blocks{count, static_cast<size_t>(p)};
  const size_t seg = detail::segment_items(tuning, esize);
  const size_t nseg = detail::ceil_div(blocks.length(0), seg);  // block 0 is the longest
  const size_t rs_steps = static_cast<size_t>(p - 1);
  const size_t units = 2 * rs_steps * nseg;  // unit u = step * nseg + segment
  // More depth than segments per block cannot be used (each segment depends
  // on the same segment of the previous step), and this bound keeps an
  // all-gather receive from being posted before the reduction into its region.
  const size_t depth = std::clamp<size_t>(tuning.pipeline_depth, 1, nseg);
  const int right = ring_mod(r + 1, p);
  const int left = ring_mod(r - 1, p);

  auto step_of = [&](size_t u) { return u / nseg; };
  auto is_reduce_scatter = [&](size_t u) { return step_of(u) < rs_steps; };
  // The block a unit sends / receives.
  auto block_sent = [&](size_t u) {
    const int s = static_cast<int>(step_of(u));
    return static_cast<size_t>(is_reduce_scatter(u) ? ring_mod(r - s, p)
                                                    : ring_mod(r + 1 - (s - (p - 1)), p));
  };
  auto block_received = [&](size_t u) {
    const int s = static_cast<int>(step_of(u));
    return static_cast<size_t>(is_reduce_scatter(u) ? ring_mod(r - s - 1, p)
                                                    : ring_mod(r - (s - (p - 1)), p));
  };
  // Element range of a unit's segment within block b.
  auto range = [&](size_t b, size_t u) {
    const detail::Segment sg = detail::segment_of(blocks.length(b), seg, u % nseg);
    return detail::Segment{blocks.offset(b) + sg.begin, sg.size};
  };
  auto bytes = [&](detail::Segment sg) { return data.subspan(sg.begin * esize, sg.size * esize); };

  std::vector<std::byte> scratch(depth * seg * esize);
  std::vector<transport::RequestPtr> sends(units);
  std::vector<transport::RequestPtr> recvs(units);

  detail::guarded(comm, [&] {
    auto post_send = [&](size_t u) {
      const detail::Segment sg = range(block_sent(u), u);
      if (sg.size > 0) sends[u] = comm.isend(right, static_cast<int64_t>(u), bytes(sg));
    };
    auto post_recv = [&](size_t u) {
      const detail::Segment sg = range(block_received(u), u);
      if (sg.size == 0) return;
      if (is_reduce_scatter(u)) {
        const size_t slot = u % depth;
        recvs[u] = comm.irecv(left, static_cast<int64_t>(u),
                              Bytes(scratch).subspan(slot * seg * esize, sg.size * esize));
        return;
      }
      // All-gather lands in place; the reduce-scatter send that read this
      // region (same segment, step t) must be finished first.
      const size_t t = step_of(u) - rs_steps;
      if (auto& earlier = sends[t * nseg + u % nseg]) comm.wait(earlier, right);
      recvs[u] = comm.irecv(left, static_cast<int64_t>(u), bytes(sg));
    };

    for (size_t u = 0; u < nseg; ++u) post_send(u);
    for (size_t u = 0; u < depth && u < units; ++u) post_recv(u);
    for (size_t u = 0; u < units; ++u) {
      if (recvs[u]) {
        comm.wait(recvs[u], left);
        recvs[u].reset();
        if (is_reduce_scatter(u)) {
          const detail::Segment sg = range(block_received(u), u);
          kernels::reduce_into(op, dtype, bytes(sg).data(),
                               scratch.data() + (u % depth) * seg * esize, sg.size);
        }
      }
      // The slot of u is free again; the next receives were already posted
      // before this reduction.
      if (u + depth < units) post_recv(u + depth);
      // The segment just reduced (or received) goes on to the right.
      if (u + nseg < units) post_send(u + nseg);
    }
    std::vector<Comm::Pending> pending;
    for (auto& s : sends) {
      if (s) pending.push_back({std::move(s), right});
    }
    comm.wait_all(pending);
  });
  detail::finish_average(op, dtype, data.data(), count, p);
}

}  // namespace baton::collectives
