// all_gather, shared memory (ranks of one host with a shared area).
//
// Pattern, per chunk of at most one area buffer (generation g): every rank
// copies its input's chunk into its buffer and posts g, then copies each
// peer's chunk out of that peer's buffer into outputs[peer] as soon as the
// peer has posted g. An input that overlaps another rank's output entry is
// copied aside first, so writing the outputs never changes what is sent.
//
// Bytes per rank: n copied in, (p-1) * n copied out. Steps: 1
// synchronisation per chunk, no messages.
#include <algorithm>
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "collectives/shared_area.hpp"

namespace baton::collectives {

void all_gather_shared_memory(Comm& comm, ConstBytes input, std::span<const Bytes> outputs) {
  detail::check_all_gather(comm, input, outputs);
  const int p = comm.size();
  const int r = comm.rank();
  std::vector<std::byte> aside;
  for (int q = 0; q < p; ++q) {
    if (q != r && detail::overlaps(input, outputs[static_cast<size_t>(q)])) {
      aside.assign(input.begin(), input.end());
      input = aside;
      break;
    }
  }
  detail::copy_bytes(outputs[static_cast<size_t>(r)], input);
  if (p == 1) return;
  detail::AreaOp area(comm);
  using Flag = detail::AreaOp::Flag;
  const size_t chunk = area.chunk_bytes();
  size_t at = 0;
  do {
    const size_t n = std::min(chunk, input.size() - at);
    const uint64_t g = area.begin();
    if (n > 0) std::memcpy(area.mine(g), input.data() + at, n);
    area.post(Flag::kPosted, g);
    for (int k = 1; k < p; ++k) {
      const int q = (r + k) % p;
      area.wait(q, Flag::kPosted, g);
      if (n > 0) std::memcpy(outputs[static_cast<size_t>(q)].data() + at, area.of(q, g), n);
    }
    at += n;
  } while (at < input.size());
}

}  // namespace baton::collectives
