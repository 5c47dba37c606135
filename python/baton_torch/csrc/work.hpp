// WorkBaton: torch's c10d::Work over a baton::Work.
//
// Every operation of ProcessGroupBaton starts asynchronously and returns
// one; torch waits on it for blocking calls. wait(timeout) rethrows the
// operation's baton::Error (Python: RuntimeError with Baton's message); a
// wait that runs out of its own timeout throws (as torch's Work does) and
// leaves the operation pending. Errors carry the operation and the group in
// front of Baton's message (error_context.hpp). getFuture() makes, on first call, a
// c10::ivalue::Future of the output tensors (a TensorList, as gloo's) that
// completes, or gets the operation's error, on the group's CompletionThread.
// The WorkBaton holds the outputs for result(); the operation itself holds
// every tensor it uses (tensor_bridge.hpp), so dropping the WorkBaton early
// is safe.
//
// Thread safety: every method may be called from any thread; getFuture()
// is serialised by a mutex.
#pragma once

#include <ATen/core/ivalue.h>

#include <memory>
#include <mutex>
#include <string>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <vector>

#include "baton/work.hpp"
#include "completion_thread.hpp"
#include "error_context.hpp"

namespace baton_torch {

class WorkBaton final : public c10d::Work {
 public:
  // `op` ("all_reduce", a string literal) and `context` put the operation
  // and the group in front of its errors' messages.
  WorkBaton(baton::Work work, int rank, c10d::OpType type, std::vector<at::Tensor> outputs,
            std::shared_ptr<CompletionThread> completer, const char* op,
            std::shared_ptr<const ErrorContext> context);

  bool isCompleted() override;
  bool isSuccess() const override;
  std::exception_ptr exception() const override;
  int sourceRank() const override;
  std::vector<at::Tensor> result() override;
  void synchronize() override {}
  bool wait(std::chrono::milliseconds timeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  baton::Work work_;
  const std::vector<at::Tensor> outputs_;
  const std::shared_ptr<CompletionThread> completer_;
  const char* const op_;
  const std::shared_ptr<const ErrorContext> context_;
  std::mutex future_mutex_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;  // GUARDED_BY(future_mutex_)
};

}  // namespace baton_torch
