// broadcast, binomial tree rooted at `root`, pipelined in segments.
//
// Pattern: ranks are numbered relative to the root, v = (rank - root) mod p.
// Rank v > 0 receives from its parent v - lowbit(v) and forwards to the
// children v + m for every power of two m < lowbit(v) (the root: every
// m < p), the largest subtree first. The buffer is cut into segments of at
// most Tuning::segment_bytes; all receives are posted at once straight into
// the buffer, and each segment is forwarded as soon as it arrives, so the
// segments stream down the tree.
//
// Steps: ceil(log2 p) (times the segments, pipelined).
// Bytes sent per rank: n times its number of children: the root
// n * ceil(log2 p), leaves (half the ranks) nothing.
// n == 0 still sends one empty message down every edge, so ranks that
// disagree about the operation are caught.
#include <bit>
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void broadcast_binomial_tree(Comm& comm, Bytes data, int root, const Tuning& tuning) {
  using detail::ring_mod;
  detail::check_root(root, comm);
  const int p = comm.size();
  if (p == 1) return;
  const int v = ring_mod(comm.rank() - root, p);
  auto real_rank = [&](int w) { return ring_mod(w + root, p); };

  // Children, largest subtree first, and the parent (-1 at the root).
  const unsigned limit =
      v == 0 ? std::bit_ceil(static_cast<unsigned>(p)) : static_cast<unsigned>(v & -v);
  std::vector<int> children;
  for (unsigned m = limit >> 1; m >= 1; m >>= 1) {
    if (v + static_cast<int>(m) < p) children.push_back(real_rank(v + static_cast<int>(m)));
  }
  const int parent = v == 0 ? -1 : real_rank(v - (v & -v));

  const size_t seg = std::max<size_t>(1, tuning.segment_bytes);
  const size_t nseg = std::max<size_t>(1, detail::ceil_div(data.size(), seg));
  auto segment = [&](size_t k) {
    const detail::Segment sg = detail::segment_of(data.size(), seg, k);
    return data.subspan(sg.begin, sg.size);
  };

  detail::guarded(comm, [&] {
    std::vector<transport::RequestPtr> recvs(nseg);
    if (parent >= 0) {
      for (size_t k = 0; k < nseg; ++k) {
        recvs[k] = comm.irecv(parent, static_cast<int64_t>(k), segment(k));
      }
    }
    std::vector<Comm::Pending> sends;
    sends.reserve(nseg * children.size());
    for (size_t k = 0; k < nseg; ++k) {
      if (parent >= 0) comm.wait(recvs[k], parent);
      for (int child : children) {
        sends.push_back({comm.isend(child, static_cast<int64_t>(k), segment(k)), child});
      }
    }
    comm.wait_all(sends);
  });
}

}  // namespace baton::collectives
