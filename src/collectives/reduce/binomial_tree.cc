// reduce, binomial tree towards `root`, pipelined in segments.
//
// Pattern: the mirror of the broadcast tree. Ranks are numbered relative to
// the root, v = (rank - root) mod p; rank v receives from its children
// v + m for every power of two m < lowbit(v) (the root: every m < p), in
// increasing m, combines each into its partial result, and sends that to its
// parent v - lowbit(v). The buffer is cut into segments of at most
// Tuning::segment_bytes; the receives of the next segment are posted before
// the current one is reduced, and a reduced segment goes up at once, so the
// segments stream towards the root.
//
// Steps: ceil(log2 p) (times the segments, pipelined).
// Bytes sent per rank: n, except the root (nothing).
// Reduction: rank v's child v + m holds the result of ranks v+m .. v+2m-1,
// so every node folds its subtree left to right in relative-rank order:
// fixed by the root and p, never by arrival order, so every run gives the
// same bits. Only the root's buffer is written; an inner rank accumulates in
// scratch (n bytes), and each rank with children keeps 2 segments per child.
// n == 0 still sends one empty message up every edge, so ranks that
// disagree about the operation are caught.
#include <bit>
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void reduce_binomial_tree(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root,
                          const Tuning& tuning) {
  using detail::ring_mod;
  detail::check_root(root, comm);
  const size_t count = detail::element_count(data.size(), dtype, comm);
  const size_t esize = element_size(dtype);
  const int p = comm.size();
  if (p == 1) return;  // AVG over one rank divides by 1
  const int v = ring_mod(comm.rank() - root, p);
  auto real_rank = [&](int w) { return ring_mod(w + root, p); };

  // Children in increasing subtree size (the fold order), and the parent.
  const unsigned limit =
      v == 0 ? std::bit_ceil(static_cast<unsigned>(p)) : static_cast<unsigned>(v & -v);
  std::vector<int> children;
  for (unsigned m = 1; m < limit; m <<= 1) {
    if (v + static_cast<int>(m) < p) children.push_back(real_rank(v + static_cast<int>(m)));
  }
  const int parent = v == 0 ? -1 : real_rank(v - (v & -v));

  const size_t seg = detail::segment_items(tuning, esize);
  const size_t nseg = std::max<size_t>(1, detail::ceil_div(count, seg));
  const size_t nchildren = children.size();

  // The partial result: the root's own buffer, an inner rank's copy, or (a
  // leaf) the input itself.
  std::vector<std::byte> partial;
  Bytes acc = data;
  if (parent >= 0 && nchildren > 0) {
    partial.assign(data.begin(), data.end());
    acc = partial;
  }
  std::vector<std::byte> slots(2 * nchildren * seg * esize);
  auto slot = [&](size_t child, size_t k, size_t items) {
    return Bytes(slots).subspan(((k % 2) * nchildren + child) * seg * esize, items * esize);
  };

  detail::guarded(comm, [&] {
    std::vector<transport::RequestPtr> recvs(2 * nchildren);
    auto post_receives = [&](size_t k) {
      const detail::Segment sg = detail::segment_of(count, seg, k);
      for (size_t c = 0; c < nchildren; ++c) {
        recvs[(k % 2) * nchildren + c] =
            comm.irecv(children[c], static_cast<int64_t>(k), slot(c, k, sg.size));
      }
    };
    std::vector<Comm::Pending> sends;
    if (nchildren > 0) post_receives(0);
    for (size_t k = 0; k < nseg; ++k) {
      if (nchildren > 0 && k + 1 < nseg) post_receives(k + 1);
      const detail::Segment sg = detail::segment_of(count, seg, k);
      std::byte* target = acc.data() + sg.begin * esize;
      for (size_t c = 0; c < nchildren; ++c) {
        comm.wait(recvs[(k % 2) * nchildren + c], children[c]);
        if (sg.size > 0) {
          kernels::reduce_into(op, dtype, target, slot(c, k, sg.size).data(), sg.size);
        }
      }
      if (parent >= 0) {
        sends.push_back({comm.isend(parent, static_cast<int64_t>(k),
                                    acc.subspan(sg.begin * esize, sg.size * esize)),
                         parent});
      }
    }
    comm.wait_all(sends);
  });
  if (parent < 0) detail::finish_average(op, dtype, data.data(), count, p);
}

}  // namespace baton::collectives
