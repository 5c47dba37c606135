// One peer's TCP socket: framing, zero-copy sends and receives, failure; see
// connection.hpp.
#include "transport/tcp/connection.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "baton/error.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"

namespace baton::transport::tcp {
namespace {

// Room for many small frames per read; large payloads bypass it.
constexpr size_t kStagingSize = 64 * 1024;
// Frames gathered into one sendmsg (two iovecs each).
constexpr int kMaxIov = 64;
// Reads per readiness event before giving other connections a turn.
constexpr int kMaxReadsPerEvent = 32;
// The progress thread steps aside for callers that polled this recently.
constexpr auto kStepAside = std::chrono::microseconds(200);

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Connection::Connection(EventLoop& loop, Matcher& matcher, UniqueFd fd, int rank, int peer,
                       int world_size, Events events)
    : loop_(loop),
      matcher_(matcher),
      fd_(std::move(fd)),
      rank_(rank),
      peer_(peer),
      world_size_(world_size),
      events_(std::move(events)),
      staging_(std::make_unique_for_overwrite<std::byte[]>(kStagingSize)) {}

Connection::~Connection() = default;

void Connection::start() {
  std::lock_guard lock(interest_mu_);
  applied_ = EPOLLIN | EPOLLRDHUP;
  loop_.add(fd_.get(), applied_, [this](uint32_t events) { on_events(events); });
  registered_ = true;
}

std::exception_ptr Connection::closed_error(const std::string& why) const {
  return std::make_exception_ptr(
      ConnectionError("rank " + std::to_string(peer_) + " closed its connection (" + why + ")"));
}

void Connection::set_interest(int read, int write) {
  std::lock_guard lock(interest_mu_);
  bool changed = false;
  if (read >= 0 && want_read_ != (read != 0)) {
    want_read_ = read != 0;
    changed = true;
  }
  if (write >= 0 && want_write_ != (write != 0)) {
    want_write_ = write != 0;
    changed = true;
  }
  if (changed) apply_interest_locked();
}

void Connection::apply_interest_locked() {
  uint32_t mask = want_write_ ? EPOLLOUT : 0u;
  if (!parked_) mask |= EPOLLRDHUP | (want_read_ ? EPOLLIN : 0u);
  if (!registered_ || mask == applied_) return;
  applied_ = mask;
  loop_.modify(fd_.get(), mask);
}

// ---------------------------------------------------------------- caller-driven progress

bool Connection::poll() {
  bool moved = false;
  {
    Completions done;
    std::unique_lock lock(send_mu_, std::try_to_lock);
    if (lock && !send_closed_ && !sendq_.empty()) {
      const size_t queued = sendq_.size();
      const size_t written = sendq_.front().written;
      after_flush_locked(flush_locked(done));
      moved = sendq_.size() != queued || (!sendq_.empty() && sendq_.front().written != written);
    }
    if (lock) lock.unlock();
    for (auto& [r, bytes] : done) r->complete(peer_, bytes);
  }
  std::unique_lock lock(recv_mu_, std::try_to_lock);
  if (!lock) return moved;
  polled_at_ns_.store(now_ns(), std::memory_order_relaxed);
  // An abort frame being read is the loop's (it aborts the context).
  if (handback_ || state_ == ReadState::kClosed || state_ == ReadState::kWaiting ||
      (state_ == ReadState::kPayload && header_.type != FrameType::kData)) {
    return moved;
  }
  caller_mode_ = true;
  moved = on_readable(EPOLLIN) || moved;
  caller_mode_ = false;
  if (handback_) {
    lock.unlock();
    loop_.defer([this] {
      std::lock_guard relock(recv_mu_);
      if (state_ != ReadState::kClosed) on_readable(EPOLLIN);
    });
  }
  return moved;
}

void Connection::broken(const std::exception_ptr& error) {
  if (!caller_mode_) {
    fail(error);
    return;
  }
  handback_ = true;
  if (!handback_error_) handback_error_ = error;
}

void Connection::take_back() {
  if (!handback_) return;
  handback_ = false;
  const std::exception_ptr error = std::move(handback_error_);
  handback_error_ = nullptr;
  if (error) fail(error);
}

bool Connection::callers_polling() const {
  return now_ns() - polled_at_ns_.load(std::memory_order_relaxed) <
         std::chrono::nanoseconds(kStepAside).count();
}

void Connection::park() {
  {
    std::lock_guard lock(interest_mu_);
    if (parked_ || !registered_) return;
    parked_ = true;
    apply_interest_locked();
  }
  loop_.schedule(EventLoop::Clock::now() + kStepAside, [this] { check_unpark(); });
}

void Connection::check_unpark() {
  if (callers_polling()) {
    loop_.schedule(EventLoop::Clock::now() + kStepAside, [this] { check_unpark(); });
    return;
  }
  std::lock_guard lock(interest_mu_);
  parked_ = false;
  apply_interest_locked();
}

// ---------------------------------------------------------------- sending

void Connection::send(const Envelope& envelope, std::span<const std::byte> payload,
                      const RequestPtr& request) {
  SendOp op;
  op.header = encode_frame_header(FrameHeader{FrameType::kData, envelope, payload.size()});
  op.payload = payload;
  op.request = request;
  Completions done;
  std::exception_ptr error;
  {
    std::lock_guard lock(send_mu_);
    if (send_closed_) {
      error = send_error_;
    } else {
      const bool idle = sendq_.empty();
      sendq_.push_back(std::move(op));
      // An idle connection is written by the caller: no hop to the progress
      // thread for the common case of a message that fits the socket buffer.
      if (idle) after_flush_locked(flush_locked(done));
    }
  }
  if (error) request->fail(error);
  for (auto& [r, bytes] : done) r->complete(peer_, bytes);
}

Connection::FlushResult Connection::flush_locked(Completions& done) {
  while (!sendq_.empty()) {
    iovec iov[kMaxIov];
    int n = 0;
    for (SendOp& op : sendq_) {
      if (n + 2 > kMaxIov) break;
      if (op.written < kFrameHeaderSize) {
        iov[n++] = {op.header.data() + op.written, kFrameHeaderSize - op.written};
      }
      const size_t sent = op.written > kFrameHeaderSize ? op.written - kFrameHeaderSize : 0;
      if (sent < op.payload.size()) {
        iov[n++] = {const_cast<std::byte*>(op.payload.data() + sent), op.payload.size() - sent};
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    const ssize_t r = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return FlushResult::kBlocked;
      write_errno_ = errno;
      return FlushResult::kFailed;
    }
    auto left = static_cast<size_t>(r);
    while (!sendq_.empty()) {
      SendOp& op = sendq_.front();
      const size_t take = std::min(left, op.total() - op.written);
      op.written += take;
      left -= take;
      if (op.written < op.total()) break;
      if (op.request) done.emplace_back(std::move(op.request), op.payload.size());
      sendq_.pop_front();
    }
  }
  return FlushResult::kDrained;
}

void Connection::after_flush_locked(FlushResult result) {
  switch (result) {
    case FlushResult::kDrained: set_interest(-1, 0); return;
    case FlushResult::kBlocked: set_interest(-1, 1); return;
    case FlushResult::kFailed: {
      send_closed_ = true;
      send_error_ = closed_error(net::error_text(write_errno_));
      set_interest(-1, 0);
      // fail() needs send_mu_, which the caller holds: run it on the loop.
      loop_.defer([this, error = send_error_] {
        std::lock_guard rx(recv_mu_);
        fail(error);
      });
      return;
    }
  }
}

void Connection::on_writable() {
  Completions done;
  {
    std::lock_guard lock(send_mu_);
    if (send_closed_) {
      set_interest(-1, 0);
      return;
    }
    after_flush_locked(flush_locked(done));
  }
  for (auto& [r, bytes] : done) r->complete(peer_, bytes);
}

// ---------------------------------------------------------------- receiving

void Connection::on_events(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (!(events & (EPOLLHUP | EPOLLERR)) && callers_polling()) {
      park();  // a waiting caller reads it (see connection.hpp)
    } else {
      std::lock_guard rx(recv_mu_);
      if (state_ != ReadState::kClosed) on_readable(events);
    }
  }
  if (events & EPOLLOUT) on_writable();  // the send side has its own lock
}

bool Connection::on_readable(uint32_t events) {
  if (!caller_mode_) take_back();
  if (state_ == ReadState::kClosed) return false;
  bool moved = false;
  if (state_ == ReadState::kWaiting) {
    // Not reading: only a hang-up brings us here. What the peer sent after
    // the waiting message is still in the kernel and is lost with it.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      fail(closed_error(
          "while its messages waited for receives to be posted: the unexpected-message "
          "bound BATON_UNEXPECTED_BYTES was reached, and messages not yet read are lost"));
    }
    return false;
  }
  for (int i = 0; i < kMaxReadsPerEvent; ++i) {
    if (!process_staged()) return moved;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > kStagingSize / 2) {
      std::memmove(staging_.get(), staging_.get() + begin_, staged());
      end_ -= begin_;
      begin_ = 0;
    }
    iovec iov[2];
    int n = 0;
    size_t direct = 0;
    const std::span<std::byte> target =
        header_.type == FrameType::kAbort ? std::span<std::byte>(control_) : delivery_.target;
    if (state_ == ReadState::kPayload && staged() == 0 && !target.empty()) {
      // A payload with nothing staged: read it in place, and the next header
      // into the staging buffer behind it.
      direct = static_cast<size_t>(header_.length - payload_done_);
      iov[n++] = {target.data() + payload_done_, direct};
    }
    const size_t room = kStagingSize - end_;
    iov[n++] = {staging_.get() + end_, room};
    const ssize_t r = ::readv(fd_.get(), iov, n);
    if (r == 0) {
      const bool mid_frame = state_ == ReadState::kPayload || staged() > 0;
      broken(closed_error(
          goodbye_    ? "it shut down its transport context"
          : mid_frame ? "end of stream in the middle of a message: the process exited or was killed"
                      : "end of stream without a goodbye: the process exited or was killed"));
      return moved;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return moved;
      broken(closed_error(net::error_text(errno)));
      return moved;
    }
    moved = true;
    const auto got = static_cast<size_t>(r);
    const size_t into_target = std::min(got, direct);
    payload_done_ += into_target;
    end_ += got - into_target;
    if (direct > 0 && payload_done_ == header_.length) finish_payload();
    if (state_ == ReadState::kClosed) return moved;
    if (got < direct + room) {  // the socket is drained; epoll tells us when more arrives
      process_staged();
      return moved;
    }
  }
  return moved;
}

