// all_reduce, recursive doubling, for small tensors.
//
// Pattern: let q be the largest power of two <= p and e = p - q the extra
// ranks. Fold in: among ranks 0 .. 2e-1, each even rank sends its whole
// buffer to the odd rank above it and sits out; the odd rank combines the
// two. The q remaining ranks, renumbered 0 .. q-1 in rank order, then run
// log2(q) rounds: in round k each exchanges its whole buffer with the rank
// whose new number differs in bit k and combines it. Fold out: each odd rank
// below 2e sends the result back to the even rank it absorbed.
//
// Steps: log2(q) rounds, plus 2 when p is not a power of two.
// Bytes sent per rank: n * log2(q) (the odd ranks below 2e also n twice
// more for fold in/out; the even ranks below 2e send n once).
// Reduction: every combination puts the lower ranks' partial result on the
// left, so the result is op folded over ranks 0..p-1 as a fixed binary tree
// and every rank ends with the same bits.
// Scratch: one buffer of n bytes.
#include <bit>
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void all_reduce_recursive_doubling(Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  const int p = comm.size();
  const int r = comm.rank();
  const size_t count = detail::element_count(data.size(), dtype, comm);
  if (p == 1) return;  // AVG over one rank divides by 1

  const int q = static_cast<int>(std::bit_floor(static_cast<unsigned>(p)));
  const int extra = p - q;
  const int rounds = std::countr_zero(static_cast<unsigned>(q));
  // Group rank <-> number among the q ranks that take part in the rounds.
  auto real_rank = [&](int v) { return v < extra ? 2 * v + 1 : v + extra; };
  const int v = r < 2 * extra ? (r % 2 == 1 ? r / 2 : -1) : r - extra;
  const int64_t fold_out_step = rounds + 1;

  std::vector<std::byte> scratch(data.size());
  detail::guarded(comm, [&] {
    if (r < 2 * extra && r % 2 == 0) {
      // Fold in: hand the data to r + 1, then wait for the result.
      comm.send(r + 1, 0, data);
      comm.recv(r + 1, fold_out_step, data);
      return;
    }
    if (r < 2 * extra) {
      comm.recv(r - 1, 0, scratch);
      detail::combine_ordered(op, dtype, data.data(), scratch.data(), count, true);
    }
    for (int k = 0; k < rounds; ++k) {
      const int partner_v = v ^ (1 << k);
      const int partner = real_rank(partner_v);
      auto sent = comm.isend(partner, 1 + k, data);
      auto got = comm.irecv(partner, 1 + k, scratch);
      const Comm::Pending pending[] = {{sent, partner}, {got, partner}};
      comm.wait_all(pending);
      detail::combine_ordered(op, dtype, data.data(), scratch.data(), count, partner_v < v);
    }
    if (r < 2 * extra) comm.send(r - 1, fold_out_step, data);
  });
  detail::finish_average(op, dtype, data.data(), count, p);
}

}  // namespace baton::collectives
