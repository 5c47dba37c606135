// MpiBackend: each operation as one non-blocking MPI call on the engine thread.
#include "backends/mpi/mpi_backend.hpp"

#include <climits>
#include <cstring>
#include <optional>
#include <thread>

#include "backends/blocking_call.hpp"
#include "backends/mpi/types.hpp"
#include "baton/dtype.hpp"
#include "baton/error.hpp"
#include "baton/reduce_op.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::backends::mpi {
namespace {

constexpr auto kSubsys = log::Subsys::kColl;
// Largest blocking collective (bytes of its tensors) run on the calling
// thread: measured faster up to here (latency), slower at 1 MiB
// (docs/clusters.md).
constexpr size_t kCallerMaxBytes = 64 * 1024;
using Buffer = std::shared_ptr<std::vector<std::byte>>;

// MPI counts are ints: a larger count is refused rather than truncated.
int count_of(size_t n, const Task& task) {
  if (n > static_cast<size_t>(INT_MAX)) {
    throw InvalidArgument(task.work->description() + ": " + std::to_string(n) +
                          " items exceed MPI's count limit of " + std::to_string(INT_MAX) +
                          " per call (mpi backend)");
  }
  return static_cast<int>(n);
}

Buffer make_buffer() {
  return std::make_shared<std::vector<std::byte>>();
}

void finish_avg(ReduceOp op, const Tensor& tensor, int size) {
  if (op == ReduceOp::AVG && tensor.numel() > 0) {
    kernels::divide(tensor.dtype(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()), size);
  }
}

std::vector<const Tensor*> pointers(const std::vector<Tensor>& list, const Tensor* extra) {
  std::vector<const Tensor*> out;
  for (const auto& t : list) out.push_back(&t);
  if (extra) out.push_back(extra);
  return out;
}

}  // namespace

MpiBackend::MpiBackend(MPI_Comm comm, int rank, int size, std::string group_name,
                       std::chrono::milliseconds timeout, int tag_ub)
    : comm_(comm),
      rank_(rank),
      size_(size),
      group_name_(std::move(group_name)),
      timeout_(timeout),
      tag_ub_(tag_ub),
      caller_runs_(config::get_bool("BATON_MPI_CALLER_THREAD") &&
                   Runtime::get().thread_level() == MPI_THREAD_MULTIPLE) {}

MpiBackend::~MpiBackend() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    BATON_LOG_WARN(kSubsys) << "mpi: " << group_name_ << ": shutdown failed: " << e.what();
  }
}

namespace {

// "float32, 5 elements, SUM, root 0": what this rank passes a collective.
std::string args_of(const Tensor& t, std::optional<ReduceOp> op = std::nullopt, int root = -1) {
  std::string out = std::string(dtype_name(t.dtype())) + ", " + std::to_string(t.numel()) +
                    (t.numel() == 1 ? " element" : " elements");
  if (op) out += ", " + std::string(reduce_op_name(*op));
  if (root >= 0) out += ", root " + std::to_string(root);
  return out;
}

}  // namespace

Work MpiBackend::submit(OpText op_text, bool collective, const std::vector<const Tensor*>& tensors,
                        std::function<void(Task&, MPI_Comm)> start,
                        std::function<int(Task&)> finish) {
  std::shared_ptr<detail::WorkState> work;
  {
    std::unique_lock lock(mu_);
    const std::string& op = op_text.name;
    const std::string description = op + " #" + std::to_string(++seq_) +
                                    (op_text.details.empty() ? "" : " (" + op_text.details + ")") +
                                    " on group " + group_name_ + " (mpi backend, rank " +
                                    std::to_string(rank_) + ")";
    if (shut_down_) {
      return Work(detail::WorkState::failed(
          std::make_exception_ptr(InvalidArgument(
              description + ": the group was destroyed by destroy_process_group()")),
          description));
    }
    if (failure_) return Work(detail::WorkState::failed(failure_, description));
    for (const Tensor* t : tensors) {
      if (t->defined() && t->device().is_cuda()) {
        return Work(detail::WorkState::failed(
            std::make_exception_ptr(InvalidArgument(
                "mpi backend: " + op + ": a tensor is on " + t->device().str() +
                "; the mpi backend works on cpu tensors (use the nccl backend for cuda)")),
            description));
      }
    }
    detail::WorkState::Options options{.description = description};
    if (collective) {
      options.deadline = detail::WorkState::Clock::now() + timeout_;
    } else {
      options.wait_timeout = timeout_;
    }
    options.on_expiry = [weak = weak_from_this()](std::exception_ptr error) {
      if (auto self = weak.lock()) {
        std::lock_guard failure_lock(self->mu_);
        if (!self->failure_) self->failure_ = error;
      }
    };
    work = std::make_shared<detail::WorkState>(std::move(options));
    if (in_flight_.size() >= 64 || (collective && BlockingCall::active())) {
      std::erase_if(in_flight_, [](const auto& w) { return w->done(); });
    }
    // A small blocking collective with nothing of the group in flight runs on
    // the calling thread (MPI_THREAD_MULTIPLE only; posted under mu_ so that
    // no later operation of the group can start before it).
    size_t bytes = 0;
    for (const Tensor* t : tensors) bytes += t->nbytes();
    if (collective && BlockingCall::active() && caller_runs_ && bytes <= kCallerMaxBytes &&
        in_flight_.empty()) {
      in_flight_.push_back(work);
      auto task = std::make_unique<Task>();
      task->work = work;
      task->finish = std::move(finish);
      try {
        start(*task, comm_);
      } catch (...) {
        work->fail(std::current_exception());
        return Work(std::move(work));
      }
      lock.unlock();
      run_on_caller(std::move(task));
      return Work(std::move(work));
    }
    in_flight_.push_back(work);
  }
  auto task = std::make_unique<Task>();
  task->work = work;
  task->start = [start = std::move(start), comm = comm_](Task& t) { start(t, comm); };
  task->finish = std::move(finish);
  task->passive = op_text.name == "recv";
  Runtime::get().submit(std::move(task));
  return Work(std::move(work));
}

