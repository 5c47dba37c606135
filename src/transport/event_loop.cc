// The epoll loop every transport runs on; see event_loop.hpp.
#include "transport/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <future>

#include "baton/error.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"

namespace baton::transport {
namespace {

constexpr uint64_t kWakeId = 0;  // epoll data of the wake-up eventfd
constexpr int kMaxEvents = 64;

}  // namespace

EventLoop::EventLoop(std::string name) : name_(std::move(name)) {
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_)
    throw IoError("event loop " + name_ + ": epoll_create1 failed: " + net::error_text(errno));
  wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_)
    throw IoError("event loop " + name_ + ": eventfd failed: " + net::error_text(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) {
    throw IoError("event loop " + name_ + ": cannot watch its eventfd: " + net::error_text(errno));
  }
  std::promise<void> started;
  auto started_future = started.get_future();
  thread_ = std::jthread([this, &started](std::stop_token stop) {
    thread_id_.store(std::this_thread::get_id());
    started.set_value();
    run(std::move(stop));
  });
  started_future.wait();  // so that in_loop_thread() is right from here on
}

EventLoop::~EventLoop() {
  stop();
}

void EventLoop::stop() {
  if (stopped_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  thread_.request_stop();
  wake();
  if (thread_.joinable()) thread_.join();
}

void EventLoop::wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void EventLoop::drain_wakeups() {
  uint64_t count = 0;
  while (::read(wake_fd_.get(), &count, sizeof(count)) > 0) {
  }
}

void EventLoop::defer(std::function<void()> fn) {
  bool need_wake = false;
  {
    std::lock_guard lock(deferred_mu_);
    deferred_.push_back(std::move(fn));
    need_wake = !wake_pending_;
    wake_pending_ = true;
  }
  // The loop thread looks at its queue before it sleeps again: no wake needed.
  if (need_wake && !in_loop_thread()) wake();
}

void EventLoop::run_sync(const std::function<void()>& fn) {
  if (in_loop_thread()) {
    fn();
    return;
  }
  if (stopped_.load()) throw ConnectionError("event loop " + name_ + " has stopped");
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  defer([&fn, done] {
    try {
      fn();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  // The loop may stop before it runs fn: poll for that instead of hanging.
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stopped_.load() &&
        future.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
      throw ConnectionError("event loop " + name_ + " stopped before running a task");
    }
  }
  future.get();
}

void EventLoop::add(int fd, uint32_t events, Handler handler) {
  const uint64_t id = next_id_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw IoError("event loop " + name_ + ": cannot watch fd " + std::to_string(fd) + ": " +
                  net::error_text(errno));
  }
  watches_[id] = Watch{fd, std::make_shared<Handler>(std::move(handler))};
  std::lock_guard lock(ids_mu_);
  ids_[fd] = id;
}

bool EventLoop::modify(int fd, uint32_t events) {
  std::lock_guard lock(ids_mu_);
  const auto it = ids_.find(fd);
  if (it == ids_.end()) return false;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  return ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) {
  std::lock_guard lock(ids_mu_);
  const auto it = ids_.find(fd);
  if (it == ids_.end()) return;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(it->second);
  ids_.erase(it);
}

uint64_t EventLoop::schedule(Clock::time_point when, std::function<void()> fn) {
  const uint64_t id = next_id_++;
  timers_[id] = std::move(fn);
  timer_queue_.emplace(when, id);
  return id;
}

void EventLoop::cancel(uint64_t timer) {
  timers_.erase(timer);
}

int EventLoop::next_timeout_ms() const {
  if (timer_queue_.empty()) return -1;
  const auto left = timer_queue_.begin()->first - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

template <class Fn>
void EventLoop::guarded(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    // Owners report errors through Requests; one that escapes is a bug. Keep
    // the loop alive so the other connections still make progress.
    BATON_LOG_ERROR(log::Subsys::kTransport)
        << "event loop " << name_ << ": " << what << " threw: " << e.what();
  }
}

void EventLoop::run_deferred() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(deferred_mu_);
    batch.swap(deferred_);
    wake_pending_ = false;
  }
  for (auto& fn : batch) guarded("a deferred function", fn);
}

void EventLoop::run_timers() {
  const auto now = Clock::now();
  while (!timer_queue_.empty() && timer_queue_.begin()->first <= now) {
    const uint64_t id = timer_queue_.begin()->second;
    timer_queue_.erase(timer_queue_.begin());
    const auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    timers_.erase(it);
    guarded("a timer", fn);
  }
}

void EventLoop::run(std::stop_token stop) {
  epoll_event events[kMaxEvents];
  while (!stop.stop_requested()) {
    bool queued = false;
    {
      std::lock_guard lock(deferred_mu_);
      queued = !deferred_.empty();
    }
    const int n = ::epoll_wait(epoll_fd_.get(), events, kMaxEvents, queued ? 0 : next_timeout_ms());
    if (n < 0 && errno != EINTR) {
      BATON_LOG_ERROR(log::Subsys::kTransport)
          << "event loop " << name_ << ": epoll_wait failed: " << net::error_text(errno);
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) {
        drain_wakeups();
        continue;
      }
      const auto it = watches_.find(id);
      if (it == watches_.end()) continue;  // removed by an earlier handler of this batch
      const std::shared_ptr<Handler> handler = it->second.handler;
      const uint32_t got = events[i].events;
      guarded("an fd handler", [&] { (*handler)(got); });
    }
    run_deferred();
    run_timers();
  }
}

}  // namespace baton::transport
