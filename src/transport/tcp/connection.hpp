// Connection: one TCP socket to one peer rank, after its handshake.
//
// Sending: send() appends a frame (48-byte header + the caller's payload, never
// copied) to the connection's queue. When the queue was empty the calling
// thread writes at once with one sendmsg of header and payload; whatever the
// socket does not take is written by the progress thread when the socket is
// writable. Queued frames go out back to back, several per sendmsg, so the
// pipe stays busy. A send completes when its last byte is in the kernel.
//
// Socket buffers are left to the kernel's autotuning (SO_SNDBUF/SO_RCVBUF
// are not set): setting them turns autotuning off and caps them at
// net.core.{w,r}mem_max, and on loopback explicit 1-4 MiB buffers measured
// no faster than autotuning.
// TCP_NODELAY is on for every connection.
//
// Receiving: bytes are read into a small staging
// buffer, from which headers are decoded and validated and small payloads
// copied; the payload of a large message is read straight into its target
// (the posted receive's buffer, or the matcher's buffer for an early
// message) with readv, the staging buffer catching the next header in the
// same call. When the matcher says a message must wait (the unexpected bound
// is reached) the connection stops reading (EPOLLIN off) until resume().
//
// Failure: EOF, a reset or a write error fails the connection: every send
// queued on it and the receive being filled fail with ConnectionError naming
// the peer ("rank 2 closed its connection (...)"), the socket is closed, and
// the owner is told (it fails the peer's posted receives in the matcher).
// Bytes that are not Baton frames fail it with ProtocolError naming the peer.
// An abort frame from the peer is reported to the owner, which aborts the
// whole context with the peer's reason.
//
// Caller-driven progress (poll(), docs/thread_model.md): a thread waiting on
// a request of this connection reads the socket itself instead of waiting
// for the progress thread to wake. One thread at a time owns the receive
// side (recv_mu_): a caller's poll() try-locks it for one non-blocking pass,
// the progress thread locks it for its handlers. While callers poll (the
// last poll is under 200 us old) the progress thread steps aside: the first
// time it is woken for reading it takes EPOLLIN off the socket ("parks"),
// and a timer puts it back once the polls stop. A hang-up or error event is
// still handled by the progress thread. A caller never runs what only the
// progress thread may (closing the socket on EOF or a read error, an abort
// frame, a header that fails to decode): it leaves the bytes or the error
// where they are, hands the receive side back and defers the rest to the
// progress thread.
//
// Thread safety: send(), poll() and peer() from any thread (poll() never
// from the loop thread); everything else on the loop thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/fd.hpp"
#include "transport/event_loop.hpp"
#include "transport/frame.hpp"
#include "transport/matcher.hpp"
#include "transport/request.hpp"

namespace baton::transport::tcp {

class Connection {
 public:
  struct Events {
    // The connection failed and has closed its socket; `error` names the peer.
    // `graceful`: the peer said goodbye first (it shut its context down on
    // purpose, after the connection had been set up).
    std::function<void(int peer, std::exception_ptr error, bool graceful)> failed;
    // The peer sent an abort frame; `error` is its reason, as an exception of
    // the peer's error code.
    std::function<void(int peer, std::exception_ptr error)> aborted;
  };

  Connection(EventLoop& loop, Matcher& matcher, UniqueFd fd, int rank, int peer, int world_size,
             Events events);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers the socket with the loop. Loop thread.
  void start();
  int peer() const { return peer_; }

  // Queues a data frame; see above. Never blocks on the network. A failed or
  // closed connection fails the request at once with its error.
  void send(const Envelope& envelope, std::span<const std::byte> payload,
            const RequestPtr& request);

  // Caller-driven progress, any thread but the loop's: writes queued sends
  // and reads what has arrived, without blocking, completing requests on
  // the calling thread. Returns at once when another thread holds the
  // receive side. Returns whether it moved any bytes.
  bool poll();
  // Receives that a caller's poll() completed (for tests).
  uint64_t caller_receives() const { return caller_receives_.load(std::memory_order_relaxed); }

  // Loop thread: a receive was posted or buffered bytes were released; a
  // message told to wait may now find room.
  void resume();
  // Loop thread: the context is aborting. Fails the queued sends (the one
  // being written is finished from a private copy, so the stream stays
  // whole) and the receive being filled (its remaining bytes are discarded),
  // then, when tell_peer, queues an abort frame carrying `why`. The
  // connection stays open and keeps reading (and discarding).
  void abort(const std::exception_ptr& why, bool tell_peer);
  // Loop thread: the context is being destroyed. Fails everything with
  // `why`, sends a goodbye frame when the stream is between frames, shuts
  // the socket down and closes it. Tells nobody.
  void close(const std::exception_ptr& why);