void MpiBackend::abort(std::exception_ptr why) {
  std::vector<std::shared_ptr<detail::WorkState>> pending;
  {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = why;
    pending = in_flight_;
  }
  for (const auto& work : pending) work->fail(why);
}

void MpiBackend::run_on_caller(std::unique_ptr<Task> task) {
  const auto deadline = task->work->wait_bound();
  while (true) {
    int flag = 1;
    const int rc = test_requests(*task, &flag);
    if (rc != MPI_SUCCESS) {
      task->work->fail(mpi_error(rc, task->work->description()));
      return;
    }
    if (flag) {
      try {
        task->work->complete(task->finish ? task->finish(*task) : -1);
      } catch (...) {
        task->work->fail(std::current_exception());
      }
      return;
    }
    // As MPI_Wait: spin, yielding the CPU, until done or the deadline.
    if (detail::WorkState::Clock::now() >= deadline) break;
    std::this_thread::yield();
  }
  // Past the deadline: the engine keeps polling (and the tensors alive);
  // Work::wait() reports the timeout.
  task->start = nullptr;
  Runtime::get().submit(std::move(task));
}

Work MpiBackend::send(const Tensor& tensor, int dst, int tag) {
  return submit(
      {"send", "to rank " + std::to_string(dst) + ", tag " + std::to_string(tag)}, false, {&tensor},
      [tensor, dst, tag, ub = tag_ub_](Task& t, MPI_Comm comm) {
        if (tag > ub) {
          throw InvalidArgument(
              t.work->description() + ": tag " + std::to_string(tag) +
              " exceeds this MPI's largest tag (MPI_TAG_UB = " + std::to_string(ub) + ")");
        }
        t.requests.resize(1);
        check(MPI_Isend(tensor.data_ptr(), count_of(tensor.nbytes(), t), MPI_BYTE, dst, tag, comm,
                        t.requests.data()),
              t.work->description());
      },
      nullptr);
}

Work MpiBackend::recv(Tensor& tensor, int src, int tag) {
  Tensor target = tensor;
  return submit(
      {"recv", (src < 0 ? std::string("from any rank") : "from rank " + std::to_string(src)) +
                   ", tag " + std::to_string(tag)},
      false, {&tensor},
      [target, src, tag, ub = tag_ub_](Task& t, MPI_Comm comm) {
        if (tag > ub) {
          throw InvalidArgument(
              t.work->description() + ": tag " + std::to_string(tag) +
              " exceeds this MPI's largest tag (MPI_TAG_UB = " + std::to_string(ub) + ")");
        }
        t.requests.resize(1);
        check(MPI_Irecv(target.data_ptr(), count_of(target.nbytes(), t), MPI_BYTE,
                        src < 0 ? MPI_ANY_SOURCE : src, tag, comm, t.requests.data()),
              t.work->description());
      },
      [target](Task& t) {
        const MPI_Status& status = t.statuses[0];
        int got = 0;
        MPI_Get_count(&status, MPI_BYTE, &got);
        if (static_cast<size_t>(got) != target.nbytes()) {
          throw MismatchError(
              t.work->description() + ": expected " + std::to_string(target.nbytes()) + " bytes (" +
              std::to_string(target.numel()) + " " + std::string(dtype_name(target.dtype())) +
              " elements) but rank " + std::to_string(status.MPI_SOURCE) + " sent " +
              std::to_string(got) + " bytes");
        }
        return status.MPI_SOURCE;
      });
}

