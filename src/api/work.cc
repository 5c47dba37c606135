// Work: the public handle over a shared detail::WorkState.
#include "baton/work.hpp"

#include "backends/work_state.hpp"

namespace baton {

Work::Work() = default;

Work::Work(std::shared_ptr<detail::WorkState> state) : state_(std::move(state)) {}

void Work::wait() {
  if (!state_) return;
  if (!state_->wait_until(state_->wait_bound())) state_->expire();
  if (auto error = state_->error()) std::rethrow_exception(error);
}

bool Work::wait(std::chrono::milliseconds timeout) {
  if (!state_) return true;
  if (!state_->wait_until(detail::WorkState::Clock::now() + timeout)) return false;
  if (auto error = state_->error()) std::rethrow_exception(error);
  return true;
}

bool Work::is_completed() const {
  return !state_ || state_->done();
}

bool Work::is_success() const {
  return !state_ || (state_->done() && !state_->error());
}

std::exception_ptr Work::exception() const {
  return state_ ? state_->error() : nullptr;
}

int Work::source_rank() const {
  return state_ ? state_->source_rank() : -1;
}

void Work::add_done_callback(std::function<void(std::exception_ptr)> callback) const {
  if (!callback) return;
  if (!state_) {
    callback(nullptr);
    return;
  }
  state_->add_callback(std::move(callback));
}

}  // namespace baton
