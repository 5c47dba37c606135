// Collective algorithms: one function per algorithm, one file each.
//
// Every algorithm is written once against Comm (isend/irecv/wait with a step
// tag) and never touches sockets. It runs to completion on the calling thread
// (the backend's worker), blocking until its own part of the collective is
// done, and honours the Comm's deadline: a wait that passes it throws
// TimeoutError naming the ranks still missing. Any failure (timeout, a dead
// peer, ranks that disagree about the operation) aborts the group's context
// with that error before the function returns it, so no transfer is left
// writing into a freed buffer and the other ranks fail too instead of hanging.
//
// Buffers are byte spans; the caller (the backend) guarantees that ranks agree
// on sizes (every frame carries the OpDesc, so disagreement is caught by the
// transport as MismatchError) and passes lists as spans of spans, one entry
// per group rank, so that nothing is copied into a staging buffer. A
// reduction's buffer length must be a multiple of the dtype's element size
// (InvalidArgument otherwise). Unless said otherwise a list entry must not
// overlap another entry or the single input/output; an input may be the very
// same memory as its rank's own output entry (all_gather: input ==
// outputs[rank]), in which case the local copy is skipped.
//
// Reductions follow kernels::reduce_into: AVG reduces as SUM, then the rank
// that holds a result divides it once by the group size (kernels::divide).
// Reduction order is fixed by the ranks' positions, never by arrival order,
// so the same inputs always give the same bits, and all_reduce gives every
// rank the same bits.
//
// Patterns, steps and bytes sent per rank (n = bytes per rank, p = ranks):
// docs/algorithms.md and the opening comment of each file.
//
// Thread safety: an algorithm call owns its Comm for its duration; calls on
// different groups (different contexts) may run concurrently.
#pragma once

#include <cstddef>
#include <span>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "collectives/comm.hpp"
#include "collectives/settings.hpp"

namespace baton::collectives {

using Bytes = std::span<std::byte>;
using ConstBytes = std::span<const std::byte>;


// --- all_reduce: data holds this rank's input and receives the result. ---

// Ring reduce-scatter + all-gather, pipelined in segments.
// all_reduce/ring.cc. Bandwidth-optimal: 2(p-1)/p * n bytes per rank.
void all_reduce_ring(Comm& comm, Bytes data, DType dtype, ReduceOp op, const Tuning& tuning = {});

// Recursive doubling; non-powers of two fold the extra ranks in and out.
// all_reduce/recursive_doubling.cc. Latency-optimal: ceil(log2 p) (+2) steps.
void all_reduce_recursive_doubling(Comm& comm, Bytes data, DType dtype, ReduceOp op);
// all_reduce/shared_memory.cc. Ranks with a shared area (Comm::shared_area):
// each rank reduces its block from the peers' copies in the area, chunk by
// chunk; no messages, on the calling thread.
void all_reduce_shared_memory(Comm& comm, Bytes data, DType dtype, ReduceOp op);
// all_reduce/hierarchical.cc. A group spanning hosts (Comm::hosts): reduce
// inside each host, all_reduce among one leader per host, broadcast inside.
// Error when the group's hosts are unknown.
void all_reduce_hierarchical(Comm& comm, Bytes data, DType dtype, ReduceOp op);
// Whether hierarchical pays for these hosts (by group rank): several hosts,
// at least one of them with several ranks.
bool hierarchical_helps(std::span<const int> hosts);

// --- broadcast: root's data is copied into every other rank's data. ---

// Binomial tree from root, pipelined in segments. broadcast/binomial_tree.cc.
void broadcast_binomial_tree(Comm& comm, Bytes data, int root, const Tuning& tuning = {});
// Root copies into its area buffer, the others copy out. broadcast/shared_memory.cc.
void broadcast_shared_memory(Comm& comm, Bytes data, int root);

// --- reduce: the result lands in root's data; other ranks' data is left
// unchanged. ---

// Binomial tree towards root, pipelined in segments. reduce/binomial_tree.cc.
void reduce_binomial_tree(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root,
                          const Tuning& tuning = {});
// Root folds the peers' copies in the area. reduce/shared_memory.cc.
void reduce_shared_memory(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root);

// --- all_gather: outputs[i] (p entries, each input.size() bytes) receives
// rank i's input. ---

// Ring, pipelined in segments. all_gather/ring.cc.
void all_gather_ring(Comm& comm, ConstBytes input, std::span<const Bytes> outputs,
                     const Tuning& tuning = {});
// Each rank copies its input into the area and the peers' out. all_gather/shared_memory.cc.
void all_gather_shared_memory(Comm& comm, ConstBytes input, std::span<const Bytes> outputs);

// --- reduce_scatter: output receives op over ranks of inputs[rank] (p
// entries, each output.size() bytes). output may overlap inputs (then the
// last step goes through scratch). ---

// Ring, pipelined in segments. reduce_scatter/ring.cc.
void reduce_scatter_ring(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, DType dtype,
                         ReduceOp op, const Tuning& tuning = {});
// Each rank folds its piece from the peers' copies in the area.
// reduce_scatter/shared_memory.cc.
void reduce_scatter_shared_memory(Comm& comm, std::span<const ConstBytes> inputs, Bytes output,
                                  DType dtype, ReduceOp op);

// --- all_to_all: outputs[j] receives inputs[rank] of rank j. Sizes may
// differ per peer; rank i's inputs[j] must be as long as rank j's
// outputs[i] (MismatchError otherwise). ---

// Pairwise exchange. all_to_all/pairwise.cc.
void all_to_all_pairwise(Comm& comm, std::span<const ConstBytes> inputs,
                         std::span<const Bytes> outputs);

// --- barrier: returns once every rank has entered it. ---

// Dissemination. barrier/dissemination.cc.
void barrier_dissemination(Comm& comm);
// One generation of the shared area. barrier/shared_memory.cc.
void barrier_shared_memory(Comm& comm);

// --- gather: on root, outputs[i] (p entries) receives rank i's input;
// elsewhere outputs is ignored (may be empty). ---

// Direct sends to root. gather/direct.cc.
void gather_direct(Comm& comm, ConstBytes input, std::span<const Bytes> outputs, int root);

// --- scatter: every rank's output receives root's inputs[rank]; inputs is
// ignored except on root (may be empty). ---

// Direct sends from root. scatter/direct.cc.
void scatter_direct(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, int root);

}  // namespace baton::collectives
