// TcpStoreServer: one epoll loop on one thread serves every client.
//
// Each connection is a small state machine: kHello (reading the fixed 8-byte
// hello into a member array: nothing is allocated before a client proves it
// speaks the protocol), kHeader (8-byte frame header, validated against the
// limits), kBody (the body, grown in 256 KiB steps as bytes arrive, so a
// frame that claims much and sends little holds little), kWaiting (a get or
// wait parked until its keys exist or its deadline), kWriting (a reply that
// did not fit the socket buffer). A connection that breaks the protocol is
// logged and closed; everyone else is unaffected.
//
// Parked requests live in a WaitList (wait_list.hpp); epoll_wait sleeps
// until the nearest of their deadlines.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>

#include <thread>
#include <unordered_map>

#include "baton/error.hpp"
#include "core/random.hpp"
#include "baton/tcp_store.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"
#include "store/bytes.hpp"
#include "store/kv_map.hpp"
#include "store/store_common.hpp"
#include "store/tcp_protocol.hpp"
#include "store/server_connection.hpp"
#include "store/wait_list.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using namespace store::server;  // NOLINT(google-build-using-namespace): the server's own private names

}  // namespace

class TcpStoreServer::Impl {
 public:
  explicit Impl(TcpStoreServerOptions options)
      : options_(std::move(options)),
        max_value_(tcp::resolve_max_value_bytes(options_.max_value_bytes)) {
    if (options_.max_connections <= 0) {
      throw InvalidArgument("TcpStoreServer: max_connections " +
                            std::to_string(options_.max_connections) + ", expected > 0");
    }
    listen_ = net::listen_tcp(options_.host, options_.port);
    port_ = net::local_address(listen_.get()).port();
    address_ = net::format_host_port(options_.host, port_);
    wake_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!wake_ || !epoll_)
      throw ConnectionError("TcpStoreServer: cannot create its event loop: " +
                            net::error_text(errno));
    add_to_epoll(listen_.get(), EPOLLIN, kListenId);
    add_to_epoll(wake_.get(), EPOLLIN, kWakeId);
    epoch_ = random_u64();
    BATON_LOG_INFO(kLog) << "store server listening on " << address_ << " (epoch " << epoch_
                         << ", values up to " << max_value_ << " bytes)";
    thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
  }

  ~Impl() { stop(); }

  uint16_t port() const { return port_; }
  const std::string& host() const { return options_.host; }
  const std::string& address() const { return address_; }

  void stop() {
    std::lock_guard lock(stop_mutex_);
    if (!thread_.joinable()) return;
    thread_.request_stop();
    const uint64_t one = 1;
    while (::write(wake_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    thread_.join();
    BATON_LOG_INFO(kLog) << "store server " << address_ << " stopped";
  }

  TcpStoreServerStats stats() const {
    return {.connections_accepted = accepted_.load(),
            .connections_open = open_.load(),
            .connections_rejected = rejected_.load(),
            .requests = requests_.load(),
            .pending_waits = pending_.load(),
            .keys = keys_.load(),
            .largest_read_buffer = largest_buffer_.load()};
  }

 private:
  // ---- the loop -----------------------------------------------------------

  void run(const std::stop_token& stop) {
    std::array<epoll_event, kMaxEvents> events{};
    while (!stop.stop_requested()) {
      const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, next_timeout_ms());
      if (n < 0) {
        if (errno == EINTR) continue;
        BATON_LOG_ERROR(kLog) << "store server " << address_
                              << ": epoll_wait failed: " << net::error_text(errno);
        break;
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t id = events[i].data.u64;
        if (id == kListenId) {
          accept_all();
        } else if (id == kWakeId) {
          // stop() wrote the eventfd; the loop condition sees the request.
        } else if (auto it = conns_.find(id); it != conns_.end() && !it->second->dead) {
          on_event(*it->second, events[i].events);
        }
      }
      const auto now = Clock::now();
      expire_waiters(now);
      expire_hellos(now);
      if (accept_paused_ && now >= accept_resume_) {
        accept_paused_ = false;
        add_to_epoll(listen_.get(), EPOLLIN, kListenId);
      }
      for (uint64_t id : dead_) conns_.erase(id);
      dead_.clear();
    }
    // Closing every connection is what tells blocked clients the server is gone.
    waits_.clear();
    conns_.clear();
    listen_.reset();
    open_ = 0;
    pending_ = 0;
  }

  int next_timeout_ms() const {
    std::optional<Clock::time_point> next;
    const auto consider = [&](Clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    if (const auto deadline = waits_.next_deadline()) consider(*deadline);
    if (!hello_deadlines_.empty()) consider(hello_deadlines_.front().first);
    if (accept_paused_) consider(accept_resume_);
    return next ? net::poll_timeout_ms(*next) : -1;
  }

  void add_to_epoll(int fd, uint32_t events, uint64_t id) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw ConnectionError("store server " + address_ +
                            ": epoll_ctl failed: " + net::error_text(errno));
    }
  }

  void set_interest(Conn& c, uint32_t events) {
    if (c.dead || c.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
      close_conn(c, "epoll_ctl failed: " + net::error_text(errno));
      return;
    }
    c.events = events;
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage storage{};
      socklen_t length = sizeof(storage);
      const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&storage), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        // Out of fds or memory: stop accepting for a moment rather than spin.
        BATON_LOG_WARN(kLog) << "store server " << address_
                             << ": accept failed: " << net::error_text(errno)
                             << "; pausing new connections for " << kAcceptPause.count() << " ms";
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);
        accept_paused_ = true;
        accept_resume_ = Clock::now() + kAcceptPause;
        return;
      }
      UniqueFd owned(fd);
      const std::string peer =
          net::SocketAddress(reinterpret_cast<sockaddr*>(&storage), length).to_string();
      if (conns_.size() >= static_cast<size_t>(options_.max_connections)) {
        ++rejected_;
        BATON_LOG_WARN(kLog) << "store server " << address_ << ": refusing connection from " << peer
                             << ": " << conns_.size() << " connections open, the limit is "
                             << options_.max_connections;
        continue;
      }
      net::set_nodelay(fd);
      auto conn = std::make_unique<Conn>();
      conn->id = next_conn_id_++;
      conn->fd = std::move(owned);
      conn->peer = peer;
      conn->events = EPOLLIN | EPOLLRDHUP;
      add_to_epoll(conn->fd.get(), conn->events, conn->id);
      hello_deadlines_.emplace_back(Clock::now() + kHelloTimeout, conn->id);
      BATON_LOG_DEBUG(kLog) << "store server " << address_ << ": connection from " << peer;
      conns_.emplace(conn->id, std::move(conn));
      ++accepted_;
      ++open_;
    }
  }

  void on_event(Conn& c, uint32_t events) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
      close_conn(c, "");
      return;
    }
    if (c.state == ConnState::kWriting && (events & EPOLLOUT) != 0) flush(c);
    if (c.dead) return;
    if (c.state == ConnState::kWaiting || c.state == ConnState::kWriting) {
      // Only a hang-up is of interest while a request is in flight.
      if ((events & EPOLLRDHUP) != 0) close_conn(c, "");
      return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) read_requests(c);
  }

  // ---- reading ------------------------------------------------------------

  enum class ReadResult { kProgress, kWouldBlock, kClosed };

  ReadResult read_into(Conn& c, uint8_t* data, size_t size, size_t& got) {
    for (;;) {
      const ssize_t n = ::recv(c.fd.get(), data, size, 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
        return ReadResult::kProgress;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ReadResult::kWouldBlock;
      close_conn(c, n == 0 ? "" : "recv failed: " + net::error_text(errno));
      return ReadResult::kClosed;
    }
  }

  void read_requests(Conn& c) {
    int handled = 0;
    while (!c.dead && handled < kRequestsPerWakeup) {
      ReadResult r = ReadResult::kProgress;
      switch (c.state) {
        case ConnState::kHello:
        case ConnState::kHeader: {
          const size_t want =
              c.state == ConnState::kHello ? tcp::kHelloBytes : tcp::kFrameHeaderBytes;
          r = read_into(c, c.head.data() + c.head_got, want - c.head_got, c.head_got);
          if (r == ReadResult::kProgress && c.head_got == want) {
            c.head_got = 0;
            if (c.state == ConnState::kHello) {
              on_hello(c);
            } else {
              on_frame_header(c);
            }
          }
          break;
        }
        case ConnState::kBody: {
          const size_t want = c.frame.length;
          if (c.body_got == c.body.size()) grow_body(c, want);
          r = read_into(c, c.body.data() + c.body_got, c.body.size() - c.body_got, c.body_got);
          if (r == ReadResult::kProgress && c.body_got == want) {
            on_request(c);
            ++handled;
          }
          break;
        }
        case ConnState::kWaiting:
        case ConnState::kWriting: return;
      }
      if (r != ReadResult::kProgress) return;
    }
  }

  // Grows the body buffer by at most kReadChunk beyond what has arrived, so
  // memory follows the bytes received, not the length claimed.
  void grow_body(Conn& c, size_t want) {
    const size_t next = std::min(want, c.body_got + kReadChunk);
    if (next > c.body.capacity())
      c.body.reserve(std::min(want, std::max(next, 2 * c.body.capacity())));
    c.body.resize(next);
    raise_to(largest_buffer_, static_cast<uint64_t>(c.body.capacity()));
  }

  void on_hello(Conn& c) {
    const tcp::Hello hello = tcp::decode_hello(c.head);
    if (hello.magic == tcp::kHelloMagic && hello.version != tcp::kProtocolVersion) {
      // Tell a baton client of another version which one we speak; it reports both.
      const auto ack =
          tcp::encode_hello_ack({.status = tcp::HelloStatus::kVersionMismatch, .epoch = epoch_});
      [[maybe_unused]] const ssize_t n =
          ::send(c.fd.get(), ack.data(), ack.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (const std::string why = tcp::check_hello(c.head); !why.empty()) {
      reject(c, why, /*reply=*/false);  // no error frame: the peer may not speak the protocol
      return;
    }
    const auto ack =
        tcp::encode_hello_ack({.status = tcp::HelloStatus::kAccepted, .epoch = epoch_});
    send(c, std::vector<uint8_t>(ack.begin(), ack.end()));
  }

  void on_frame_header(Conn& c) {
    c.frame = tcp::decode_frame_header(c.head);
    if (const std::string why = tcp::check_request_header(c.frame, max_value_); !why.empty()) {
      reject(c, why, /*reply=*/true);
      return;
    }
    c.state = ConnState::kBody;
    c.body_got = 0;
    c.body.clear();
    if (c.frame.length == 0) on_request(c);
  }

  // ---- requests -----------------------------------------------------------

  void on_request(Conn& c) {
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
        case tcp::Command::kSet:
          map_.set(req.key, store::KvMap::Bytes(req.value.begin(), req.value.end()));
          reply(c, tcp::Status::kOk, body);
          wake(req.key);
          break;
        case tcp::Command::kGet:
          if (const auto* value = map_.find(req.key)) {
            w.blob(*value);
            reply(c, tcp::Status::kOk, body);
          } else {
            park(c, /*is_get=*/true, {std::string(req.key)}, req.timeout_ms);
          }
          break;
        case tcp::Command::kAdd:
          w.i64(map_.add(req.key, req.delta));
          reply(c, tcp::Status::kOk, body);
          wake(req.key);
          break;
        case tcp::Command::kCompareSet: {
          bool created = false;
          w.blob(map_.compare_set(req.key, req.expected, req.desired, &created));
          reply(c, tcp::Status::kOk, body);
          if (created) wake(req.key);
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
        case tcp::Command::kDeleteKey:
          w.u8(map_.erase(req.key) ? 1 : 0);
          reply(c, tcp::Status::kOk, body);
          break;
        case tcp::Command::kNumKeys:
          w.i64(static_cast<int64_t>(map_.size()));
          reply(c, tcp::Status::kOk, body);
          break;
      }
    } catch (const InvalidArgument& e) {
      // The request was well formed but cannot be done (add on a non-counter).
      send(c, tcp::encode_error_reply(tcp::WireError::kInvalidArgument, e.what()));
    }
    // An idle connection keeps no large buffer.
    if (c.body.capacity() > kKeepBufferBytes) std::vector<uint8_t>().swap(c.body);
  }

  bool all_present(std::span<const std::string_view> keys) const {
    return std::ranges::all_of(keys, [&](std::string_view k) { return map_.contains(k); });
  }

  void park(Conn& c, bool is_get, std::vector<std::string> keys, uint64_t timeout_ms) {
    const auto wait =
        std::chrono::milliseconds(static_cast<int64_t>(std::min(timeout_ms, kMaxWaitMs)));
    c.waiter = waits_.park(
        {.conn = c.id, .is_get = is_get, .keys = std::move(keys), .timeout_ms = timeout_ms},
        Clock::now() + wait, map_);
    c.state = ConnState::kWaiting;
    set_interest(c, EPOLLRDHUP);
    pending_ = waits_.size();
  }

  // A key was created: answer the parked requests it completes.
  // (The count in stats() drops before the answers go out, so a client that
  // has its answer never sees its request still counted.)
  void wake(std::string_view key) {
    const std::vector<store::ParkedRequest> ready = waits_.on_key_created(key, map_);
    pending_ = waits_.size();
    for (const store::ParkedRequest& request : ready) answer(request, /*timed_out=*/false);
  }

  void expire_waiters(Clock::time_point now) {
    const std::vector<store::ParkedRequest> expired = waits_.take_expired(now);
    pending_ = waits_.size();
    for (const store::ParkedRequest& request : expired) answer(request, /*timed_out=*/true);
  }

  // Answers a parked request: its value, OK, or a timeout listing the keys
  // still missing.
  void answer(const store::ParkedRequest& request, bool timed_out) {
    auto conn = conns_.find(request.conn);
    if (conn == conns_.end() || conn->second->dead) return;
    Conn& c = *conn->second;
    c.waiter = 0;
    std::vector<std::string> missing;
    for (const std::string& key : request.keys) {
      if (!map_.contains(key)) missing.push_back(key);
    }
    if (timed_out && !missing.empty()) {
      send(c, tcp::encode_timeout_reply(request.timeout_ms, missing));
      return;
    }
    std::vector<uint8_t> body;
    if (request.is_get) store::ByteWriter(body).blob(*map_.find(request.keys[0]));
    reply(c, tcp::Status::kOk, body);
  }

  void expire_hellos(Clock::time_point now) {
    while (!hello_deadlines_.empty() && hello_deadlines_.front().first <= now) {
      const uint64_t id = hello_deadlines_.front().second;
      hello_deadlines_.pop_front();
      auto it = conns_.find(id);
      if (it != conns_.end() && !it->second->dead && it->second->state == ConnState::kHello) {
        reject(*it->second, "sent no hello within " + std::to_string(kHelloTimeout.count()) + " s",
               false);
      }
    }
  }

  // ---- writing and closing ------------------------------------------------

  void reply(Conn& c, tcp::Status status, std::span<const uint8_t> body) {
    send(c, tcp::encode_reply(status, body));
  }

  void send(Conn& c, std::vector<uint8_t> bytes) {
    keys_ = map_.size();  // stats() is current before the client hears back
    c.out = std::move(bytes);
    c.out_sent = 0;
    c.state = ConnState::kWriting;
    flush(c);
  }

  void flush(Conn& c) {
    while (c.out_sent < c.out.size()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n >= 0) {
        c.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_interest(c, EPOLLOUT | EPOLLRDHUP);
        return;
      }
      close_conn(c, "send failed: " + net::error_text(errno));
      return;
    }
    if (c.out.capacity() > kKeepBufferBytes) {
      std::vector<uint8_t>().swap(c.out);
    } else {
      c.out.clear();
    }
    c.out_sent = 0;
    c.state = ConnState::kHeader;
    set_interest(c, EPOLLIN | EPOLLRDHUP);
  }

  // Closes a connection that broke the protocol or a limit, with a logged
  // reason; after the hello, a best-effort error frame tells the client why.
  void reject(Conn& c, const std::string& reason, bool reply) {
    ++rejected_;
    BATON_LOG_WARN(kLog) << "store server " << address_ << ": closing connection from " << c.peer
                         << ": " << reason;
    if (reply) {
      const auto frame = tcp::encode_error_reply(tcp::WireError::kProtocol, reason);
      [[maybe_unused]] const ssize_t n =
          ::send(c.fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close_conn(c, "");
  }

  void close_conn(Conn& c, const std::string& why) {
    if (c.dead) return;
    if (!why.empty()) {
      BATON_LOG_DEBUG(kLog) << "store server " << address_ << ": " << c.peer << ": " << why;
    }
    if (c.waiter != 0) {
      waits_.forget(c.waiter);
      pending_ = waits_.size();
    }
    c.waiter = 0;
    c.fd.reset();  // also removes it from the epoll set
    c.dead = true;
    dead_.push_back(c.id);
    --open_;
  }

  const TcpStoreServerOptions options_;
  const uint64_t max_value_;
  UniqueFd listen_;
  UniqueFd wake_;
  UniqueFd epoll_;
  uint16_t port_ = 0;
  std::string address_;
  uint64_t epoch_ = 0;

  // Owned by the loop thread.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> dead_;  // closed this iteration; erased at its end
  uint64_t next_conn_id_ = kFirstConnId;
  store::KvMap map_;
  store::WaitList waits_;
  std::deque<std::pair<Clock::time_point, uint64_t>> hello_deadlines_;
  bool accept_paused_ = false;
  Clock::time_point accept_resume_{};

  // Read by stats() from any thread.
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> keys_{0};
  std::atomic<uint64_t> largest_buffer_{0};

  std::mutex stop_mutex_;
  std::jthread thread_;  // last: started after everything above exists
};

TcpStoreServer::TcpStoreServer(TcpStoreServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
TcpStoreServer::~TcpStoreServer() = default;
uint16_t TcpStoreServer::port() const {
  return impl_->port();
}
const std::string& TcpStoreServer::host() const {
  return impl_->host();
}
std::string TcpStoreServer::address() const {
  return impl_->address();
}
void TcpStoreServer::stop() {
  impl_->stop();
}
TcpStoreServerStats TcpStoreServer::stats() const {
  return impl_->stats();
}

}  // namespace baton
