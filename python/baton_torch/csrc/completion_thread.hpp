// CompletionThread: one thread per process group that completes the
// c10::ivalue::Futures of its Works (Work::getFuture).
//
// Baton runs a Work's done callbacks on its own progress or worker thread,
// and they must not block. Completing a torch Future runs whatever its users
// chained to it: DDP's bucket callbacks, or Python functions that take the
// GIL. Those run here instead, in the order the operations completed, so
// Baton's threads never wait for the GIL or for torch code.
//
// Thread safety: post() may be called from any thread. The thread starts on
// the first post(). The destructor runs every task already posted, then
// joins the thread (a destructor that runs on the thread itself detaches it;
// the queue lives as long as the thread).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace baton_torch {

class CompletionThread {
 public:
  CompletionThread();
  ~CompletionThread();
  CompletionThread(const CompletionThread&) = delete;
  CompletionThread& operator=(const CompletionThread&) = delete;

  // Queues task; tasks run one at a time in the order posted. A task that
  // throws is dropped (its exception is printed to stderr).
  void post(std::function<void()> task);

 private:
  struct Queue {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;  // GUARDED_BY(mutex)
    bool stopping = false;                    // GUARDED_BY(mutex)
  };
  static void run(const std::shared_ptr<Queue>& queue);

  std::shared_ptr<Queue> queue_;
  std::once_flag started_;
  std::thread thread_;
};

}  // namespace baton_torch
