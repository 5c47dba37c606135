// all_reduce, direct read (ranks of one host, shared memory): every rank
// reduces its own block straight out of the peers' buffers, then copies the
// other blocks straight out of their owners' buffers.
//
// Pattern: the buffer is cut into p blocks as the ring cuts it. Each rank
// sends its buffer's address to every peer. Reduce-scatter: rank r walks
// block r in chunks of kChunkBytes; for each chunk it reads the peers'
// copies in the order r+1, r+2, ... (process_vm_readv into a scratch chunk,
// so the reduction works on data still in cache) and reduces each into its
// own buffer. A round of empty messages says every block is final. All-gather:
// rank r reads block q from rank q, for every q != r, straight into its
// buffer. A last round of empty messages keeps every buffer alive and
// unchanged until every peer has read it.
//
// Why it is safe: during the reduce-scatter rank r writes only block r of its
// own buffer and the peers read only their own blocks of it; during the
// all-gather rank r writes blocks q != r and the peers read only block r.
//
// Steps: 3 rounds of p-1 small messages (addresses, two barriers).
// Bytes per rank: reads 2(p-1)/p * n, sends none; each byte crosses once
// (the ring over a copying transport copies it twice more).
// Reduction: block b is reduced only by rank b, in a fixed order, so every
// rank ends with the same bits.
#include <cstring>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::collectives {
namespace {

constexpr size_t kChunkBytes = 128 * 1024;  // scratch per read: stays in L2

// Steps of this algorithm's messages (tags within the operation).
constexpr int64_t kAddressStep = 0;
constexpr int64_t kReducedStep = 1;
constexpr int64_t kDoneStep = 2;

// Sends `bytes` to every peer and receives as much from each into `in`.
void exchange(Comm& comm, int64_t step, std::span<const std::byte> bytes,
              std::vector<uint64_t>* in) {
  const int p = comm.size();
  const int r = comm.rank();
  std::vector<Comm::Pending> pending;
  for (int q = 0; q < p; ++q) {
    if (q == r) continue;
    auto into = in ? bytes_of(&(*in)[static_cast<size_t>(q)], sizeof(uint64_t))
                   : std::span<std::byte>();
    pending.push_back({comm.irecv(q, step, into), q});
  }
  for (int q = 0; q < p; ++q) {
    if (q != r) pending.push_back({comm.isend(q, step, bytes), q});
  }
  comm.wait_all(pending);
}

}  // namespace

void all_reduce_direct_read(Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  const int p = comm.size();
  const int r = comm.rank();
  const size_t count = detail::element_count(data.size(), dtype, comm);
  const size_t esize = element_size(dtype);
  if (p == 1) return;

  std::vector<uint64_t> addresses(static_cast<size_t>(p), 0);
  const auto mine = reinterpret_cast<uint64_t>(data.data());
  exchange(comm, kAddressStep, bytes_of(&mine, sizeof(mine)), &addresses);

  const detail::BlockLayout blocks{count, static_cast<size_t>(p)};
  try {
    // Reduce-scatter: block r from every peer into this buffer, chunk by chunk.
    const size_t chunk = std::max<size_t>(1, kChunkBytes / esize);
    std::vector<std::byte> scratch(std::min(chunk, blocks.length(static_cast<size_t>(r))) * esize);
    const size_t begin = blocks.offset(static_cast<size_t>(r));
    const size_t length = blocks.length(static_cast<size_t>(r));
    for (size_t at = 0; at < length; at += chunk) {
      const size_t n = std::min(chunk, length - at);
      const size_t offset = (begin + at) * esize;
      for (int k = 1; k < p; ++k) {
        const int q = (r + k) % p;
        comm.read(q, addresses[static_cast<size_t>(q)] + offset, {scratch.data(), n * esize});
        kernels::reduce_into(op, dtype, data.data() + offset, scratch.data(), n);
      }
    }
    exchange(comm, kReducedStep, {}, nullptr);

    // All-gather: every other block from its owner, straight into this buffer.
    for (int k = 1; k < p; ++k) {
      const auto q = static_cast<size_t>((r + k) % p);
      const size_t offset = blocks.offset(q) * esize;
      const size_t bytes = blocks.length(q) * esize;
      if (bytes > 0) comm.read(static_cast<int>(q), addresses[q] + offset, data.subspan(offset, bytes));
    }
  } catch (...) {
    comm.abort(std::current_exception());
    throw;
  }
  exchange(comm, kDoneStep, {}, nullptr);
}

}  // namespace baton::collectives
