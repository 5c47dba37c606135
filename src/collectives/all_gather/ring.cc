// all_gather, ring rank -> rank + 1, pipelined in segments.
//
// Pattern: in step t (0 <= t < p-1) rank r sends block r-t (its own input at
// t = 0, then what it received in step t-1) to r+1 and receives block r-t-1
// from r-1 straight into outputs[r-t-1]. Blocks are cut into segments of at
// most Tuning::segment_bytes; every receive is posted up front (each lands
// in its own output entry) and each segment is forwarded as soon as it
// arrives, so segments stream around the ring.
//
// Steps: p-1 (times the segments, pipelined).
// Bytes sent per rank: (p-1) * n, where n is one rank's input; the total
// received, (p-1) * n, is the minimum possible.
// n == 0 still exchanges empty messages (a dissemination round) so that
// ranks that disagree about the operation are caught.
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void all_gather_ring(Comm& comm, ConstBytes input, std::span<const Bytes> outputs,
                     const Tuning& tuning) {
  using detail::ring_mod;
  detail::check_all_gather(comm, input, outputs);
  const int p = comm.size();
  const int r = comm.rank();
  const size_t n = input.size();
  detail::copy_bytes(outputs[static_cast<size_t>(r)], input);
  if (p == 1) return;
  if (n == 0) {
    barrier_dissemination(comm);
    return;
  }

  const size_t seg = std::max<size_t>(1, tuning.segment_bytes);
  const size_t nseg = detail::ceil_div(n, seg);
  const size_t units = static_cast<size_t>(p - 1) * nseg;  // unit u = step * nseg + segment
  const int right = ring_mod(r + 1, p);
  const int left = ring_mod(r - 1, p);
  auto piece = [&](ConstBytes block, size_t u) {
    const detail::Segment sg = detail::segment_of(n, seg, u % nseg);
    return block.subspan(sg.begin, sg.size);
  };
  auto block = [&](int b) { return outputs[static_cast<size_t>(ring_mod(b, p))]; };

  detail::guarded(comm, [&] {
    std::vector<transport::RequestPtr> recvs(units);
    for (size_t u = 0; u < units; ++u) {
      const int t = static_cast<int>(u / nseg);
      const Bytes dst = block(r - t - 1);
      const detail::Segment sg = detail::segment_of(n, seg, u % nseg);
      recvs[u] = comm.irecv(left, static_cast<int64_t>(u), dst.subspan(sg.begin, sg.size));
    }
    std::vector<Comm::Pending> sends;
    sends.reserve(units);
    for (size_t u = 0; u < nseg; ++u) {
      sends.push_back({comm.isend(right, static_cast<int64_t>(u), piece(input, u)), right});
    }
    for (size_t u = 0; u < units; ++u) {
      comm.wait(recvs[u], left);
      if (u + nseg < units) {
        const int t = static_cast<int>(u / nseg);
        sends.push_back(
            {comm.isend(right, static_cast<int64_t>(u + nseg), piece(block(r - t - 1), u)), right});
      }
    }
    comm.wait_all(sends);
  });
}

}  // namespace baton::collectives
