// TcpStoreServer: frames, requests, replies and the buffer cap (the loop and
// the handshake are in tcp_store_server.cc).
//
// A request body is read only once its header has been checked against the
// limits and its claimed length admitted by the BufferBudget; it grows in
// 256 KiB steps as bytes arrive. A get's reply is the frame header and the
// value's length, then the stored value itself, written with sendmsg from
// the map's shared copy: however many clients leave such replies unread,
// the value exists once. When the budget is exceeded, the connections whose
// replies have been stalled longest (and whose closing frees something) are
// closed; a request that still does not fit has its body skipped and is
// answered "busy" (WireError::kBusy), the connection staying open.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "baton/error.hpp"
#include "core/socket.hpp"
#include "store/bytes.hpp"
#include "store/server_impl.hpp"
#include "store/store_common.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using namespace store::server;  // NOLINT(google-build-using-namespace): the server's own private
                                // names

// What a parked request's keys cost besides their bytes (a std::string each).
constexpr uint64_t kPerKeyOverhead = sizeof(std::string);

}  // namespace

// ---- frames -----------------------------------------------------------------

// Grows the body buffer by at most kReadChunk beyond what has arrived, so
// memory follows the bytes received, not the length claimed.
void TcpStoreServer::Impl::grow_body(Conn& c, size_t want) {
  const size_t next = std::min(want, c.body_got + kReadChunk);
  if (next > c.body.capacity())
    c.body.reserve(std::min(want, std::max(next, 2 * c.body.capacity())));
  c.body.resize(next);
  raise_to(largest_buffer_, static_cast<uint64_t>(c.body.capacity()));
  recharge(c);
}

void TcpStoreServer::Impl::on_frame_header(Conn& c) {
  c.frame = tcp::decode_frame_header(c.head);
  if (const std::string why = tcp::check_request_header(c.frame, max_value_); !why.empty()) {
    reject(c, why, /*reply=*/true);
    return;
  }
  // The claim is counted from now on, before its bytes arrive.
  const uint64_t claim = c.frame.length;
  const uint64_t extra = claim > c.body.capacity() ? claim - c.body.capacity() : 0;
  if (extra > 0 && !make_room(extra)) {
    ++busy_;
    if (uint64_t dropped = 0; budget_log_.allow(&dropped)) {
      BATON_LOG_WARN(kLog) << "store server " << address_ << ": busy: a "
                           << tcp::command_name(static_cast<tcp::Command>(c.frame.kind))
                           << " request of " << claim << " bytes from " << c.peer
                           << " does not fit its buffers (" << budget_.used() << " of "
                           << budget_.limit()
                           << " bytes held, BATON_STORE_MAX_BUFFERED_BYTES); answering busy"
                           << log::suppressed(dropped);
    }
    c.state = ConnState::kDiscard;
    c.discard_left = claim;
    return;
  }
  c.state = ConnState::kBody;
  c.body_got = 0;
  c.body.clear();
  recharge(c);
  if (c.frame.length == 0) on_request(c);
}

// Skips a refused request's body into a fixed buffer, then answers busy.
void TcpStoreServer::Impl::discard_body(Conn& c, ReadResult& r) {
  if (c.discard_left > 0) {
    size_t got = 0;
    r = read_into(c, discard_.data(), std::min<uint64_t>(c.discard_left, discard_.size()), got);
    if (r != ReadResult::kProgress) return;
    c.discard_left -= got;
  }
  if (c.discard_left > 0) return;
  send(c,
       tcp::encode_error_reply(tcp::WireError::kBusy,
                               "store server " + address_ + " is busy: its buffers hold " +
                                   std::to_string(budget_.used()) + " bytes and this request of " +
                                   std::to_string(c.frame.length) +
                                   " bytes would pass the limit of " +
                                   std::to_string(budget_.limit()) +
                                   " bytes (BATON_STORE_MAX_BUFFERED_BYTES); nothing was done"),
       ConnState::kHeader);
}

// ---- requests -----------------------------------------------------------------

