// barrier, dissemination (Hensgen, Finkel and Manber).
//
// Pattern: in round k (0 <= k < ceil(log2 p)) rank r sends an empty message
// to r + 2^k and waits for one from r - 2^k (mod p). After round k every rank
// has heard, directly or not, from the 2^(k+1) ranks before it, so after the
// last round from all of them: no rank leaves before every rank has entered.
//
// Steps: ceil(log2 p).
// Bytes sent per rank: 0 (ceil(log2 p) header-only messages).
// Also used by the other algorithms for their zero-byte case, so that ranks
// that disagree about the operation still exchange messages and are caught.
#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void barrier_dissemination(Comm& comm) {
  using detail::ring_mod;
  const int p = comm.size();
  const int r = comm.rank();
  if (p == 1) return;
  // Empty messages still need a valid pointer for the transport's span.
  std::byte none[1];
  detail::guarded(comm, [&] {
    int64_t round = 0;
    for (int distance = 1; distance < p; distance *= 2, ++round) {
      const int to = ring_mod(r + distance, p);
      const int from = ring_mod(r - distance, p);
      auto sent = comm.isend(to, round, ConstBytes(none, 0));
      auto got = comm.irecv(from, round, Bytes(none, 0));
      const Comm::Pending pending[] = {{got, from}, {sent, to}};
      comm.wait_all(pending);
    }
  });
}

}  // namespace baton::collectives