bool Connection::process_staged() {
  for (;;) {
    if (handback_) return false;
    switch (state_) {
      case ReadState::kHeader: {
        if (staged() < kFrameHeaderSize) return true;
        FrameHeader header;
        try {
          header = decode_frame_header(std::span<const std::byte, kFrameHeaderSize>(
                                           staging_.get() + begin_, kFrameHeaderSize),
                                       peer_, world_size_);
        } catch (...) {
          broken(std::current_exception());
          return false;
        }
        if (caller_mode_ && header.type == FrameType::kAbort) {
          handback_ = true;  // left staged: the loop reads it and aborts the context
          return false;
        }
        header_ = header;
        begin_ += kFrameHeaderSize;
        if (!start_frame()) return false;
        break;
      }
      case ReadState::kPayload: {
        const auto left = header_.length - payload_done_;
        const auto n = static_cast<size_t>(std::min<uint64_t>(staged(), left));
        const std::span<std::byte> target =
            header_.type == FrameType::kAbort ? std::span<std::byte>(control_) : delivery_.target;
        if (n > 0 && !target.empty()) {
          std::memcpy(target.data() + payload_done_, staging_.get() + begin_, n);
        }
        begin_ += n;
        payload_done_ += n;
        if (payload_done_ < header_.length) return true;
        finish_payload();
        break;
      }
      case ReadState::kWaiting:
      case ReadState::kClosed: return false;
    }
  }
}

