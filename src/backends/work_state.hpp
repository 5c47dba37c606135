// WorkState: the completion that every copy of a baton::Work shares.
//
// A WorkState completes exactly once, successfully (with a source rank, for
// receives) or with an error (an exception_ptr); the first of complete() and
// fail() wins and later calls are ignored. Backends make one per operation:
//  - a plain state, completed by whoever runs the operation (the native
//    backend's worker, or the caller's thread for a blocking call);
//  - a state bound to a transport::Request (point-to-point), which completes
//    when the request does, without any thread in between.
//
// Waiting spins for BATON_SPIN_US (spin::spin_duration()), then sleeps on a condition variable, so
// fast operations stay fast and ranks may outnumber cores.
//
// Work::wait() bounds its wait: by the operation's deadline plus a grace
// (collectives, whose backend fails them at the deadline with a precise
// error), or by a timeout counted from the call (point-to-point). When the
// bound passes, expire() fails the state with a TimeoutError naming the
// operation and calls the expiry hook, which aborts the group so that no
// transfer can still touch the caller's tensors.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "transport/request.hpp"

namespace baton::detail {

class WorkState : public std::enable_shared_from_this<WorkState> {
 public:
  using Clock = std::chrono::steady_clock;
  // Called once, with the TimeoutError, when Work::wait() gives up.
  using ExpiryHook = std::function<void(std::exception_ptr)>;

  struct Options {
    // The operation, for messages: "all_reduce #3 on group world".
    std::string description{};
    // Or, where building it on every call costs more than the operation
    // (point-to-point): builds the description when a message needs it.
    // Used instead of `description` when set; called from any thread.
    std::function<std::string()> describe{};
    // Work::wait() gives up at this time point (collectives) ...
    std::optional<Clock::time_point> deadline{};
    // ... or this long after it was called (point-to-point). Zero with no
    // deadline: wait without bound (only for states that surely complete).
    std::chrono::milliseconds wait_timeout{0};
    ExpiryHook on_expiry{};
    // Receives: the bytes the tensor holds. A message of another size fails
    // the Work with MismatchError naming both sizes (a longer one the
    // transport already refused).
    std::optional<size_t> expected_bytes{};
  };

  // A pending state.
  explicit WorkState(Options options);
  WorkState(const WorkState&) = delete;
  WorkState& operator=(const WorkState&) = delete;

  // A state that completes when `request` does; source_rank() is the
  // request's source when `is_receive`, -1 otherwise.
  static std::shared_ptr<WorkState> for_request(transport::RequestPtr request, bool is_receive,
                                                Options options);
  // A state already failed with `error` (an operation refused up front).
  static std::shared_ptr<WorkState> failed(std::exception_ptr error, std::string description);

  // Called once with the outcome's error (nullptr on success) when the state
  // completes: at once when it has, else on the completing thread. An
  // exception a callback throws is logged and dropped.
  using Callback = std::function<void(std::exception_ptr)>;
  void add_callback(Callback callback);

  // Finish the state; the first call wins. Return whether this call finished it.
  bool complete(int source_rank = -1);
  bool fail(std::exception_ptr error);

  bool done() const;
  // Blocks until done or the deadline; returns done(). Never throws.
  bool wait_until(Clock::time_point deadline);
  // The bound Work::wait() uses when called now.
  Clock::time_point wait_bound() const;
  // If still pending: fails the state with a TimeoutError naming the
  // operation and runs the expiry hook with it.
  void expire();

  // nullptr while pending or after success.
  std::exception_ptr error() const;
  int source_rank() const;
  std::string description() const {
    return options_.describe ? options_.describe() : options_.description;
  }

 private:
  // Pulls the outcome of a finished request into this state.
  void absorb_request() const;
  bool finish(int source_rank, std::exception_ptr error) const;

  Options options_;
  transport::RequestPtr request_;  // set for point-to-point states
  bool is_receive_ = false;

  mutable std::atomic<bool> done_{false};
  mutable std::atomic<bool> finishing_{false};
  mutable int source_rank_ = -1;      // written before done_ is released
  mutable std::exception_ptr error_;  // written before done_ is released
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int waiters_ = 0;                  // GUARDED_BY(mu_)
  mutable std::vector<Callback> callbacks_;  // GUARDED_BY(mu_); run once by finish()
  bool request_hooked_ = false;              // GUARDED_BY(mu_)
};

}  // namespace baton::detail
