// EventLoop: one epoll loop on its own thread, the progress engine of a transport.
//
// Every transport builds on this one class (docs/thread_model.md): a Context
// owns one EventLoop, whose thread watches the Context's file descriptors and
// calls their handlers, runs functions deferred to it by other threads, and
// fires timers. Handlers run one at a time, on the loop thread, and must not
// block: they read and write non-blocking sockets and complete Requests.
//
// Waking the loop: defer() writes an eventfd only when the loop is not
// already due to look at its queue, so a burst of deferred functions costs
// one wake-up.
//
// Shutdown: stop() (or the destructor) asks the thread to finish the
// iteration it is in and joins it. Functions deferred after that are never
// run; run_sync() after stop() throws ConnectionError. Handlers of fds still
// registered are dropped without being called; the owner closes its fds.
//
// Thread safety: defer(), run_sync(), modify(), in_loop_thread() and stop()
// may be called from any thread; add(), remove(), schedule() and cancel()
// only on the loop thread (use defer() or run_sync() to get there).
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/fd.hpp"

namespace baton::transport {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  // Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, ...) of its fd.
  using Handler = std::function<void(uint32_t events)>;

  // Creates the epoll instance and the wake-up eventfd and starts the thread.
  // `name` is used in log lines. Throws IoError when the kernel refuses an fd.
  explicit EventLoop(std::string name);
  // stop(), then closes the loop's own fds.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs fn on the loop thread, after the handlers of the current iteration.
  // Never blocks; functions run in the order they were deferred.
  void defer(std::function<void()> fn);
  // Runs fn on the loop thread and waits for it to return; runs it inline
  // when called on the loop thread. Rethrows what fn throws. Throws
  // ConnectionError when the loop has stopped.
  void run_sync(const std::function<void()>& fn);
  bool in_loop_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // Watches fd for `events` (EPOLLIN | EPOLLOUT | EPOLLRDHUP ...; level
  // triggered). Loop thread only. Throws IoError when epoll refuses the fd.
  void add(int fd, uint32_t events, Handler handler);
  // Changes the events watched for fd. Any thread; the caller serialises
  // modify() calls for one fd. Returns false when epoll refused (fd gone).
  bool modify(int fd, uint32_t events);
  // Stops watching fd and drops its handler (even while it runs: the handler
  // object lives until it returns). Loop thread only. The caller closes fd.
  void remove(int fd);

  // Calls fn on the loop thread at `when` (or soon after). Loop thread only.
  // Returns an id for cancel().
  uint64_t schedule(Clock::time_point when, std::function<void()> fn);
  // Forgets a timer that has not fired; unknown ids are ignored.
  void cancel(uint64_t timer);

  // Finishes the current iteration and joins the thread. Idempotent. Must
  // not be called on the loop thread.
  void stop();

 private:
  struct Watch {
    int fd;
    std::shared_ptr<Handler> handler;
  };

  void run(std::stop_token stop);
  void wake();
  void drain_wakeups();
  void run_deferred();
  void run_timers();
  int next_timeout_ms() const;
  template <class Fn>
  void guarded(const char* what, Fn&& fn);

  std::string name_;
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stopped_{false};

  std::mutex deferred_mu_;
  std::vector<std::function<void()>> deferred_;  // GUARDED_BY(deferred_mu_)
  bool wake_pending_ = false;                    // GUARDED_BY(deferred_mu_)

  std::mutex ids_mu_;
  std::unordered_map<int, uint64_t>
      ids_;  // fd -> id; GUARDED_BY(ids_mu_), written on the loop thread

  // Loop thread only.
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Watch> watches_;  // by id (the epoll data)
  std::multimap<Clock::time_point, uint64_t> timer_queue_;
  std::unordered_map<uint64_t, std::function<void()>> timers_;

  std::jthread thread_;  // last: started after everything above exists
};

}  // namespace baton::transport
