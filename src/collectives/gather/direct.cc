// gather, direct: every rank sends its input straight to the root.
//
// Pattern: the root posts one receive per other rank, straight into
// outputs[rank], and copies its own input locally; every other rank sends
// its input to the root in one message.
//
// Steps: 1.
// Bytes sent per rank: n (the root sends nothing and receives (p-1) * n).
// Empty inputs still send an empty message, so ranks that disagree about the
// operation are caught.
#include <vector>

#include "collectives/algorithm_support.hpp"

namespace baton::collectives {

void gather_direct(Comm& comm, ConstBytes input, std::span<const Bytes> outputs, int root) {
  detail::check_root(root, comm);
  const int p = comm.size();
  const int r = comm.rank();
  if (r != root) {
    detail::guarded(comm, [&] { comm.send(root, 0, input); });
    return;
  }
  detail::check_list(outputs.size(), comm, "gather outputs");
  for (const Bytes& out : outputs) {
    if (out.size() != input.size()) {
      throw InvalidArgument(comm.describe() + ": every gather output must hold " +
                            std::to_string(input.size()) + " bytes like the input, got one of " +
                            std::to_string(out.size()));
    }
  }
  detail::copy_bytes(outputs[static_cast<size_t>(r)], input);
  detail::guarded(comm, [&] {
    std::vector<Comm::Pending> pending;
    pending.reserve(static_cast<size_t>(p));
    for (int i = 0; i < p; ++i) {
      if (i != root) pending.push_back({comm.irecv(i, 0, outputs[static_cast<size_t>(i)]), i});
    }
    comm.wait_all(pending);
  });
}

}  // namespace baton::collectives