bool Connection::start_frame() {
  payload_done_ = 0;
  switch (header_.type) {
    case FrameType::kData: return start_message();
    case FrameType::kAbort:
      control_.assign(static_cast<size_t>(header_.length), std::byte{0});
      state_ = ReadState::kPayload;
      if (header_.length == 0) finish_payload();
      return state_ != ReadState::kClosed;
    case FrameType::kGoodbye: goodbye_ = true; return true;
  }
  return true;
}

bool Connection::start_message() {
  delivery_ = matcher_.on_header(peer_, header_.envelope, header_.length);
  if (delivery_.kind == Delivery::Kind::kWait) {
    state_ = ReadState::kWaiting;
    set_interest(0, -1);
    BATON_LOG_DEBUG(log::Subsys::kTransport)
        << "rank " << rank_ << " stops reading rank " << peer_ << ": a " << header_.length
        << "-byte message waits for its receive (unexpected-message bound reached)";
    return false;
  }
  state_ = ReadState::kPayload;
  if (header_.length == 0) finish_payload();
  return state_ != ReadState::kClosed;
}

void Connection::finish_payload() {
  state_ = ReadState::kHeader;
  if (header_.type == FrameType::kAbort) {
    const std::string reason(reinterpret_cast<const char*>(control_.data()), control_.size());
    control_.clear();
    const int64_t code = header_.envelope.tag;
    const ErrorCode error_code = code >= 0 && code <= static_cast<int64_t>(kLastErrorCode)
                                     ? static_cast<ErrorCode>(code)
                                     : ErrorCode::kInternal;
    events_.aborted(peer_, make_error(error_code, reason + " (rank " + std::to_string(peer_) +
                                                      " aborted the group)"));
    return;
  }
  Delivery d = std::move(delivery_);
  delivery_ = Delivery{};
  if (caller_mode_ && d.kind == Delivery::Kind::kDirect)
    caller_receives_.fetch_add(1, std::memory_order_relaxed);
  matcher_.on_payload(d);
}

