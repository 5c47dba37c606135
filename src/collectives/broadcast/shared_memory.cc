// broadcast, shared memory (ranks of one host with a shared area).
//
// Pattern, per chunk of at most one area buffer (generation g): the root
// copies the chunk into its buffer and posts g; every other rank posts g
// (saying it is done with older generations) and copies the chunk out of
// the root's buffer once the root has posted g. With the area's 16 buffers
// the root runs up to 15 chunks ahead of the slowest reader, so ranks that
// outnumber the cores read many chunks per time slice.
//
// Bytes per rank: the root copies n in, every other rank copies n out, all
// at the same time. Steps: 1 synchronisation per chunk, no messages.
#include <algorithm>
#include <cstring>

#include "collectives/algorithm_support.hpp"
#include "collectives/shared_area.hpp"

namespace baton::collectives {

void broadcast_shared_memory(Comm& comm, Bytes data, int root) {
  detail::check_root(root, comm);
  if (comm.size() == 1) return;
  detail::AreaOp area(comm);
  using Flag = detail::AreaOp::Flag;
  const size_t chunk = area.chunk_bytes();
  size_t at = 0;
  do {
    const size_t n = std::min(chunk, data.size() - at);
    const uint64_t g = area.begin();
    if (comm.rank() == root) {
      if (n > 0) std::memcpy(area.mine(g), data.data() + at, n);
      area.post(Flag::kPosted, g);
    } else {
      area.post(Flag::kPosted, g);
      area.wait(root, Flag::kPosted, g);
      if (n > 0) std::memcpy(data.data() + at, area.of(root, g), n);
    }
    at += n;
  } while (at < data.size());
}

}  // namespace baton::collectives