 private:
  enum class ReadState { kHeader, kPayload, kWaiting, kClosed };
  struct SendOp {
    FrameHeaderBytes header{};
    std::span<const std::byte> payload;
    std::vector<std::byte> owned;  // payload storage for control frames and rescued sends
    size_t written = 0;            // bytes of header + payload already in the kernel
    RequestPtr request;            // null for control frames
    size_t total() const { return kFrameHeaderSize + payload.size(); }
  };
  enum class FlushResult { kDrained, kBlocked, kFailed };
  using Completions = std::vector<std::pair<RequestPtr, size_t>>;  // request, payload bytes

  void on_events(uint32_t events);
  // Reads and consumes what has arrived; returns whether bytes were read.
  // REQUIRES(recv_mu_)
  bool on_readable(uint32_t events);
  void on_writable();
  // The receive side failed: fail() on the loop thread; a polling caller
  // hands the error back to the loop instead. REQUIRES(recv_mu_)
  void broken(const std::exception_ptr& error);
  // Loop thread, REQUIRES(recv_mu_): runs what a caller handed back.
  void take_back();
  // Loop thread: caller-driven progress is under way; see above.
  bool callers_polling() const;
  void park();
  void check_unpark();
  // Consumes staged bytes; false when reading must stop (waiting or closed).
  bool process_staged();
  bool start_frame();
  bool start_message();
  void finish_payload();
  void fail(const std::exception_ptr& error);
  std::exception_ptr closed_error(const std::string& why) const;

  FlushResult flush_locked(Completions& done);  // REQUIRES(send_mu_)
  void after_flush_locked(FlushResult result);  // REQUIRES(send_mu_)
  void set_interest(int read, int write);       // -1 keeps the current setting
  void apply_interest_locked();                 // REQUIRES(interest_mu_)
  size_t staged() const { return end_ - begin_; }

  EventLoop& loop_;
  Matcher& matcher_;
  UniqueFd fd_;
  const int rank_;
  const int peer_;
  const int world_size_;
  Events events_;

  // Send side.
  std::mutex send_mu_;
  std::deque<SendOp> sendq_;       // GUARDED_BY(send_mu_)
  bool send_closed_ = false;       // GUARDED_BY(send_mu_)
  std::exception_ptr send_error_;  // GUARDED_BY(send_mu_)
  int write_errno_ = 0;            // GUARDED_BY(send_mu_)

  // epoll interest; set from the loop thread and from senders.
  std::mutex interest_mu_;
  bool registered_ = false;  // GUARDED_BY(interest_mu_)
  bool want_read_ = true;    // GUARDED_BY(interest_mu_)
  bool want_write_ = false;  // GUARDED_BY(interest_mu_)
  bool parked_ = false;      // GUARDED_BY(interest_mu_): EPOLLIN off while callers poll
  uint32_t applied_ = 0;     // GUARDED_BY(interest_mu_): the mask epoll has

  // Caller-driven progress: when a caller last polled (steady clock, ns).
  std::atomic<int64_t> polled_at_ns_{0};
  std::atomic<uint64_t> caller_receives_{0};

  // Receive side: everything below is GUARDED_BY(recv_mu_), held by the
  // loop thread's handlers or by one polling caller (recursive: a handler
  // that aborts the context re-enters its own connection).
  std::recursive_mutex recv_mu_;
  bool caller_mode_ = false;           // a caller's poll() is reading
  bool handback_ = false;              // the loop must take over (take_back)
  std::exception_ptr handback_error_;  // what a caller found: the loop fails with it
  std::unique_ptr<std::byte[]> staging_;
  size_t begin_ = 0;
  size_t end_ = 0;
  ReadState state_ = ReadState::kHeader;
  FrameHeader header_;              // of the frame being read
  uint64_t payload_done_ = 0;       // payload bytes of it consumed so far
  Delivery delivery_;               // where its payload goes (data frames)
  std::vector<std::byte> control_;  // abort reason being read
  bool goodbye_ = false;            // the peer said goodbye
};

}  // namespace baton::transport::tcp
