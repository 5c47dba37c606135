// ProcessGroupBaton: c10d::ProcessGroup over a Baton store group (see
// process_group.hpp).
#include "process_group.hpp"

#include <Python.h>

#include <utility>

#include "baton/distributed.hpp"
#include "baton/error.hpp"
#include "store_adapter.hpp"
#include "tensor_bridge.hpp"
#include "work.hpp"

namespace baton_torch {
namespace {

// Releases the GIL for its lifetime when this thread holds it (a destructor
// run by Python's garbage collection), so that Future callbacks that need
// the GIL can finish while we wait for pending operations.
class GilRelease {
 public:
  GilRelease() {
    if (Py_IsInitialized() && PyGILState_Check()) state_ = PyEval_SaveThread();
  }
  ~GilRelease() {
    if (state_ != nullptr) PyEval_RestoreThread(state_);
  }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_ = nullptr;
};

// torch passes lists (one entry per device); Python's API passes one tensor.
at::Tensor& single(std::vector<at::Tensor>& tensors) {
  if (tensors.size() != 1) {
    throw baton::InvalidArgument("takes one tensor per process; got " +
                                 std::to_string(tensors.size()));
  }
  return tensors[0];
}

template <class List>
List& one_list(std::vector<List>& lists, const char* what) {
  if (lists.size() != 1) {
    throw baton::InvalidArgument(std::string("takes one ") + what + " list per process; got " +
                                 std::to_string(lists.size()));
  }
  return lists[0];
}

std::vector<int> world_ranks(const std::vector<int64_t>& global_ranks) {
  return std::vector<int>(global_ranks.begin(), global_ranks.end());
}

std::chrono::milliseconds barrier_timeout(const c10d::BarrierOptions& opts) {
  return opts.timeout.count() > 0 ? opts.timeout : std::chrono::milliseconds(0);
}

std::string group_name(const std::string& group_id) {
  return "torch group " + (group_id.empty() ? std::string("?") : group_id);
}

}  // namespace

ProcessGroupBaton::ProcessGroupBaton(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                     int size, std::chrono::milliseconds timeout,
                                     const std::string& group_id,
                                     const std::vector<int64_t>& global_ranks)
    : c10d::ProcessGroup(rank, size),
      context_(std::make_shared<const ErrorContext>(group_name(group_id), global_ranks)),
      completer_(std::make_shared<CompletionThread>()) {
  group_ = context_->call("new_group", [&] {
    return baton::new_group(std::make_shared<StoreAdapter>(store, timeout), rank, size,
                            {.backend = "native",
                             .timeout = timeout,
                             .name = context_->group_name(),
                             .world_ranks = world_ranks(global_ranks)});
  });
  init();
}

ProcessGroupBaton::~ProcessGroupBaton() {
  GilRelease release;
  try {
    baton::destroy_group(group_);
  } catch (const std::exception&) {
    // Already shut down or never made: nothing left to close.
  }
  // Dropped here, still without the GIL: the completion thread may run
  // Python callbacks before it ends.
  group_ = baton::Group();
  completer_.reset();
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::make_work(baton::Work work, c10d::OpType type,
                                                            std::vector<at::Tensor> outputs,
                                                            const char* op) {
  return c10::make_intrusive<WorkBaton>(std::move(work), getRank(), type, std::move(outputs),
                                        completer_, op, context_);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::broadcast(std::vector<at::Tensor>& tensors,
                                                            const c10d::BroadcastOptions& opts) {
  constexpr const char* op = "broadcast";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::broadcast(t, static_cast<int>(opts.rootRank), group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::BROADCAST, tensors, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::allreduce(std::vector<at::Tensor>& tensors,
                                                            const c10d::AllreduceOptions& opts) {
  constexpr const char* op = "all_reduce";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::all_reduce(t, to_baton(opts.reduceOp), group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::ALLREDUCE, tensors, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::allreduce_coalesced(
    std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) {
  constexpr const char* op = "all_reduce_coalesced";
  return context_->call(op, [&] {
    auto list = to_baton(tensors, "tensor");
    auto work = baton::all_reduce_coalesced(list, to_baton(opts.reduceOp), group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::ALLREDUCE_COALESCED, tensors, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::reduce(std::vector<at::Tensor>& tensors,
                                                         const c10d::ReduceOptions& opts) {
  constexpr const char* op = "reduce";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::reduce(t, static_cast<int>(opts.rootRank), to_baton(opts.reduceOp), group_,
                              baton::async_op);
    return make_work(std::move(work), c10d::OpType::REDUCE, tensors, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::allgather(
    std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& /*opts*/) {
  constexpr const char* op = "all_gather";
  return context_->call(op, [&] {
    auto input = to_baton(single(inputs), "input");
    auto& output_list = one_list(outputs, "output");
    auto list = to_baton(output_list, "output");
    auto work = baton::all_gather(list, input, group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::ALLGATHER, output_list, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::_allgather_base(
    at::Tensor& output, at::Tensor& input, const c10d::AllgatherOptions& /*opts*/) {
  constexpr const char* op = "all_gather_into_tensor";
  return context_->call(op, [&] {
    auto out = to_baton(output, "output");
    auto in = to_baton(input, "input");
    auto work = baton::all_gather_into_tensor(out, in, group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::_ALLGATHER_BASE, {output}, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::gather(
    std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::GatherOptions& opts) {
  constexpr const char* op = "gather";
  return context_->call(op, [&] {
    auto input = to_baton(single(inputs), "input");
    const int root = static_cast<int>(opts.rootRank);
    std::vector<baton::Tensor> list;
    std::vector<at::Tensor> results;
    if (getRank() == root) {
      results = one_list(outputs, "output");
      list = to_baton(results, "output");
    } else if (!outputs.empty()) {
      throw baton::InvalidArgument("only the root (rank " + std::to_string(root) +
                                   ") passes output tensors");
    }
    auto work = baton::gather(input, list, root, group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::GATHER, std::move(results), op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ScatterOptions& opts) {
  constexpr const char* op = "scatter";
  return context_->call(op, [&] {
    auto output = to_baton(single(outputs), "output");
    const int root = static_cast<int>(opts.rootRank);
    std::vector<baton::Tensor> list;
    if (getRank() == root) {
      list = to_baton(one_list(inputs, "input"), "input");
    } else if (!inputs.empty()) {
      throw baton::InvalidArgument("only the root (rank " + std::to_string(root) +
                                   ") passes input tensors");
    }
    auto work = baton::scatter(output, list, root, group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::SCATTER, outputs, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::reduce_scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  constexpr const char* op = "reduce_scatter";
  return context_->call(op, [&] {
    auto output = to_baton(single(outputs), "output");
    auto list = to_baton(one_list(inputs, "input"), "input");
    auto work =
        baton::reduce_scatter(output, list, to_baton(opts.reduceOp), group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::REDUCE_SCATTER, outputs, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::_reduce_scatter_base(
    at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) {
  constexpr const char* op = "reduce_scatter_tensor";
  return context_->call(op, [&] {
    auto out = to_baton(output, "output");
    auto in = to_baton(input, "input");
    auto work =
        baton::reduce_scatter_tensor(out, in, to_baton(opts.reduceOp), group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::_REDUCE_SCATTER_BASE, {output}, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::alltoall_base(
    at::Tensor& output, at::Tensor& input, std::vector<int64_t>& output_split_sizes,
    std::vector<int64_t>& input_split_sizes, const c10d::AllToAllOptions& /*opts*/) {
  constexpr const char* op = "all_to_all_single";
  return context_->call(op, [&] {
    auto out = to_baton(output, "output");
    auto in = to_baton(input, "input");
    auto work = baton::all_to_all_single(out, in, output_split_sizes, input_split_sizes, group_,
                                         baton::async_op);
    return make_work(std::move(work), c10d::OpType::ALLTOALL_BASE, {output}, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::alltoall(std::vector<at::Tensor>& outputs,
                                                           std::vector<at::Tensor>& inputs,
                                                           const c10d::AllToAllOptions& /*opts*/) {
  constexpr const char* op = "all_to_all";
  return context_->call(op, [&] {
    auto out = to_baton(outputs, "output");
    auto in = to_baton(inputs, "input");
    auto work = baton::all_to_all(out, in, group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::ALLTOALL, outputs, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::barrier(const c10d::BarrierOptions& /*opts*/) {
  constexpr const char* op = "barrier";
  return context_->call(op, [&] {
    auto work = baton::barrier(group_, baton::async_op);
    return make_work(std::move(work), c10d::OpType::BARRIER, {}, op);
  });
}

void ProcessGroupBaton::monitoredBarrier(const c10d::BarrierOptions& opts, bool wait_all_ranks) {
  context_->call("monitored_barrier",
                 [&] { baton::monitored_barrier(group_, barrier_timeout(opts), wait_all_ranks); });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::send(std::vector<at::Tensor>& tensors, int dst,
                                                       int tag) {
  constexpr const char* op = "send";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::isend(t, dst, group_, tag);
    return make_work(std::move(work), c10d::OpType::SEND, {}, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::recv(std::vector<at::Tensor>& tensors, int src,
                                                       int tag) {
  constexpr const char* op = "recv";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::irecv(t, src, group_, tag);
    return make_work(std::move(work), c10d::OpType::RECV, tensors, op);
  });
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBaton::recvAnysource(std::vector<at::Tensor>& tensors,
                                                                int tag) {
  constexpr const char* op = "recv (any source)";
  return context_->call(op, [&] {
    auto t = to_baton(single(tensors), "tensor");
    auto work = baton::irecv(t, baton::ANY_SOURCE, group_, tag);
    return make_work(std::move(work), c10d::OpType::RECVANYSOURCE, tensors, op);
  });
}

}  // namespace baton_torch
