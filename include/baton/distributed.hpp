// The torch.distributed API in C++: process group lifetime, point-to-point
// and collectives.
//
// Names and argument order follow torch.distributed, so the tutorial reads
// the same. Every call is blocking unless given baton::async_op as its last
// argument (isend and irecv are always asynchronous); a blocking call
// returns a completed Work, an asynchronous one a pending Work.
//
// Ranks are group ranks. Arguments are checked before anything is sent: a
// rank outside the group, an undefined tensor, a tensor on the wrong device,
// a list of the wrong length, or tensors whose sizes or dtypes disagree get
// an InvalidArgument saying what was expected and what was given. Ranks that
// disagree with each other (different collectives, sizes, dtypes, ops or
// roots) get a MismatchError on every rank; a dead peer a ConnectionError
// naming it; an operation that outlives the group's timeout a TimeoutError
// naming the operation and the ranks still missing.
//
// Thread safety: operations on one group are issued in the order of the
// calls; they may be called from several threads, but then the threads must
// agree on that order across ranks, as with torch. Different groups are
// independent.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "baton/group.hpp"
#include "baton/reduce_op.hpp"
#include "baton/store.hpp"
#include "baton/tensor.hpp"
#include "baton/work.hpp"

namespace baton {

struct InitOptions {
  // "native", "mpi" or "nccl"; "auto" picks native (nccl for CUDA tensors when built).
  std::string backend = "auto";
  // "env://", "tcp://host:port" or "file:///path".
  std::string init_method = "env://";
  // -1: from the environment (RANK/WORLD_SIZE, mpirun's or Slurm's variables).
  int rank = -1;
  int world_size = -1;
  // Bounds every blocking operation; 0 means BATON_TIMEOUT (default 300 s).
  std::chrono::milliseconds timeout{0};
  // When set, used for rendezvous instead of init_method.
  std::shared_ptr<Store> store = nullptr;
  // The job secret (at least 16 bytes) that every store and rank connection
  // proves by HMAC-SHA-256 challenge-response (docs/security.md); "" means
  // BATON_SECRET, else the file BATON_SECRET_FILE (baton-run sets one), else
  // none: unauthenticated. Every rank of the job needs the same one; a
  // misconfigured one is an AuthenticationError, never a fallback.
  std::string secret{};
};

// Joins the job: rendezvous, then connections to every other rank. Blocks
// until every rank has joined or the timeout passes (TimeoutError naming the
// ranks that never arrived). Calling it twice is an InvalidArgument.
void init_process_group(const InitOptions& options = {});
bool is_initialized();
// Leaves the job: waits for pending operations, closes connections. Groups
// made by new_group become unusable. Safe to call when not initialized.
void destroy_process_group();

// The world group; InvalidArgument before init_process_group.
Group world();
int get_rank(const Group& group = world());
int get_world_size(const Group& group = world());
// A subgroup of the given world ranks (sorted or not; the order defines the
// group ranks). Called by every rank of the world. Duplicate or out-of-range
// ranks: InvalidArgument.
Group new_group(std::vector<int> ranks);
// Fails every pending and later operation of this rank on `group` now, with
// ConnectionError "rank R aborted <group>: <reason>", and (native backend)
// tells the group's other ranks, whose pending and later operations on it
// fail with the same reason. Returns at once, never blocks: another thread
// may call it while this rank's threads are blocked in operations of the
// group (a watchdog, a signal-handling thread, a failed health check). The
// group stays unusable; destroy_process_group() still cleans up. On the mpi
// backend only this rank's operations fail (MPI cannot withdraw them).
// InvalidArgument when the group was destroyed or this rank is not a member.
void abort_process_group(const Group& group = world(), const std::string& reason = "");

// --- Groups made from a store ---
//
// A group of `size` processes that meet through `store` alone: each member
// calls new_group(store, its rank, size) and nobody else takes part. It needs
// no init_process_group() and is independent of the default group and of
// every other group in the process: its own connections, its own operation
// order, its own shutdown. This is how a second front end builds its groups
// (torch calls its backend once per group, only on the members, each time
// with a fresh PrefixStore). The store must be shared by exactly these
// members, for this group only.
struct GroupOptions {
  // "auto" or "native" ("auto" follows BATON_BACKEND as init_process_group
  // does). The mpi backend has its own world and makes groups with
  // new_group(ranks) only: UnsupportedError.
  std::string backend = "auto";
  // Bounds setup and every operation; 0 means BATON_TIMEOUT (default 300 s).
  std::chrono::milliseconds timeout{0};
  // For messages and logs; "" names it "store group".
  std::string name;
  // Each member's rank in the enclosing job (what Group::world_ranks() and
  // error messages show), in group-rank order; empty: 0 .. size-1.
  std::vector<int> world_ranks;
  // The job secret the group's connections prove (InitOptions::secret); ""
  // means BATON_SECRET / BATON_SECRET_FILE, else none. `store` is used as it
  // is: a TcpStore authenticates by its own options.
  std::string secret{};
};
// Blocks until every member has joined (TimeoutError naming the ranks that
// did not, after the timeout) and the connections are up. A rank outside
// [0, size), a size below 1, a null store or world_ranks of another length:
// InvalidArgument. The group stays usable until destroy_group() or until its
// last Group handle is dropped (which shuts it down the same way).
Group new_group(std::shared_ptr<Store> store, int rank, int size, const GroupOptions& options = {});
// Shuts down one group made by new_group (either form): waits, up to the
// group's timeout, for its pending operations, then closes its connections;
// later operations on it are an InvalidArgument. Idempotent. The world group
// is left to destroy_process_group() (InvalidArgument here).
void destroy_group(const Group& group);

inline constexpr int ANY_SOURCE = -1;

// Point to point. send/recv block; isend/irecv return a pending Work.
// Messages between two ranks with the same tag arrive in the order sent. A
// receive takes a message of exactly its tensor's size: a longer or shorter
// one is a MismatchError naming both sizes (the tensor's contents are then
// unspecified; the group stays usable). recv from ANY_SOURCE:
// Work::source_rank() says who sent.
Work send(const Tensor& tensor, int dst, const Group& group = world(), int tag = 0);
Work recv(Tensor& tensor, int src = ANY_SOURCE, const Group& group = world(), int tag = 0);
Work isend(const Tensor& tensor, int dst, const Group& group = world(), int tag = 0);
Work irecv(Tensor& tensor, int src = ANY_SOURCE, const Group& group = world(), int tag = 0);

// Collectives.
Work broadcast(Tensor& tensor, int src, const Group& group = world(), AsyncOp async = {});
Work all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::SUM, const Group& group = world(),
                AsyncOp async = {});
