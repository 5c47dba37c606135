// WorkBaton: c10d::Work over baton::Work (see work.hpp).
#include "work.hpp"

#include <ATen/core/jit_type.h>
#include <c10/util/Exception.h>

#include <utility>

namespace baton_torch {

WorkBaton::WorkBaton(baton::Work work, int rank, c10d::OpType type, std::vector<at::Tensor> outputs,
                     std::shared_ptr<CompletionThread> completer, const char* op,
                     std::shared_ptr<const std::string> group)
    : c10d::Work(rank, type),
      work_(std::move(work)),
      outputs_(std::move(outputs)),
      completer_(std::move(completer)),
      op_(op),
      group_(std::move(group)) {}

bool WorkBaton::isCompleted() {
  return work_.is_completed();
}

bool WorkBaton::isSuccess() const {
  return work_.is_success();
}

std::exception_ptr WorkBaton::exception() const {
  return work_.exception();
}

int WorkBaton::sourceRank() const {
  return work_.source_rank();
}

std::vector<at::Tensor> WorkBaton::result() {
  return outputs_;
}

bool WorkBaton::wait(std::chrono::milliseconds timeout) {
  if (timeout == kNoTimeout) {
    work_.wait();
    return true;
  }
  TORCH_CHECK(work_.wait(timeout), "baton: ", op_, " on ", *group_, " did not complete within ",
              timeout.count(), " ms (Work.wait's timeout); it is still pending");
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> WorkBaton::getFuture() {
  std::lock_guard lock(future_mutex_);
  if (future_) return future_;
  auto future =
      c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()));
  future_ = future;
  auto complete = [future, outputs = outputs_](std::exception_ptr error) {
    if (error) {
      future->setError(error);
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
