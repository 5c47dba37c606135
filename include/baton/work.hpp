// Work: the completion handle of an operation.
//
// Every point-to-point and collective call returns a Work. Blocking calls
// return one that is already complete; calls given baton::async_op return
// at once and the Work completes later. wait() rethrows the operation's
// error (a baton::Error subclass). Until wait() returns, the tensors the
// operation uses must stay alive and must not be read (outputs) or written
// (inputs), as in torch.distributed.
//
// Thread safety: a Work may be waited on from several threads; copies share
// one completion.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>

namespace baton {

namespace detail {
class WorkState;
}

class Work {
 public:
  // A completed, successful Work.
  Work();
  explicit Work(std::shared_ptr<detail::WorkState> state);

  // Blocks until the operation completes; throws its error. The group's
  // timeout bounds the wait (TimeoutError naming the operation).
  void wait();
  // Waits at most `timeout`; false when the operation is still running.
  // Throws the operation's error when it failed.
  bool wait(std::chrono::milliseconds timeout);
  bool is_completed() const;
  // Whether it completed without error (false while pending).
  bool is_success() const;
  // The error of a failed operation; nullptr otherwise.
  std::exception_ptr exception() const;
  // The rank a receive got its message from (useful with ANY_SOURCE); for
  // other operations, -1.
  int source_rank() const;
  // Runs `callback` exactly once when the operation completes, with its
  // error (nullptr on success): at once, on this thread, when it already
  // has; otherwise on the thread that completes it (the backend's progress
  // or worker thread, or a thread blocked in wait()). Several callbacks run
  // in the order added. A callback must not block and must not start or
  // wait for operations of the group; an exception it throws is logged and
  // dropped. A completed Work with no state (blocking calls) runs it at once.
  // wait() may return before the completing thread has run the callbacks.
  void add_done_callback(std::function<void(std::exception_ptr)> callback) const;

 private:
  std::shared_ptr<detail::WorkState> state_;
};

// Pass as the last argument of an operation to get a pending Work back
// instead of blocking: baton::all_reduce(t, ReduceOp::SUM, baton::world(), baton::async_op).
struct AsyncOp {
  bool value = false;
};
inline constexpr AsyncOp async_op{true};

}  // namespace baton
