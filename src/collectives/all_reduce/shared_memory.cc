// all_reduce, shared memory (ranks of one host with a shared area): every
// rank reduces its block straight from the peers' copies in the area.
//
// Pattern, per chunk of at most one area buffer (generation g):
//   small (at most kWholeBytes): each rank copies its data into its buffer and
//   posts; once every peer has posted, each rank folds all p copies in rank
//   order (kernels::reduce_n) into its data. One synchronisation; every rank
//   computes the same bits because the order is the same everywhere.
//   large: the chunk is cut into p blocks as the ring cuts a buffer. Each
//   rank copies the blocks the others reduce into its buffer and posts; then
//   it folds block r of all p ranks in rank order (its own block straight
//   from its data) into its buffer's block r and posts kReduced; then it
//   copies every other block q from rank q's buffer. Block b is reduced by
//   rank b alone, so every rank ends with the same bits.
//
// Bytes per rank (n = this rank's bytes, p = ranks): large: copies
// (p-1)/p * n in, reads (p-1)/p * n of the peers' data to reduce, writes n/p
// reduced, copies (p-1)/p * n out; the chunk is still in cache between the
// steps. Steps: 2 synchronisations per chunk (1 for small), no messages.
#include <algorithm>
#include <array>
#include <span>
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "collectives/shared_area.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::collectives {
namespace {

using Flag = detail::AreaOp::Flag;

// Up to this many bytes every rank reduces the whole buffer itself.
constexpr size_t kWholeBytes = 16 * 1024;

void reduce_whole(detail::AreaOp& area, Bytes data, DType dtype, ReduceOp op, size_t count) {
  const uint64_t g = area.begin();
  if (!data.empty()) std::memcpy(area.mine(g), data.data(), data.size());
  area.post(Flag::kPosted, g);
  area.wait_all(Flag::kPosted, g);
  // The latency path: no allocation for the usual group sizes.
  const auto p = static_cast<size_t>(area.size());
  std::array<const void*, 16> fixed{};
  std::vector<const void*> more(p > fixed.size() ? p : 0);
  const std::span<const void*> inputs =
      p > fixed.size() ? std::span<const void*>(more) : std::span<const void*>(fixed.data(), p);
  for (int q = 0; q < area.size(); ++q) {
    inputs[static_cast<size_t>(q)] = q == area.rank() ? data.data() : area.of(q, g);
  }
  if (count > 0) kernels::reduce_n(op, dtype, data.data(), inputs, count);
}

void reduce_blocks(detail::AreaOp& area, Bytes data, DType dtype, ReduceOp op, size_t count) {
  const int p = area.size();
  const int r = area.rank();
  const size_t esize = element_size(dtype);
  const size_t capacity = std::max<size_t>(1, area.chunk_bytes() / esize);
  std::vector<const void*> inputs(static_cast<size_t>(p));
  for (size_t at = 0; at < count;) {
    const size_t n = std::min(capacity, count - at);
    std::byte* base = data.data() + at * esize;
    const detail::BlockLayout blocks{n, static_cast<size_t>(p)};
    auto offset = [&](int q) { return blocks.offset(static_cast<size_t>(q)) * esize; };
    auto length = [&](int q) { return blocks.length(static_cast<size_t>(q)) * esize; };

    const uint64_t g = area.begin();
    std::byte* mine = area.mine(g);
    for (int q = 0; q < p; ++q) {
      if (q != r) std::memcpy(mine + offset(q), base + offset(q), length(q));
    }
    area.post(Flag::kPosted, g);
    area.wait_all(Flag::kPosted, g);
    for (int q = 0; q < p; ++q) {
      inputs[static_cast<size_t>(q)] = q == r ? base + offset(r) : area.of(q, g) + offset(r);
    }
    const size_t own = blocks.length(static_cast<size_t>(r));
    if (own > 0) {
      kernels::reduce_n(op, dtype, mine + offset(r), inputs, own);
      std::memcpy(base + offset(r), mine + offset(r), length(r));
    }
    area.post(Flag::kReduced, g);
    for (int k = 1; k < p; ++k) {
      const int q = (r + k) % p;
      area.wait(q, Flag::kReduced, g);
      std::memcpy(base + offset(q), area.of(q, g) + offset(q), length(q));
    }
    at += n;
  }
}

}  // namespace

void all_reduce_shared_memory(Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  const size_t count = detail::element_count(data.size(), dtype, comm);
  if (comm.size() == 1) return;
  detail::AreaOp area(comm);
  if (data.size() <= std::min(kWholeBytes, area.chunk_bytes())) {
    reduce_whole(area, data, dtype, op, count);
  } else {
    reduce_blocks(area, data, dtype, op, count);
  }
  detail::finish_average(op, dtype, data.data(), count, comm.size());
}

}  // namespace baton::collectives
