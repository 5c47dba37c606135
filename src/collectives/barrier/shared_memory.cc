// barrier, shared memory (ranks of one host with a shared area): every rank
// posts the next generation and waits until every peer has posted it.
// Steps: 1 synchronisation, no messages.
#include "collectives/shared_area.hpp"

namespace baton::collectives {

void barrier_shared_memory(Comm& comm) {
  if (comm.size() == 1) return;
  detail::AreaOp area(comm);
  using Flag = detail::AreaOp::Flag;
  const uint64_t g = area.begin();
  area.post(Flag::kPosted, g);
  area.wait_all(Flag::kPosted, g);
}

}  // namespace baton::collectives
