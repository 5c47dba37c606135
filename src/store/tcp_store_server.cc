// TcpStoreServer: one epoll loop on one thread serves every client.
//
// This file holds the loop, accepting and the handshake (the connection
// state machine is described in server_connection.hpp, the limits in
// server_impl.hpp); server_requests.cc holds the requests, the replies and
// the buffer cap.
//
// Handshake (docs/wire_protocol.md): the 8-byte hello, with the client's
// nonce when it holds a secret; then the answer. With a secret on both
// sides the answer is a challenge (the server nonce); the client's proof is
// read into a fixed array and checked in constant time, and only then does
// the server prove itself, in the OK reply that opens the connection to
// requests (a stranger never gets a proof to test guesses against). Every refusal closes the
// connection; every kind of warning a flood could repeat is rate-limited.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>

#include "baton/error.hpp"
#include "core/random.hpp"
#include "core/socket.hpp"
#include "store/bytes.hpp"
#include "store/server_impl.hpp"
#include "store/store_common.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using namespace store::server;  // NOLINT(google-build-using-namespace): the server's own private
                                // names

bool is_loopback(const net::SocketAddress& address) {
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address.get());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.get());
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// Best effort, never blocking: for answers sent just before a close.
void send_now(int fd, std::span<const uint8_t> bytes) {
  [[maybe_unused]] const ssize_t n =
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::string millis_text(std::chrono::milliseconds ms) {
  return ms.count() % 1000 == 0 ? std::to_string(ms.count() / 1000) + " s"
                                : std::to_string(ms.count()) + " ms";
}

}  // namespace

TcpStoreServer::Impl::Impl(TcpStoreServerOptions options)
    : options_(std::move(options)),
      max_value_(tcp::resolve_max_value_bytes(options_.max_value_bytes)),
      budget_(tcp::resolve_max_buffered_bytes(options_.max_buffered_bytes, max_value_)) {
  if (options_.max_connections <= 0) {
    throw InvalidArgument("TcpStoreServer: max_connections " +
                          std::to_string(options_.max_connections) + ", expected > 0");
  }
  if (options_.max_handshakes <= 0) {
    throw InvalidArgument("TcpStoreServer: max_handshakes " +
                          std::to_string(options_.max_handshakes) + ", expected > 0");
  }
  if (options_.handshake_timeout.count() <= 0) {
    throw InvalidArgument("TcpStoreServer: handshake_timeout " +
                          std::to_string(options_.handshake_timeout.count()) + " ms, expected > 0");
  }
  secret_ = auth::Secret::resolve(options_.secret);
  listen_ = net::listen_tcp(options_.host, options_.port);
  const net::SocketAddress bound = net::local_address(listen_.get());
  port_ = bound.port();
  address_ = net::format_host_port(options_.host, port_);
  wake_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!wake_ || !epoll_)
    throw ConnectionError("TcpStoreServer: cannot create its event loop: " +
                          net::error_text(errno));
  add_to_epoll(listen_.get(), EPOLLIN, kListenId);
  add_to_epoll(wake_.get(), EPOLLIN, kWakeId);
  epoch_ = random_u64();
  log_start();
  if (!secret_ && !is_loopback(bound)) {
    BATON_LOG_WARN(kLog) << "store server " << address_
                         << " listens beyond this host without a job secret: anyone who can "
                            "reach it can read and write every key; set BATON_SECRET or "
                            "BATON_SECRET_FILE (baton-run does; baton-store --secret-file; "
                            "TcpStoreServerOptions::secret)";
  }
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void TcpStoreServer::Impl::log_start() const {
  BATON_LOG_INFO(kLog) << "store server listening on " << address_ << " (epoch " << epoch_
                       << ", values up to " << max_value_ << " bytes, buffers up to "
                       << budget_.limit() << " bytes, "
                       << (secret_ ? "job secret " + secret_->fingerprint() + " from " +
                                         secret_->source()
                                   : std::string("no job secret: unauthenticated"))
                       << ")";
}