void Connection::resume() {
  std::lock_guard rx(recv_mu_);
  take_back();
  if (state_ != ReadState::kWaiting) return;
  delivery_ = matcher_.on_header(peer_, header_.envelope, header_.length);
  if (delivery_.kind == Delivery::Kind::kWait) return;
  state_ = ReadState::kPayload;
  set_interest(1, -1);
  if (header_.length == 0) finish_payload();
  process_staged();
}

// ---------------------------------------------------------------- failure

void Connection::fail(const std::exception_ptr& error) {
  if (state_ == ReadState::kClosed) return;
  const ReadState was = state_;
  state_ = ReadState::kClosed;
  std::deque<SendOp> queue;
  {
    std::lock_guard lock(send_mu_);
    send_closed_ = true;
    if (!send_error_) send_error_ = error;
    queue.swap(sendq_);
  }
  {
    std::lock_guard lock(interest_mu_);
    if (registered_) loop_.remove(fd_.get());
    registered_ = false;
  }
  fd_.reset();
  BATON_LOG_INFO(log::Subsys::kTransport)
      << "rank " << rank_ << " lost rank " << peer_ << ": " << baton::error_message(error);
  for (SendOp& op : queue) {
    if (op.request) op.request->fail(error);
  }
  if (was == ReadState::kPayload && header_.type == FrameType::kData)
    matcher_.drop(delivery_, error);
  delivery_ = Delivery{};
  events_.failed(peer_, error, goodbye_);
}

