// Request: one send or receive in flight on a transport.
//
// Completes exactly once, successfully (with the source rank and the byte
// count) or with an error. Waiting spins briefly, then sleeps, so ranks may
// outnumber cores. A transport whose waiting thread can move the bytes
// itself (shared memory) attaches a Driver: the wait then calls it while it
// spins, so a message completes on the waiting thread without a hop through
// the progress thread (caller-driven progress, docs/thread_model.md).
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
#include <utility>
#include <vector>

namespace baton::transport {

// Caller-driven progress for one transport context, the one mechanism every
// transport uses (tcp and shm): the context gives its requests a Driver,
// shared by the context and its pending requests (a Request may outlive
// its context), whose poll moves a peer's bytes on the calling thread. drive(peer)
// runs the context's poll for `peer` (-1: every peer) and returns whether it
// did something; after detach() it does nothing. detach() returns once no
// drive() is running, so the context may then go away.
//
// Thread safety: drive from any thread, concurrently; detach once, from the
// context's destructor (never from inside a drive).
class Driver {
 public:
  explicit Driver(std::function<bool(int)> poll) : poll_(std::move(poll)) {}
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;
  bool drive(int peer);
  void detach();

 private:
  std::function<bool(int)> poll_;
  std::atomic<int> users_{0};
  std::atomic<bool> attached_{true};
};

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

  // For transports, before the request is handed out: wait_until polls
  // `driver` for `peer` while it spins.
  void set_driver(std::shared_ptr<Driver> driver, int peer) {
    driver_ = std::move(driver);
    driver_peer_ = peer;
  }

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
  std::exception_ptr error_;        // written before done_ is released
  std::shared_ptr<Driver> driver_;  // set before the request is shared, then read-only
  int driver_peer_ = -1;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;                               // guarded by mu_
  std::vector<std::function<void()>> callbacks_;  // guarded by mu_; run once at publish()
};

using RequestPtr = std::shared_ptr<Request>;

}  // namespace baton::transport