void TcpStoreServer::Impl::stop() {
  std::lock_guard lock(stop_mutex_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  const uint64_t one = 1;
  while (::write(wake_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread_.join();
  BATON_LOG_INFO(kLog) << "store server " << address_ << " stopped";
}

TcpStoreServerStats TcpStoreServer::Impl::stats() const {
  return {.connections_accepted = accepted_.load(),
          .connections_open = open_.load(),
          .connections_rejected = rejected_.load(),
          .requests = requests_.load(),
          .pending_waits = pending_.load(),
          .keys = keys_.load(),
          .largest_read_buffer = largest_buffer_.load(),
          .connections_in_handshake = in_handshake_.load(),
          .connections_authenticated = authenticated_.load(),
          .auth_failures = auth_failures_.load(),
          .handshake_timeouts = handshake_timeouts_.load(),
          .handshakes_evicted = evicted_.load(),
          .refused_full = refused_full_.load(),
          .buffered_bytes = buffered_.load(),
          .stalled_closed = stalled_closed_.load(),
          .requests_busy = busy_.load()};
}

// ---- the loop ---------------------------------------------------------------

void TcpStoreServer::Impl::run(const std::stop_token& stop) {
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
      const uint64_t id = events[static_cast<size_t>(i)].data.u64;
      if (id == kWakeId) continue;  // stop() woke us; the loop condition sees it
      if (id == kListenId) {
        accept_all();
        continue;
      }
      auto it = conns_.find(id);
      if (it == conns_.end() || it->second->dead) continue;
      on_event(*it->second, events[static_cast<size_t>(i)].events);
    }
    const auto now = Clock::now();
    expire_waiters(now);
    expire_handshakes(now);
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
  in_handshake_ = 0;
  pending_ = 0;
}

int TcpStoreServer::Impl::next_timeout_ms() const {
  std::optional<Clock::time_point> next;
  const auto consider = [&](Clock::time_point t) {
    if (!next || t < *next) next = t;
  };
  if (const auto deadline = waits_.next_deadline()) consider(*deadline);
  if (!handshakes_.empty()) consider(handshakes_.front().first);
  if (accept_paused_) consider(accept_resume_);
  return next ? net::poll_timeout_ms(*next) : -1;
}

void TcpStoreServer::Impl::add_to_epoll(int fd, uint32_t events, uint64_t id) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw ConnectionError("store server " + address_ +
                          ": epoll_ctl failed: " + net::error_text(errno));
  }
}

void TcpStoreServer::Impl::set_interest(Conn& c, uint32_t events) {
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

// ---- accepting ----------------------------------------------------------------

void TcpStoreServer::Impl::accept_all() {
  for (;;) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&storage), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of fds: a connection still in its handshake gives its fd up.
      if ((errno == EMFILE || errno == ENFILE) &&
          evict_oldest_handshake("this process is out of file descriptors")) {
        continue;
      }
      // Out of fds or memory otherwise: stop accepting for a moment rather than spin.
      if (uint64_t dropped = 0; full_log_.allow(&dropped)) {
        BATON_LOG_WARN(kLog) << "store server " << address_
                             << ": accept failed: " << net::error_text(errno)
                             << "; pausing new connections for " << kAcceptPause.count() << " ms"
                             << log::suppressed(dropped);
      }
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);
      accept_paused_ = true;
      accept_resume_ = Clock::now() + kAcceptPause;
      return;
    }
    UniqueFd owned(fd);
    std::string peer =
        net::SocketAddress(reinterpret_cast<sockaddr*>(&storage), length).to_string();
    if (!make_room_for_newcomer()) {
      refuse_full(fd, peer);
      continue;
    }
    net::set_nodelay(fd);
    auto conn = std::make_unique<Conn>();
    conn->id = next_conn_id_++;
    conn->fd = std::move(owned);
    conn->peer = std::move(peer);
    conn->events = EPOLLIN | EPOLLRDHUP;
    add_to_epoll(conn->fd.get(), conn->events, conn->id);
    handshakes_.emplace_back(Clock::now() + options_.handshake_timeout, conn->id);
    BATON_LOG_DEBUG(kLog) << "store server " << address_ << ": connection from " << conn->peer;
    conns_.emplace(conn->id, std::move(conn));
    ++accepted_;
    ++open_;
    ++in_handshake_;
  }
}

// Whether a newcomer may be accepted, after closing the oldest connection in
// its handshake when a limit demands it.
bool TcpStoreServer::Impl::make_room_for_newcomer() {
  if (open_ >= static_cast<uint64_t>(options_.max_connections) &&
      !evict_oldest_handshake("the server holds max_connections " +
                              std::to_string(options_.max_connections))) {
    return false;
  }
  if (in_handshake_ >= static_cast<uint64_t>(options_.max_handshakes)) {
    evict_oldest_handshake(std::to_string(options_.max_handshakes) +
                           " connections are in their handshake (max_handshakes)");
  }
  return true;
}

