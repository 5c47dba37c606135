// ProcessGroupBaton: torch.distributed's backend "baton" (torch 1.13's
// c10d::ProcessGroup interface) over one Baton group made from the store
// torch passes in (baton::new_group(store, rank, size)).
//
// Construction is the rendezvous: it blocks until every member has joined
// (TimeoutError after the timeout torch gives); the Python binding releases
// the GIL meanwhile. Afterwards Baton does not need the store (only to
// diagnose a timeout and for monitoredBarrier), so rank 0, which hosts
// torch's TCPStore, may exit first.
//
// Every operation checks its arguments on the calling thread (a
// baton::InvalidArgument or UnsupportedError thrown from the call: Python
// sees RuntimeError, its message led by the operation and the group, see
// error_context.hpp), then starts asynchronously on Baton's threads and
// returns a WorkBaton at once; torch waits on it for blocking calls. Ranks
// in arguments are group ranks, as torch passes them; Baton's messages name
// the world ranks (global_ranks_in_group). Per-operation timeouts in torch's
// options are not used: the group's timeout bounds every operation.
//
// Thread safety: as torch's process groups: operations may be issued from
// several threads if every rank issues them in the same order. The
// destructor waits (up to the timeout) for pending operations, then closes
// the group's connections; it releases the GIL while it waits.
#pragma once

#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "baton/group.hpp"
#include "baton/work.hpp"
#include "completion_thread.hpp"
#include "error_context.hpp"

namespace baton_torch {

class ProcessGroupBaton final : public c10d::ProcessGroup {
 public:
  ProcessGroupBaton(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                    std::chrono::milliseconds timeout, const std::string& group_id,
                    const std::vector<int64_t>& global_ranks);
  ~ProcessGroupBaton() override;

  const std::string getBackendName() const override { return "baton"; }
  // What reaches each member ("self", "shm", "tcp"), by group rank.
  std::vector<std::string> transports() const { return group_.transports(); }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(
      std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors,
                                        const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& outputs,
                                        std::vector<at::Tensor>& inputs,
                                        const c10d::GatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& outputs,
                                         std::vector<std::vector<at::Tensor>>& inputs,
                                         const c10d::ScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(
      at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& output, at::Tensor& input,
                                               std::vector<int64_t>& output_split_sizes,
                                               std::vector<int64_t>& input_split_sizes,
                                               const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& outputs,
                                          std::vector<at::Tensor>& inputs,
                                          const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;
  void monitoredBarrier(const c10d::BarrierOptions& opts, bool wait_all_ranks) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dst, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int src, int tag) override;
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>& tensors, int tag) override;

 private:
  c10::intrusive_ptr<c10d::Work> make_work(baton::Work work, c10d::OpType type,
                                           std::vector<at::Tensor> outputs, const char* op);

  baton::Group group_;
  std::shared_ptr<const ErrorContext> context_;
  std::shared_ptr<CompletionThread> completer_;
};

}  // namespace baton_torch
