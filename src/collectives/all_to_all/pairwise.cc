// all_to_all, pairwise exchange.
//
// Pattern: in step i (1 <= i < p) rank r sends inputs[r+i] to rank r+i and
// receives outputs[r-i] from rank r-i, so that in every step each rank sends
// to exactly one peer and receives from exactly one (no peer is flooded).
// Every receive is posted up front, straight into its output entry, and the
// sends are issued in step order; rank r's own block is copied locally.
// Entries may differ in size per peer; an empty entry still sends an empty
// message, so a peer that expects a different size is caught (MismatchError).
//
// Steps: p-1.
// Bytes sent per rank: the sum of its inputs except its own, (p-1)/p * n for
// n bytes of input split evenly.
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void all_to_all_pairwise(Comm& comm, std::span<const ConstBytes> inputs,
                         std::span<const Bytes> outputs) {
  using detail::ring_mod;
  detail::check_list(inputs.size(), comm, "all_to_all inputs");
  detail::check_list(outputs.size(), comm, "all_to_all outputs");
  const int p = comm.size();
  const int r = comm.rank();
  const auto self = static_cast<size_t>(r);
  if (inputs[self].size() != outputs[self].size()) {
    throw InvalidArgument(comm.describe() + ": rank " + std::to_string(r) + "'s own input holds " +
                          std::to_string(inputs[self].size()) + " bytes but its output " +
                          std::to_string(outputs[self].size()));
  }
  detail::copy_bytes(outputs[self], inputs[self]);
  if (p == 1) return;

  detail::guarded(comm, [&] {
    std::vector<Comm::Pending> pending;
    pending.reserve(2 * static_cast<size_t>(p - 1));
    for (int i = 1; i < p; ++i) {
      const int src = ring_mod(r - i, p);
      pending.push_back({comm.irecv(src, i, outputs[static_cast<size_t>(src)]), src});
    }
    for (int i = 1; i < p; ++i) {
      const int dst = ring_mod(r + i, p);
      pending.push_back({comm.isend(dst, i, inputs[static_cast<size_t>(dst)]), dst});
    }
    comm.wait_all(pending);
  });
}

}  // namespace baton::collectives