bool TcpStoreServer::Impl::evict_oldest_handshake(const std::string& why) {
  while (!handshakes_.empty()) {
    const uint64_t id = handshakes_.front().second;
    handshakes_.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->dead || it->second->established) continue;
    ++evicted_;
    // Tell a real client caught in the flood to try again.
    Conn& c = *it->second;
    if (c.state == ConnState::kHello || c.state == ConnState::kNonce) {
      send_now(c.fd.get(),
               tcp::encode_hello_ack({.status = tcp::HelloStatus::kServerFull, .epoch = epoch_}));
    } else if (c.state == ConnState::kProof) {
      send_now(c.fd.get(), tcp::encode_error_reply(
                               tcp::WireError::kBusy,
                               "closed in the handshake to make room for newer connections"));
    }
    if (uint64_t dropped = 0; handshake_log_.allow(&dropped)) {
      BATON_LOG_WARN(kLog) << "store server " << address_ << ": closing connection from "
                           << it->second->peer << ", the oldest still in its handshake, to make "
                           << "room for a newcomer: " << why << log::suppressed(dropped);
    }
    close_conn(*it->second, "");
    return true;
  }
  return false;
}

void TcpStoreServer::Impl::refuse_full(int fd, const std::string& peer) {
  ++refused_full_;
  const auto ack =
      tcp::encode_hello_ack({.status = tcp::HelloStatus::kServerFull, .epoch = epoch_});
  send_now(fd, ack);
  if (uint64_t dropped = 0; full_log_.allow(&dropped)) {
    BATON_LOG_WARN(kLog) << "store server " << address_ << ": refusing connection from " << peer
                         << ": " << open_.load()
                         << " connections are open past their handshake, the limit is "
                         << options_.max_connections << " (max_connections); it may retry"
                         << log::suppressed(dropped);
  }
}

// ---- reading --------------------------------------------------------------------