Work MpiBackend::broadcast(Tensor& tensor, int root) {
  Tensor t = tensor;
  return submit(
      {"broadcast", args_of(tensor, std::nullopt, root)}, true, {&tensor},
      [t, root](Task& task, MPI_Comm comm) {
        task.requests.resize(1);
        check(MPI_Ibcast(t.data_ptr(), count_of(t.nbytes(), task), MPI_BYTE, root, comm,
                         task.requests.data()),
              task.work->description());
      },
      nullptr);
}

Work MpiBackend::all_reduce(Tensor& tensor, ReduceOp op) {
  Tensor t = tensor;
  return submit(
      {"all_reduce", args_of(tensor, op)}, true, {&tensor},
      [t, op](Task& task, MPI_Comm comm) {
        task.requests.resize(1);
        check(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(),
                             count_of(static_cast<size_t>(t.numel()), task),
                             reduction_type(t.dtype()), reduction_op(op, t.dtype()), comm,
                             task.requests.data()),
              task.work->description());
      },
      [t, op, n = size_](Task&) {
        finish_avg(op, t, n);
        return -1;
      });
}

Work MpiBackend::reduce(Tensor& tensor, int root, ReduceOp op) {
  Tensor t = tensor;
  const bool is_root = rank_ == root;
  return submit(
      {"reduce", args_of(tensor, op, root)}, true, {&tensor},
      [t, op, root, is_root](Task& task, MPI_Comm comm) {
        task.requests.resize(1);
        check(MPI_Ireduce(is_root ? MPI_IN_PLACE : t.data_ptr(), is_root ? t.data_ptr() : nullptr,
                          count_of(static_cast<size_t>(t.numel()), task), reduction_type(t.dtype()),
                          reduction_op(op, t.dtype()), root, comm, task.requests.data()),
              task.work->description());
      },
      [t, op, is_root, n = size_](Task&) {
        if (is_root) finish_avg(op, t, n);
        return -1;
      });
}

Work MpiBackend::all_gather(std::vector<Tensor>& outputs, const Tensor& input) {
  auto buffer = make_buffer();
  const size_t bytes = input.nbytes();
  return submit(
      {"all_gather", args_of(input) + " per rank"}, true, pointers(outputs, &input),
      [in = input, buffer, bytes, n = size_](Task& task, MPI_Comm comm) {
        buffer->resize(bytes * static_cast<size_t>(n));
        const int count = count_of(bytes, task);
        task.requests.resize(1);
        check(MPI_Iallgather(in.data_ptr(), count, MPI_BYTE, buffer->data(), count, MPI_BYTE, comm,
                             task.requests.data()),
              task.work->description());
      },
      [outs = outputs, buffer, bytes](Task&) {
        for (size_t j = 0; j < outs.size(); ++j) {
          if (bytes > 0) std::memcpy(outs[j].data_ptr(), buffer->data() + j * bytes, bytes);
        }
        return -1;
      });
}

Work MpiBackend::gather(const Tensor& input, std::vector<Tensor>& outputs, int root) {
  auto buffer = make_buffer();
  const size_t bytes = input.nbytes();
  const bool is_root = rank_ == root;
  return submit(
      {"gather", args_of(input, std::nullopt, root) + " per rank"}, true, pointers(outputs, &input),
      [in = input, buffer, bytes, root, is_root, n = size_](Task& task, MPI_Comm comm) {
        if (is_root) buffer->resize(bytes * static_cast<size_t>(n));
        const int count = count_of(bytes, task);
        task.requests.resize(1);
        check(MPI_Igather(in.data_ptr(), count, MPI_BYTE, is_root ? buffer->data() : nullptr, count,
                          MPI_BYTE, root, comm, task.requests.data()),
              task.work->description());
      },
      [outs = outputs, buffer, bytes, is_root](Task&) {
        if (!is_root) return -1;
        for (size_t j = 0; j < outs.size(); ++j) {
          if (bytes > 0) std::memcpy(outs[j].data_ptr(), buffer->data() + j * bytes, bytes);
        }
        return -1;
      });
}

