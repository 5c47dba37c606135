// The thread that completes torch Futures (see completion_thread.hpp).
#include "completion_thread.hpp"

#include <exception>
#include <iostream>

namespace baton_torch {

CompletionThread::CompletionThread() : queue_(std::make_shared<Queue>()) {}

CompletionThread::~CompletionThread() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stopping = true;
  }
  queue_->wake.notify_all();
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

void CompletionThread::post(std::function<void()> task) {
  std::call_once(started_, [this] { thread_ = std::thread(run, queue_); });
  {
    std::lock_guard lock(queue_->mutex);
    queue_->tasks.push_back(std::move(task));
  }
  queue_->wake.notify_one();
}

void CompletionThread::run(const std::shared_ptr<Queue>& queue) {
  std::unique_lock lock(queue->mutex);
  for (;;) {
    queue->wake.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
    if (queue->tasks.empty()) return;  // stopping, and everything posted has run
    auto task = std::move(queue->tasks.front());
    queue->tasks.pop_front();
    lock.unlock();
    try {
      task();
    } catch (const std::exception& e) {
      std::cerr << "baton_torch: a Future completion failed: " << e.what() << "\n";
    } catch (...) {
      std::cerr << "baton_torch: a Future completion failed\n";
    }
    task = nullptr;  // release what it held outside the lock
    lock.lock();
  }
}

}  // namespace baton_torch
