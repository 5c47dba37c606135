// Request completion and waiting: spin briefly, then sleep on a condition variable.
#include "transport/request.hpp"

#include <thread>

#include "core/spin.hpp"

namespace baton::transport {

bool Driver::drive(int peer) {
  // Dekker with detach(): either detach sees this user, or this user sees
  // the context detached (both sides use sequentially consistent order).
  users_.fetch_add(1, std::memory_order_seq_cst);
  bool work = false;
  if (attached_.load(std::memory_order_seq_cst)) work = poll_(peer);
  users_.fetch_sub(1, std::memory_order_release);
  return work;
}

void Driver::detach() {
  attached_.store(false, std::memory_order_seq_cst);
  while (users_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

bool Request::wait_until(Clock::time_point deadline) {
  if (done()) return true;
  const auto spin_until = std::min(deadline, Clock::now() + spin::spin_duration());
  if (driver_) {
    // Poll the transport on this thread; look at the clock and yield the
    // core only after a run of idle polls, so that ranks outnumbering cores
    // still progress and a fast reply is seen within a poll or two.
    unsigned idle = 0;
    while (!done()) {
      if (driver_->drive(driver_peer_)) continue;
      if ((++idle & 15) == 0) {
        if (Clock::now() >= spin_until) break;
        std::this_thread::yield();
      } else {
        spin::cpu_relax();
      }
    }
    if (done()) return true;
  }
  while (Clock::now() < spin_until) {
    if (done()) return true;
    std::this_thread::yield();
  }
  std::unique_lock lock(mu_);
  ++waiters_;
  const bool ok = cv_.wait_until(lock, deadline, [&] { return done(); });
  --waiters_;
  return ok;
}

std::exception_ptr Request::error() const {
  return done() ? error_ : nullptr;
}

bool Request::finish() {
  bool expected = false;
  return finishing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
}

void Request::on_done(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (!done()) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

void Request::publish() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu_);
    done_.store(true, std::memory_order_release);
    if (waiters_ > 0) cv_.notify_all();
    callbacks.swap(callbacks_);
  }
  for (auto& callback : callbacks) callback();
}

void Request::complete(int source, size_t bytes) {
  if (!finish()) return;
  source_ = source;
  bytes_ = bytes;
  publish();
}

void Request::fail(std::exception_ptr error) {
  if (!finish()) return;
  error_ = std::move(error);
  publish();
}

}  // namespace baton::transport
