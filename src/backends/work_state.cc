// WorkState: completing once, waiting with a short spin and then a sleep.
#include "backends/work_state.hpp"

#include <thread>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "core/spin.hpp"

namespace baton::detail {
namespace {
// "Without bound" in practice: far enough that no wait reaches it, near
// enough that no clock arithmetic overflows.
constexpr auto kForever = std::chrono::hours(24 * 365);

void run_callback(const WorkState::Callback& callback, const std::exception_ptr& error) {
  try {
    callback(error);
  } catch (const std::exception& e) {
    BATON_LOG_WARN(log::Subsys::kColl) << "a Work's done callback threw: " << e.what();
  } catch (...) {
    BATON_LOG_WARN(log::Subsys::kColl) << "a Work's done callback threw a non-std exception";
  }
}
}  // namespace

WorkState::WorkState(Options options) : options_(std::move(options)) {}

std::shared_ptr<WorkState> WorkState::for_request(transport::RequestPtr request, bool is_receive,
                                                  Options options) {
  auto state = std::make_shared<WorkState>(std::move(options));
  state->request_ = std::move(request);
  state->is_receive_ = is_receive;
  return state;
}

std::shared_ptr<WorkState> WorkState::failed(std::exception_ptr error, std::string description) {
  auto state = std::make_shared<WorkState>(Options{.description = std::move(description)});
  state->fail(std::move(error));
  return state;
}

bool WorkState::finish(int source_rank, std::exception_ptr error) const {
  bool expected = false;
  if (!finishing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return false;
  source_rank_ = source_rank;
  error_ = std::move(error);
  std::vector<Callback> callbacks;
  {
    std::lock_guard lock(mu_);
    done_.store(true, std::memory_order_release);
    if (waiters_ > 0) cv_.notify_all();
    callbacks.swap(callbacks_);
  }
  for (auto& callback : callbacks) run_callback(callback, error_);
  return true;
}

void WorkState::add_callback(Callback callback) {
  bool hook_request = false;
  {
    std::lock_guard lock(mu_);
    if (!done_.load(std::memory_order_acquire)) {
      callbacks_.push_back(std::move(callback));
      hook_request = request_ && !request_hooked_;
      request_hooked_ = true;
    }
  }
  if (hook_request) {
    // A point-to-point state finishes when someone looks at it; the request
    // looks at it when it completes, on the completing thread. The state
    // must outlive the request's callback list: the callback holds it.
    request_->on_done([self = shared_from_this()] { self->absorb_request(); });
    return;
  }
  if (callback) run_callback(callback, error());
}

bool WorkState::complete(int source_rank) {
  return finish(source_rank, nullptr);
}

bool WorkState::fail(std::exception_ptr error) {
  if (!error) error = std::make_exception_ptr(Error("WorkState::fail called without an error"));
  return finish(-1, std::move(error));
}

void WorkState::absorb_request() const {
  if (!request_ || !request_->done()) return;
  if (auto error = request_->error()) {
    finish(-1, error);
  } else if (is_receive_ && options_.expected_bytes &&
             request_->bytes() != *options_.expected_bytes) {
    finish(-1, std::make_exception_ptr(MismatchError(
                   description() + ": the message from rank " + std::to_string(request_->source()) +
                   " is " + std::to_string(request_->bytes()) + " bytes but the tensor holds " +
                   std::to_string(*options_.expected_bytes) +
                   " bytes (the ranks sent and received tensors of different sizes; the "
                   "tensor's contents are unspecified)")));
  } else {
    finish(is_receive_ ? request_->source() : -1, nullptr);
  }
}

bool WorkState::done() const {
  if (done_.load(std::memory_order_acquire)) return true;
  absorb_request();
  return done_.load(std::memory_order_acquire);
}

bool WorkState::wait_until(Clock::time_point deadline) {
  if (done()) return true;
  if (request_) {
    // The request has its own spin-then-sleep wait; a state failed on its
    // own (expire) has had its group aborted, which fails the request too.
    request_->wait_until(deadline);
    return done();
  }
  const auto spin_until = std::min(deadline, Clock::now() + spin::spin_duration());
  while (Clock::now() < spin_until) {
    if (done_.load(std::memory_order_acquire)) return true;
    std::this_thread::yield();
  }
  std::unique_lock lock(mu_);
  ++waiters_;
  const bool ok =
      cv_.wait_until(lock, deadline, [&] { return done_.load(std::memory_order_acquire); });
  --waiters_;
  return ok;
}

WorkState::Clock::time_point WorkState::wait_bound() const {
  if (options_.deadline) return *options_.deadline;
  const auto now = Clock::now();
  if (options_.wait_timeout.count() > 0) return now + options_.wait_timeout;
  return now + kForever;
}

void WorkState::expire() {
  if (done()) return;
  std::string message = description() + " did not complete";
  if (!options_.deadline && options_.wait_timeout.count() > 0) {
    message += " within the group's timeout of " + describe_duration(options_.wait_timeout);
  } else {
    message += " by its deadline";
  }
  auto error = std::make_exception_ptr(TimeoutError(message));
  if (fail(error) && options_.on_expiry) options_.on_expiry(error);
}

std::exception_ptr WorkState::error() const {
  return done() ? error_ : nullptr;
}

int WorkState::source_rank() const {
  return done() ? source_rank_ : -1;
}

}  // namespace baton::detail