void Connection::abort(const std::exception_ptr& why, bool tell_peer) {
  std::lock_guard rx(recv_mu_);
  take_back();
  if (state_ == ReadState::kClosed) return;
  // Receive side: the message being filled fails; its bytes are discarded.
  if (state_ == ReadState::kPayload && header_.type == FrameType::kData)
    matcher_.drop(delivery_, why);
  if (state_ == ReadState::kWaiting) {
    delivery_ = Delivery{};
    state_ = ReadState::kPayload;
    set_interest(1, -1);
    loop_.defer([this] {
      std::lock_guard relock(recv_mu_);
      if (state_ != ReadState::kClosed) process_staged();
    });
  }
  // Send side.
  Completions failed;
  {
    std::lock_guard send_lock(send_mu_);
    if (send_closed_) return;
    for (auto it = sendq_.begin(); it != sendq_.end();) {
      if (it->written > 0) {
        // Half written: finish it from a copy, so the peer can read the
        // abort frame behind it; the caller may free its buffer now.
        if (it->owned.empty() && !it->payload.empty()) {
          it->owned.assign(it->payload.begin(), it->payload.end());
          it->payload = it->owned;
        }
        if (it->request) failed.emplace_back(std::move(it->request), 0);
        ++it;
      } else {
        if (it->request) failed.emplace_back(std::move(it->request), 0);
        it = sendq_.erase(it);
      }
    }
    if (tell_peer) {
      std::string reason = baton::error_message(why);
      if (reason.size() > kMaxAbortReasonBytes) reason.resize(kMaxAbortReasonBytes);
      SendOp op;
      op.header = encode_frame_header(make_abort_header(baton::error_code(why), reason.size()));
      op.owned.resize(reason.size());
      std::memcpy(op.owned.data(), reason.data(), reason.size());
      op.payload = op.owned;
      sendq_.push_back(std::move(op));
    }
    if (!sendq_.empty()) {
      Completions done;  // control frames only: nothing to complete
      after_flush_locked(flush_locked(done));
    }
  }
  for (auto& [r, bytes] : failed) r->fail(why);
}

void Connection::close(const std::exception_ptr& why) {
  std::lock_guard rx(recv_mu_);
  handback_ = false;  // closing anyway
  handback_error_ = nullptr;
  if (state_ == ReadState::kClosed) return;
  const ReadState was = state_;
  state_ = ReadState::kClosed;
  std::deque<SendOp> unsent;  // data sends that did not get out: they fail
  Completions done;
  {
    std::lock_guard lock(send_mu_);
    if (!send_closed_) {
      // A frame already begun and the control frames (an abort's reason) go
      // out first, best effort without waiting, so the peer reads why this
      // rank left; data sends not yet begun fail. The goodbye comes last, and
      // only reaches the peer when everything before it did.
      std::deque<SendOp> keep;
      for (SendOp& op : sendq_) {
        (op.written > 0 || !op.request ? keep : unsent).push_back(std::move(op));
      }
      sendq_.swap(keep);
      SendOp bye;
      bye.header = encode_frame_header(FrameHeader{FrameType::kGoodbye, Envelope{}, 0});
      sendq_.push_back(std::move(bye));
      flush_locked(done);
      for (SendOp& op : sendq_) {
        if (op.request) unsent.push_back(std::move(op));
      }
      sendq_.clear();
      send_closed_ = true;
      send_error_ = why;
    }
  }
  {
    std::lock_guard lock(interest_mu_);
    if (registered_) loop_.remove(fd_.get());
    registered_ = false;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  fd_.reset();
  for (auto& [r, bytes] : done) r->complete(peer_, bytes);
  for (SendOp& op : unsent) op.request->fail(why);
  if (was == ReadState::kPayload && header_.type == FrameType::kData) matcher_.drop(delivery_, why);
  delivery_ = Delivery{};
}

}  // namespace baton::transport::tcp