void TcpStoreServer::Impl::on_request(Conn& c) {
  ++requests_;
  const auto command = static_cast<tcp::Command>(c.frame.kind);
  tcp::Request req;
  const std::string error =
      tcp::decode_request(command, std::span(c.body.data(), c.frame.length), max_value_, req);
  if (!error.empty()) {
    reject(c, error, /*reply=*/true);
    return;
  }
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  try {
    switch (command) {
      case tcp::Command::kSet: {
        const store::KvMap::Value old = map_.share(req.key);
        map_.set(req.key, store::KvMap::Bytes(req.value.begin(), req.value.end()));
        store_changed(req.key, old);
        wake(req.key);
        // Freed before the answer (req's views die here), so stats() are
        // current when the client hears back.
        release_body(c);
        reply(c, tcp::Status::kOk, body);
        break;
      }
      case tcp::Command::kGet:
        if (store::KvMap::Value value = map_.share(req.key)) {
          reply_value(c, std::move(value), /*in_map=*/true);
        } else {
          park(c, /*is_get=*/true, {std::string(req.key)}, req.timeout_ms);
        }
        break;
      case tcp::Command::kAdd: {
        const store::KvMap::Value old = map_.share(req.key);
        w.i64(map_.add(req.key, req.delta));
        store_changed(req.key, old);
        reply(c, tcp::Status::kOk, body);
        wake(req.key);
        break;
      }
      case tcp::Command::kCompareSet: {
        bool created = false;
        const store::KvMap::Value old = map_.share(req.key);
        store::KvMap::Value after = map_.compare_set(req.key, req.expected, req.desired, &created);
        const bool in_map = map_.find(req.key) == after.get();
        if (map_.find(req.key) != old.get()) store_changed(req.key, old);
        if (created) wake(req.key);
        release_body(c);  // as for set
        reply_value(c, std::move(after), in_map);
        break;
      }
      case tcp::Command::kCheck:
        w.u8(all_present(req.keys) ? 1 : 0);
        reply(c, tcp::Status::kOk, body);
        break;
      case tcp::Command::kWait:
        if (all_present(req.keys)) {
          reply(c, tcp::Status::kOk, body);
        } else {
          park(c, /*is_get=*/false, std::vector<std::string>(req.keys.begin(), req.keys.end()),
               req.timeout_ms);
        }
        break;
      case tcp::Command::kDeleteKey: {
        const store::KvMap::Value old = map_.share(req.key);
        w.u8(map_.erase(req.key) ? 1 : 0);
        store_changed(req.key, old);
        reply(c, tcp::Status::kOk, body);
        break;
      }
      case tcp::Command::kNumKeys:
        w.i64(static_cast<int64_t>(map_.size()));
        reply(c, tcp::Status::kOk, body);
        break;
    }
  } catch (const InvalidArgument& e) {
    // The request was well formed but cannot be done (add on a non-counter).
    send(c, tcp::encode_error_reply(tcp::WireError::kInvalidArgument, e.what()),
         ConnState::kHeader);
  }
  if (!c.dead) release_body(c);
}

// An idle connection keeps no large buffer (the request's views into it are
// dead once this is called).
void TcpStoreServer::Impl::release_body(Conn& c) {
  if (c.body.capacity() > kKeepBufferBytes) std::vector<uint8_t>().swap(c.body);
  recharge(c);
}

// `key` changed: the value it held before (`old`) now counts against the
// budget if unread replies still hold it. Called before the change is
// answered, so stats() are current when the client hears back.
void TcpStoreServer::Impl::store_changed(std::string_view /*key*/, const store::KvMap::Value& old) {
  if (!old || !budget_.held(old)) return;
  budget_.dropped_from_map(old);
  buffered_ = budget_.used();
  if (budget_.over()) make_room(0);
}

bool TcpStoreServer::Impl::all_present(std::span<const std::string_view> keys) const {
  return std::ranges::all_of(keys, [&](std::string_view k) { return map_.contains(k); });
}

