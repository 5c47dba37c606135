// scatter, direct: the root sends each rank its entry straight.
//
// Pattern: the root posts one send per other rank, of inputs[rank], and
// copies its own entry locally; every other rank receives one message
// straight into its output.
//
// Steps: 1.
// Bytes sent per rank: the root (p-1) * n, the others nothing.
// Empty entries still send an empty message, so ranks that disagree about
// the operation are caught.
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void scatter_direct(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, int root) {
  detail::check_root(root, comm);
  const int p = comm.size();
  const int r = comm.rank();
  if (r != root) {
    detail::guarded(comm, [&] { comm.recv(root, 0, output); });
    return;
  }
  detail::check_list(inputs.size(), comm, "scatter inputs");
  for (const ConstBytes& in : inputs) {
    if (in.size() != output.size()) {
      throw InvalidArgument(comm.describe() + ": every scatter input must hold " +
                            std::to_string(output.size()) + " bytes like the output, got one of " +
                            std::to_string(in.size()));
    }
  }
  detail::copy_bytes(output, inputs[static_cast<size_t>(r)]);
  detail::guarded(comm, [&] {
    std::vector<Comm::Pending> pending;
    pending.reserve(static_cast<size_t>(p));
    for (int i = 0; i < p; ++i) {
      if (i != root) pending.push_back({comm.isend(i, 0, inputs[static_cast<size_t>(i)]), i});
    }
    comm.wait_all(pending);
  });
}

}  // namespace baton::collectives
