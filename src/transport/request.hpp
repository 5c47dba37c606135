// Request: one send or receive in flight on a transport.
//
// Completes exactly once, successfully (with the source rank and the byte
// count) or with an error. Waiting spins briefly, then sleeps, so ranks may
// outnumber cores.
//
// Thread safety: complete/fail are called by the transport's progress thread,
// wait/done from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace baton::transport {

class Request {
 public:
  using Clock = std::chrono::steady_clock;

  Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // Blocks until the request completes or the deadline passes; returns false
  // at the deadline. Does not throw: read error() afterwards.
  bool wait_until(Clock::time_point deadline);
  bool done() const { return done_.load(std::memory_order_acquire); }
  // nullptr while pending or after success.
  std::exception_ptr error() const;
  // The rank the data came from (receives) or went to (sends).
  int source() const { return source_; }
  // Bytes moved; for receives, the message length.
  size_t bytes() const { return bytes_; }

  // Runs `callback` once when the request completes: at once on this thread
  // when it already has, else on the completing thread (the transport's
  // progress thread, or the caller's where the caller drives the transfer),
  // after the outcome is readable. It must not block.
  void on_done(std::function<void()> callback);

  // For transports: finish the request. The first call wins; later calls are ignored.
  void complete(int source, size_t bytes);
  void fail(std::exception_ptr error);

 private:
  bool finish();
  // Publishes done_, wakes waiters and runs the callbacks.
  void publish();
  std::atomic<bool> done_{false};
  std::atomic<bool> finishing_{false};
  int source_ = -1;
  size_t bytes_ = 0;
  std::exception_ptr error_;  // written before done_ is released
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;                               // guarded by mu_
  std::vector<std::function<void()>> callbacks_;  // guarded by mu_; run once at publish()
};

using RequestPtr = std::shared_ptr<Request>;

}  // namespace baton::transport