void TcpStoreServer::Impl::park(Conn& c, bool is_get, std::vector<std::string> keys,
                                uint64_t timeout_ms) {
  const auto wait =
      std::chrono::milliseconds(static_cast<int64_t>(std::min(timeout_ms, kMaxWaitMs)));
  uint64_t bytes = 0;
  for (const std::string& key : keys) bytes += key.size() + kPerKeyOverhead;
  c.waiter = waits_.park(
      {.conn = c.id, .is_get = is_get, .keys = std::move(keys), .timeout_ms = timeout_ms},
      Clock::now() + wait, map_);
  c.parked_bytes = bytes;
  c.state = ConnState::kWaiting;
  recharge(c);
  set_interest(c, EPOLLRDHUP);
  pending_ = waits_.size();
}

// A key was created: answer the parked requests it completes.
// (The count in stats() drops before the answers go out, so a client that
// has its answer never sees its request still counted.)
void TcpStoreServer::Impl::wake(std::string_view key) {
  const std::vector<store::ParkedRequest> ready = waits_.on_key_created(key, map_);
  pending_ = waits_.size();
  for (const store::ParkedRequest& request : ready) answer(request, /*timed_out=*/false);
}

void TcpStoreServer::Impl::expire_waiters(Clock::time_point now) {
  const std::vector<store::ParkedRequest> expired = waits_.take_expired(now);
  pending_ = waits_.size();
  for (const store::ParkedRequest& request : expired) answer(request, /*timed_out=*/true);
}

// Answers a parked request: its value, OK, or a timeout listing the keys
// still missing.
void TcpStoreServer::Impl::answer(const store::ParkedRequest& request, bool timed_out) {
  auto conn = conns_.find(request.conn);
  if (conn == conns_.end() || conn->second->dead) return;
  Conn& c = *conn->second;
  c.waiter = 0;
  c.parked_bytes = 0;
  std::vector<std::string> missing;
  for (const std::string& key : request.keys) {
    if (!map_.contains(key)) missing.push_back(key);
  }
  if (timed_out && !missing.empty()) {
    send(c, tcp::encode_timeout_reply(request.timeout_ms, missing), ConnState::kHeader);
    return;
  }
  if (request.is_get) {
    reply_value(c, map_.share(request.keys[0]), /*in_map=*/true);
  } else {
    reply(c, tcp::Status::kOk, {});
  }
}

// ---- writing ------------------------------------------------------------------

void TcpStoreServer::Impl::reply(Conn& c, tcp::Status status, std::span<const uint8_t> body) {
  send(c, tcp::encode_reply(status, body), ConnState::kHeader);
}

// An OK reply whose body is `blob value`, written from the shared value.
void TcpStoreServer::Impl::reply_value(Conn& c, store::KvMap::Value value, bool in_map) {
  std::vector<uint8_t> head;
  head.reserve(tcp::kFrameHeaderBytes + 4);
  const auto header = tcp::encode_frame_header(static_cast<uint32_t>(4 + value->size()),
                                               static_cast<uint8_t>(tcp::Status::kOk));
  head.insert(head.end(), header.begin(), header.end());
  store::ByteWriter(head).u32(static_cast<uint32_t>(value->size()));
  budget_.hold(value, in_map);
  c.out_value = std::move(value);
  send(c, std::move(head), ConnState::kHeader);
  if (budget_.over()) make_room(0);
}

void TcpStoreServer::Impl::send(Conn& c, std::vector<uint8_t> bytes, ConnState after) {
  keys_ = map_.size();  // stats() is current before the client hears back
  c.out = std::move(bytes);
  c.out_sent = 0;
  c.after_write = after;
  c.state = ConnState::kWriting;
  recharge(c);
  flush(c);
}