void TcpStoreServer::Impl::on_event(Conn& c, uint32_t events) {
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

TcpStoreServer::Impl::ReadResult TcpStoreServer::Impl::read_into(Conn& c, uint8_t* data,
                                                                 size_t size, size_t& got) {
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

void TcpStoreServer::Impl::read_requests(Conn& c) {
  int handled = 0;
  while (!c.dead && handled < kRequestsPerWakeup) {
    ReadResult r = ReadResult::kProgress;
    std::span<uint8_t> fixed;
    switch (c.state) {
      case ConnState::kHello: fixed = c.hello; break;
      case ConnState::kNonce: fixed = c.client_nonce; break;
      case ConnState::kProof: fixed = c.proof; break;
      case ConnState::kHeader: fixed = c.head; break;
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
      case ConnState::kDiscard:
        discard_body(c, r);
        if (r == ReadResult::kProgress && c.state != ConnState::kDiscard) ++handled;
        break;
      case ConnState::kWaiting:
      case ConnState::kWriting: return;
    }
    if (!fixed.empty()) {
      // Exactly the field's bytes: nothing after a handshake step is read
      // before that step is done.
      r = read_into(c, fixed.data() + c.fixed_got, fixed.size() - c.fixed_got, c.fixed_got);
      if (r == ReadResult::kProgress && c.fixed_got == fixed.size()) {
        c.fixed_got = 0;
        on_fixed_field(c);
      }
    }
    if (r != ReadResult::kProgress) return;
  }
}

void TcpStoreServer::Impl::on_fixed_field(Conn& c) {
  switch (c.state) {
    case ConnState::kHello: on_hello(c); break;
    case ConnState::kNonce: on_client_nonce(c); break;
    case ConnState::kProof: on_client_proof(c); break;
    case ConnState::kHeader: on_frame_header(c); break;
    default: break;
  }
}

// ---- the handshake --------------------------------------------------------------

void TcpStoreServer::Impl::on_hello(Conn& c) {
  const tcp::Hello hello = tcp::decode_hello(c.hello);
  if (hello.magic == tcp::kHelloMagic && hello.version != tcp::kProtocolVersion) {
    // Tell a baton client of another version which one we speak; it reports both.
    send_now(c.fd.get(), tcp::encode_hello_ack(
                             {.status = tcp::HelloStatus::kVersionMismatch, .epoch = epoch_}));
  }
  if (const std::string why = tcp::check_hello(c.hello); !why.empty()) {
    reject(c, why, /*reply=*/false);  // no error frame: the peer may not speak the protocol
    return;
  }
  if ((hello.flags & tcp::kHelloHasSecret) != 0) {
    c.state = ConnState::kNonce;
    return;
  }
  if (secret_) {
    ++auth_failures_;
    refuse_handshake(c, tcp::HelloStatus::kAuthRequired,
                     "it has no job secret and this server requires one");
    return;
  }
  const auto ack = tcp::encode_hello_ack({.status = tcp::HelloStatus::kAccepted, .epoch = epoch_});
  established(c);
  send(c, std::vector<uint8_t>(ack.begin(), ack.end()), ConnState::kHeader);
}

std::array<uint8_t, tcp::kHelloAckBytes> TcpStoreServer::Impl::challenge_ack() const {
  return tcp::encode_hello_ack({.status = tcp::HelloStatus::kChallenge, .epoch = epoch_});
}

void TcpStoreServer::Impl::on_client_nonce(Conn& c) {
  if (!secret_) {
    refuse_handshake(c, tcp::HelloStatus::kNoSecret,
                     "it has a job secret and this server has none (the client refuses such a "
                     "server; give the server the job's secret)");
    return;
  }
  const auto ack = challenge_ack();
  c.server_nonce = auth::make_nonce();
  std::vector<uint8_t> answer;
  answer.reserve(tcp::kHelloAckBytes + auth::kNonceBytes);
  answer.insert(answer.end(), ack.begin(), ack.end());
  answer.insert(answer.end(), c.server_nonce.begin(), c.server_nonce.end());
  send(c, std::move(answer), ConnState::kProof);
}

// The client proves first; only then does the server prove itself, in the
// OK reply that opens the connection to requests.
void TcpStoreServer::Impl::on_client_proof(Conn& c) {
  const auto ack = challenge_ack();
  const auth::Transcript transcript =
      tcp::handshake_transcript(c.hello, c.client_nonce, ack, c.server_nonce);
  if (!secret_->verify(tcp::kClientRole, transcript.bytes(), c.proof)) {
    ++auth_failures_;
    if (uint64_t dropped = 0; auth_log_.allow(&dropped)) {
      BATON_LOG_WARN(kLog) << "store server " << address_ << ": refusing connection from " << c.peer
                           << ": wrong job secret (its proof does not match secret "
                           << secret_->fingerprint() << ")" << log::suppressed(dropped);
    }
    send_now(c.fd.get(),
             tcp::encode_error_reply(tcp::WireError::kAuthentication, "wrong job secret"));
    close_conn(c, "");
    return;
  }
  const auth::Proof proof = secret_->prove(tcp::kServerRole, transcript.bytes());
  established(c);
  send(c, tcp::encode_reply(tcp::Status::kOk, proof), ConnState::kHeader);
}

void TcpStoreServer::Impl::established(Conn& c) {
  c.established = true;
  --in_handshake_;
  ++authenticated_;
}

void TcpStoreServer::Impl::refuse_handshake(Conn& c, tcp::HelloStatus status,
                                            const std::string& why) {
  send_now(c.fd.get(), tcp::encode_hello_ack({.status = status, .epoch = epoch_}));
  if (uint64_t dropped = 0; auth_log_.allow(&dropped)) {
    BATON_LOG_WARN(kLog) << "store server " << address_ << ": refusing connection from " << c.peer
                         << ": " << why << log::suppressed(dropped);
  }
  close_conn(c, "");
}

void TcpStoreServer::Impl::expire_handshakes(Clock::time_point now) {
  while (!handshakes_.empty() && handshakes_.front().first <= now) {
    const uint64_t id = handshakes_.front().second;
    handshakes_.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->dead || it->second->established) continue;
    ++handshake_timeouts_;
    if (uint64_t dropped = 0; handshake_log_.allow(&dropped)) {
      BATON_LOG_WARN(kLog) << "store server " << address_ << ": closing connection from "
                           << it->second->peer << ": it did not finish its handshake within "
                           << millis_text(options_.handshake_timeout) << log::suppressed(dropped);
    }
    close_conn(*it->second, "");
  }
}

// ---- closing --------------------------------------------------------------------

// Closes a connection that broke the protocol or a limit, with a logged
// reason; after the handshake, a best-effort error frame tells the client why.
void TcpStoreServer::Impl::reject(Conn& c, const std::string& reason, bool reply) {
  ++rejected_;
  if (uint64_t dropped = 0; bad_input_log_.allow(&dropped)) {
    BATON_LOG_WARN(kLog) << "store server " << address_ << ": closing connection from " << c.peer
                         << ": " << reason << log::suppressed(dropped);
  }
  if (reply) send_now(c.fd.get(), tcp::encode_error_reply(tcp::WireError::kProtocol, reason));
  close_conn(c, "");
}

void TcpStoreServer::Impl::close_conn(Conn& c, const std::string& why) {
  if (c.dead) return;
  if (!why.empty()) {
    BATON_LOG_DEBUG(kLog) << "store server " << address_ << ": " << c.peer << ": " << why;
  }
  if (c.waiter != 0) {
    waits_.forget(c.waiter);
    pending_ = waits_.size();
  }
  c.waiter = 0;
  c.parked_bytes = 0;
  unstall(c);
  release_reply(c);
  std::vector<uint8_t>().swap(c.body);
  std::vector<uint8_t>().swap(c.out);
  c.frame = {};
  c.state = ConnState::kHeader;
  recharge(c);
  c.fd.reset();  // also removes it from the epoll set
  c.dead = true;
  if (!c.established) --in_handshake_;
  dead_.push_back(c.id);
  --open_;
}

// ---- the public class -----------------------------------------------------------

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