Work MpiBackend::scatter(Tensor& output, const std::vector<Tensor>& inputs, int root) {
  auto buffer = make_buffer();
  const size_t bytes = output.nbytes();
  const bool is_root = rank_ == root;
  return submit(
      {"scatter", args_of(output, std::nullopt, root) + " per rank"}, true,
      pointers(inputs, &output),
      [out = output, ins = inputs, buffer, bytes, root, is_root](Task& task, MPI_Comm comm) {
        if (is_root) {
          buffer->resize(bytes * ins.size());
          for (size_t j = 0; j < ins.size(); ++j) {
            if (bytes > 0) std::memcpy(buffer->data() + j * bytes, ins[j].data_ptr(), bytes);
          }
        }
        const int count = count_of(bytes, task);
        task.requests.resize(1);
        check(MPI_Iscatter(is_root ? buffer->data() : nullptr, count, MPI_BYTE, out.data_ptr(),
                           count, MPI_BYTE, root, comm, task.requests.data()),
              task.work->description());
      },
      nullptr);
}

Work MpiBackend::reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) {
  auto buffer = make_buffer();
  return submit(
      {"reduce_scatter", args_of(output, op) + " per rank"}, true, pointers(inputs, &output),
      [out = output, ins = inputs, buffer, op](Task& task, MPI_Comm comm) {
        const size_t bytes = out.nbytes();
        buffer->resize(bytes * ins.size());
        for (size_t j = 0; j < ins.size(); ++j) {
          if (bytes > 0) std::memcpy(buffer->data() + j * bytes, ins[j].data_ptr(), bytes);
        }
        task.requests.resize(1);
        check(MPI_Ireduce_scatter_block(buffer->data(), out.data_ptr(),
                                        count_of(static_cast<size_t>(out.numel()), task),
                                        reduction_type(out.dtype()), reduction_op(op, out.dtype()),
                                        comm, task.requests.data()),
              task.work->description());
      },
      [out = output, op, n = size_](Task&) {
        finish_avg(op, out, n);
        return -1;
      });
}

Work MpiBackend::all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) {
  // Counts and displacements must outlive the call until it completes.
  struct Layout {
    std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
    std::vector<std::byte> send, recv;
  };
  auto layout = std::make_shared<Layout>();
  return submit(
      "all_to_all", true, pointers(inputs, nullptr),
      [ins = inputs, outs = outputs, layout](Task& task, MPI_Comm comm) {
        size_t send_total = 0, recv_total = 0;
        for (size_t j = 0; j < ins.size(); ++j) {
          layout->send_displs.push_back(count_of(send_total, task));
          layout->send_counts.push_back(count_of(ins[j].nbytes(), task));
          send_total += ins[j].nbytes();
          layout->recv_displs.push_back(count_of(recv_total, task));
          layout->recv_counts.push_back(count_of(outs[j].nbytes(), task));
          recv_total += outs[j].nbytes();
        }
        count_of(send_total, task);
        count_of(recv_total, task);
        layout->send.resize(send_total);
        layout->recv.resize(recv_total);
        for (size_t j = 0; j < ins.size(); ++j) {
          if (ins[j].nbytes() > 0) {
            std::memcpy(layout->send.data() + layout->send_displs[j], ins[j].data_ptr(),
                        ins[j].nbytes());
          }
        }
        task.requests.resize(1);
        check(MPI_Ialltoallv(layout->send.data(), layout->send_counts.data(),
                             layout->send_displs.data(), MPI_BYTE, layout->recv.data(),
                             layout->recv_counts.data(), layout->recv_displs.data(), MPI_BYTE, comm,
                             task.requests.data()),
              task.work->description());
      },
      [outs = outputs, layout](Task&) {
        for (size_t j = 0; j < outs.size(); ++j) {
          if (outs[j].nbytes() > 0) {
            std::memcpy(outs[j].data_ptr(), layout->recv.data() + layout->recv_displs[j],
                        outs[j].nbytes());
          }
        }
        return -1;
      });
}

Work MpiBackend::barrier() {
  return submit(
      "barrier", true, {},
      [](Task& task, MPI_Comm comm) {
        task.requests.resize(1);
        check(MPI_Ibarrier(comm, task.requests.data()), task.work->description());
      },
      nullptr);
}

void MpiBackend::shutdown() {
  std::vector<std::shared_ptr<detail::WorkState>> pending;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    pending.swap(in_flight_);
  }
  const auto deadline = detail::WorkState::Clock::now() + timeout_;
  for (const auto& work : pending) {
    if (!work->wait_until(deadline)) {
      BATON_LOG_WARN(kSubsys) << "mpi: " << group_name_ << ": " << work->description()
                              << " still running at shutdown; its communicator is kept";
      return;
    }
  }
  MPI_Comm comm = comm_;
  Runtime::get().run_sync([comm] { Runtime::get().release(comm); }, timeout_,
                          "mpi backend: freeing the communicator of group " + group_name_);
}

}  // namespace baton::backends::mpi