// The result lands in `tensor` on dst; other ranks' tensors are left unspecified
// (they may hold partial results), as in torch.
Work reduce(Tensor& tensor, int dst, ReduceOp op = ReduceOp::SUM, const Group& group = world(),
            AsyncOp async = {});
// outputs: one tensor per group rank, each like input.
Work all_gather(std::vector<Tensor>& outputs, const Tensor& input, const Group& group = world(),
                AsyncOp async = {});
// gather_list: on dst one tensor per group rank; ignored (may be empty) elsewhere.
Work gather(const Tensor& input, std::vector<Tensor>& gather_list, int dst = 0,
            const Group& group = world(), AsyncOp async = {});
// scatter_list: on src one tensor per group rank; ignored (may be empty) elsewhere.
Work scatter(Tensor& output, const std::vector<Tensor>& scatter_list, int src = 0,
             const Group& group = world(), AsyncOp async = {});
// inputs: one tensor per group rank, each like output; output = op over ranks of inputs[rank].
Work reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs,
                    ReduceOp op = ReduceOp::SUM, const Group& group = world(), AsyncOp async = {});
// outputs[i] receives inputs[rank] of rank i; sizes may differ per pair but
// must agree between sender and receiver.
Work all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                const Group& group = world(), AsyncOp async = {});
Work barrier(const Group& group = world(), AsyncOp async = {});

// --- The tensor forms torch uses ---

// output holds size() times input's elements, same dtype: group rank i's
// input lands in elements [i * n, (i + 1) * n), n = input.numel().
Work all_gather_into_tensor(Tensor& output, const Tensor& input, const Group& group = world(),
                            AsyncOp async = {});
// input holds size() times output's elements, same dtype: output = op over
// the ranks of input's block [rank * n, (rank + 1) * n), n = output.numel().
Work reduce_scatter_tensor(Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::SUM,
                           const Group& group = world(), AsyncOp async = {});
// Rows along the first dimension, as torch: input's rows are cut into
// size() consecutive blocks of input_split_sizes[i] rows, block i going to
// group rank i; output's blocks of output_split_sizes[i] rows receive from
// rank i. An empty split list means equal blocks (the first dimension must
// then divide by size()). A row is numel() / shape()[0] elements (a 0-d or
// 1-d tensor: one element). Splits that do not sum to the first dimension,
// a negative split, a list of the wrong length, or dtypes that differ:
// InvalidArgument; a split that disagrees with the peer's: MismatchError.
Work all_to_all_single(Tensor& output, const Tensor& input,
                       const std::vector<int64_t>& output_split_sizes = {},
                       const std::vector<int64_t>& input_split_sizes = {},
                       const Group& group = world(), AsyncOp async = {});
// all_reduce of every tensor in the list as one operation: tensors of one
// dtype are packed into one buffer, reduced once and unpacked (torch's
// all_reduce_coalesced). Every rank must pass the same sizes and dtypes in
// the same order. One Work for the whole list.
Work all_reduce_coalesced(std::vector<Tensor>& tensors, ReduceOp op = ReduceOp::SUM,
                          const Group& group = world(), AsyncOp async = {});
// A barrier that says who is missing, as torch's monitored_barrier: rank 0
// waits for every other rank to arrive, then releases them. Blocks; throws
// TimeoutError after `timeout` (0: the group's timeout): on rank 0 naming
// the group ranks (and world ranks) that did not arrive (the first one, or
// every one with wait_all_ranks), on the others naming rank 0 when it did
// not release them. Runs over the group's store (native backend; mpi:
// UnsupportedError), so a rank stuck in another operation is still found.
void monitored_barrier(const Group& group = world(),
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(0),
                       bool wait_all_ranks = false);

// One operation of batch_isend_irecv: torch's P2POp.
struct P2POp {
  enum class Kind { isend, irecv };
  Kind op = Kind::isend;
  Tensor tensor;
  int peer = 0;  // a group rank
  // A Group() that refers to no group means world().
  Group group{};
  int tag = 0;
};
// Posts every send and receive of the list, then returns one pending Work
// per entry, in order. Every entry is checked before any is posted
// (InvalidArgument naming the entry's index). Pairs of ranks must post
// matching lists, as with isend/irecv.
std::vector<Work> batch_isend_irecv(const std::vector<P2POp>& ops);

}  // namespace baton