void TcpStoreServer::Impl::flush(Conn& c) {
  bool progressed = false;
  for (;;) {
    const size_t value_size = c.out_value ? c.out_value->size() : 0;
    if (c.out_sent >= c.out.size() + value_size) break;
    std::array<iovec, 2> iov{};
    size_t parts = 0;
    if (c.out_sent < c.out.size()) {
      iov[parts++] = {c.out.data() + c.out_sent, c.out.size() - c.out_sent};
    }
    const size_t value_sent = c.out_sent > c.out.size() ? c.out_sent - c.out.size() : 0;
    if (value_sent < value_size) {
      // sendmsg does not write through iov_base; the cast only fits the C struct.
      iov[parts++] = {const_cast<uint8_t*>(c.out_value->data()) + value_sent,  // NOLINT
                      value_size - value_sent};
    }
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = parts;
    const ssize_t n = ::sendmsg(c.fd.get(), &message, MSG_NOSIGNAL);
    if (n >= 0) {
      c.out_sent += static_cast<size_t>(n);
      progressed = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      mark_stalled(c, progressed);
      set_interest(c, EPOLLOUT | EPOLLRDHUP);
      return;
    }
    close_conn(c, "send failed: " + net::error_text(errno));
    return;
  }
  write_done(c);
}

void TcpStoreServer::Impl::write_done(Conn& c) {
  unstall(c);
  release_reply(c);
  if (c.out.capacity() > kKeepBufferBytes) {
    std::vector<uint8_t>().swap(c.out);
  } else {
    c.out.clear();
  }
  c.out_sent = 0;
  c.state = c.after_write;
  recharge(c);
  set_interest(c, EPOLLIN | EPOLLRDHUP);
}

// The reply met a full socket buffer: it is stalled from now (again, when
// some of it went out since it was last stalled).
void TcpStoreServer::Impl::mark_stalled(Conn& c, bool progressed) {
  if (c.stalled_since && !progressed) return;
  unstall(c);
  c.stalled_since = Clock::now();
  stalled_.emplace(*c.stalled_since, c.id);
}

void TcpStoreServer::Impl::unstall(Conn& c) {
  if (!c.stalled_since) return;
  stalled_.erase({*c.stalled_since, c.id});
  c.stalled_since.reset();
}

void TcpStoreServer::Impl::release_reply(Conn& c) {
  if (!c.out_value) return;
  budget_.release(c.out_value);
  c.out_value.reset();
  buffered_ = budget_.used();
}

// ---- the buffer cap -------------------------------------------------------------

// A connection's charge: its body (the claim while one is being read, then
// the buffer), its reply buffer and its parked keys.
void TcpStoreServer::Impl::recharge(Conn& c) {
  uint64_t now = 0;
  if (!c.dead) {
    uint64_t body = c.body.capacity();
    if (c.state == ConnState::kBody && c.body_got < c.frame.length) {
      body = std::max<uint64_t>(body, c.frame.length);
    }
    now = body + c.out.capacity() + c.parked_bytes;
  }
  budget_.recharge(c.charge, now);
  buffered_ = budget_.used();
}

// Makes `need` more bytes fit, closing the connections whose replies have
// been stalled longest among those whose closing frees memory (a value only
// unread replies hold, or a large reply buffer). Returns whether it fits.
bool TcpStoreServer::Impl::make_room(uint64_t need) {
  for (auto it = stalled_.begin(); it != stalled_.end() && !budget_.fits(need);) {
    const auto [since, id] = *it;
    ++it;  // close_conn below erases the entry we are on, never the next
    auto conn = conns_.find(id);
    if (conn == conns_.end() || conn->second->dead) continue;
    Conn& c = *conn->second;
    const bool frees =
        (c.out_value && budget_.orphaned(c.out_value)) || c.out.capacity() > kKeepBufferBytes;
    if (!frees) continue;
    ++stalled_closed_;
    if (uint64_t dropped = 0; budget_log_.allow(&dropped)) {
      const auto unread =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
      BATON_LOG_WARN(kLog) << "store server " << address_ << ": closing connection from " << c.peer
                           << ": its reply has been unread for " << unread.count()
                           << " ms while the server's buffers hold " << budget_.used()
                           << " bytes, over the limit of " << budget_.limit()
                           << " (BATON_STORE_MAX_BUFFERED_BYTES)" << log::suppressed(dropped);
    }
    close_conn(c, "");
  }
  return budget_.fits(need);
}

}  // namespace baton
