// BlockingCall: tells a backend, on the calling thread, that the operation it
// is about to start will be waited on at once.
//
// The api layer opens one around each blocking collective. A backend may then
// run the operation on the calling thread instead of handing it to a worker
// and waking that thread (the native backend does so when nothing else of the
// group is queued or running), which saves a thread hop per call. The hint
// never changes what an operation does, only where it runs.
//
// Thread safety: the flag is thread-local.
#pragma once

namespace baton::backends {

class BlockingCall {
 public:
  explicit BlockingCall(bool blocking) : previous_(active_) { active_ = blocking; }
  ~BlockingCall() { active_ = previous_; }
  BlockingCall(const BlockingCall&) = delete;
  BlockingCall& operator=(const BlockingCall&) = delete;

  // Whether the innermost open scope on this thread is a blocking call.
  static bool active() { return active_; }

 private:
  static inline thread_local bool active_ = false;
  bool previous_;
};

}  // namespace baton::backends
