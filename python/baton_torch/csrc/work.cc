// WorkBaton: c10d::Work over baton::Work (see work.hpp).
#include "work.hpp"

#include <ATen/core/jit_type.h>
#include <c10/util/Exception.h>

#include <utility>

namespace baton_torch {

WorkBaton::WorkBaton(baton::Work work, int rank, c10d::OpType type, std::vector<at::Tensor> outputs,
                     std::shared_ptr<CompletionThread> completer, const char* op,
                     std::shared_ptr<const ErrorContext> context)
    : c10d::Work(rank, type),
      work_(std::move(work)),
      outputs_(std::move(outputs)),
      completer_(std::move(completer)),
      op_(op),
      context_(std::move(context)) {}

bool WorkBaton::isCompleted() {
  return work_.is_completed();
}

bool WorkBaton::isSuccess() const {
  return work_.is_success();
}

std::exception_ptr WorkBaton::exception() const {
  return context_->wrap(work_.exception(), op_);
}

int WorkBaton::sourceRank() const {
  return work_.source_rank();
}

std::vector<at::Tensor> WorkBaton::result() {
  return outputs_;
}

bool WorkBaton::wait(std::chrono::milliseconds timeout) {
  if (timeout == kNoTimeout) {
    context_->call(op_, [&] { work_.wait(); });
    return true;
  }
  const bool done = context_->call(op_, [&] { return work_.wait(timeout); });
  TORCH_CHECK(done, "baton: ", op_, " on ", context_->group_name(), " did not complete within ",
              timeout.count(), " ms (Work.wait's timeout); it is still pending");
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> WorkBaton::getFuture() {
  std::lock_guard lock(future_mutex_);
  if (future_) return future_;
  auto future =
      c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()));
  future_ = future;
  auto complete = [future, outputs = outputs_, context = context_,
                   op = op_](std::exception_ptr error) {
    if (error) {
      future->setError(context->wrap(error, op));
    } else {
      future->markCompleted(c10::IValue(outputs));
    }
  };
  if (work_.is_completed()) {
    complete(work_.exception());
    return future_;
  }
  work_.add_done_callback(
      [completer = completer_, complete = std::move(complete)](std::exception_ptr error) {
        completer->post([complete, error] { complete(error); });
      });
  return future_;
}

}  // namespace baton_torch
