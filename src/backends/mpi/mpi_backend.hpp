// MpiBackend: a group's operations on the cluster's MPI library.
//
// Each group owns one MPI communicator whose ranks are the group's ranks
// (the world: a duplicate of MPI_COMM_WORLD; new_group: MPI_Comm_create_group
// over the members in the order given), with MPI_ERRORS_RETURN set, so MPI
// errors come back as baton::Error with MPI's text instead of aborting.
//
// Threads: MPI calls run on the process's MPI engine thread
// (backends/mpi/runtime.hpp explains the choice), with one exception: when
// MPI provides MPI_THREAD_MULTIPLE (and BATON_MPI_CALLER_THREAD is 1, the
// default), a blocking collective of at most 64 KiB issued while nothing else
// of the group is in flight is posted and polled on the calling thread, which
// saves the hop to the engine and back (8 B all_reduce: about 8 µs instead of
// 30; measured in docs/clusters.md). Each method builds a Task
// that posts one non-blocking MPI call (point-to-point: MPI_Isend/Irecv with
// the caller's tag, MPI_ANY_SOURCE for ANY_SOURCE; collectives: MPI-3
// MPI_Ibcast, MPI_Iallreduce, MPI_Ireduce, MPI_Iallgather, MPI_Igather,
// MPI_Iscatter, MPI_Ireduce_scatter_block, MPI_Ialltoallv, MPI_Ibarrier),
// submits it and returns at once; the Work completes when the engine sees the
// request done. Tasks start in call order, so collectives of a group start in
// program order on every rank, as MPI requires. Lists of tensors (gathers,
// scatter, all_to_all, reduce_scatter) are packed into or unpacked from one
// contiguous buffer on the engine thread.
//
// Reductions: see backends/mpi/types.hpp (Float16, BFloat16, Bool and NaN-
// propagating MIN/MAX run Baton's kernels behind user-defined MPI ops); AVG
// is SUM followed by one division by the group size.
//
// Timeouts: a collective's Work gives up at its issue time plus the group's
// timeout, a point-to-point Work that long after wait() was called. MPI
// cannot withdraw an operation, so a Work that timed out marks the group
// failed (later operations fail at once with that TimeoutError) and the
// engine keeps its tensors alive until MPI is done with them; the job should
// end. Sizes that differ between ranks where they must match are detected
// for receives (MismatchError naming both sizes) but not inside collectives,
// where MPI does not report them.
//
// Thread safety: every method may be called from any thread; operations are
// started in the order of the calls.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "backends/mpi/runtime.hpp"
#include "backends/work_state.hpp"

namespace baton::backends::mpi {

class MpiBackend final : public Backend, public std::enable_shared_from_this<MpiBackend> {
 public:
  // Takes ownership of `comm` (freed by shutdown()), in which this process
  // is `rank` of `size`; `tag_ub` is the largest tag MPI accepts.
  MpiBackend(MPI_Comm comm, int rank, int size, std::string group_name,
             std::chrono::milliseconds timeout, int tag_ub);
  ~MpiBackend() override;
  MpiBackend(const MpiBackend&) = delete;
  MpiBackend& operator=(const MpiBackend&) = delete;

  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Work send(const Tensor& tensor, int dst, int tag) override;
  Work recv(Tensor& tensor, int src, int tag) override;

  Work broadcast(Tensor& tensor, int root) override;
  Work all_reduce(Tensor& tensor, ReduceOp op) override;
  Work reduce(Tensor& tensor, int root, ReduceOp op) override;
  Work all_gather(std::vector<Tensor>& outputs, const Tensor& input) override;
  Work gather(const Tensor& input, std::vector<Tensor>& outputs, int root) override;
  Work scatter(Tensor& output, const std::vector<Tensor>& inputs, int root) override;
  Work reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) override;
  Work all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) override;
  Work barrier() override;

  // Waits (up to the timeout) for the operations started so far, then frees
  // the communicator. Later operations fail with InvalidArgument. Idempotent.
  // Fails this rank's pending and later operations (the MPI calls run to
  // their end in the engine, which keeps the tensors alive).
  void abort(std::exception_ptr why) override;
  void shutdown() override;

 private:
  // An operation's name and what this rank passes it, for messages:
  // {"broadcast", "float32, 5 elements, root 0"}.
  struct OpText {
    OpText(const char* op) : name(op) {}  // NOLINT: implicit, for operations without details
    OpText(std::string op, std::string what) : name(std::move(op)), details(std::move(what)) {}
    std::string name;
    std::string details;
  };

  // Checks the group's state and the tensors, then submits a task built from
  // start/finish. `tensors` are checked for the CPU device.
  Work submit(OpText op, bool collective, const std::vector<const Tensor*>& tensors,
              std::function<void(Task&, MPI_Comm)> start, std::function<int(Task&)> finish);

  // Polls a blocking collective's requests on the calling thread until done
  // or its deadline (then hands it to the engine).
  void run_on_caller(std::unique_ptr<Task> task);

  MPI_Comm comm_;
  const int rank_;
  const int size_;
  const std::string group_name_;
  const std::chrono::milliseconds timeout_;
  const int tag_ub_;
  // BATON_MPI_CALLER_THREAD and MPI_THREAD_MULTIPLE: blocking collectives
  // may run on the calling thread.
  const bool caller_runs_;

  std::mutex mu_;
  uint64_t seq_ = 0;                                           // GUARDED_BY(mu_)
  bool shut_down_ = false;                                     // GUARDED_BY(mu_)
  std::exception_ptr failure_;                                 // GUARDED_BY(mu_)
  std::vector<std::shared_ptr<detail::WorkState>> in_flight_;  // GUARDED_BY(mu_)
};

}  // namespace baton::backends::mpi
