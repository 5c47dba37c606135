// The TCP transport's Context: mesh setup, sends and receives, abort; see
// context.hpp and factory.hpp.
#include "transport/tcp/context.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <thread>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/socket.hpp"

namespace baton::transport::tcp {
namespace {

using Clock = std::chrono::steady_clock;

int checked_rank(int rank, int size) {
  if (size < 1)
    throw InvalidArgument("tcp transport: world size " + std::to_string(size) +
                          " must be at least 1");
  if (rank < 0 || rank >= size) {
    throw InvalidArgument("tcp transport: rank " + std::to_string(rank) +
                          " is out of range for a group of " + std::to_string(size) + " ranks");
  }
  return rank;
}

size_t unexpected_limit(const TcpOptions& options) {
  if (options.unexpected_bytes > 0) return options.unexpected_bytes;
  const int64_t bytes = config::get_int("BATON_UNEXPECTED_BYTES");
  if (bytes <= 0) {
    throw InvalidArgument("BATON_UNEXPECTED_BYTES=" + std::to_string(bytes) + " must be positive");
  }
  return static_cast<size_t>(bytes);
}

// A peer that published its address (it listened before) but refuses
// connections this long has exited.
constexpr auto kRefusedIsGone = std::chrono::seconds(1);

// Waits for one store key written by group rank `owner` (wait_keys).
bool wait_key(Store& store, const std::string& key, int owner, const PeerWatch& watch,
              const std::string& who, const std::string& what, Clock::time_point deadline) {
  return wait_keys(store, {key}, {owner}, watch, who, what, deadline).empty();
}

// "host:port" or "[v6]:port" as published by setup_mesh.
bool split_host_port(const std::string& text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  unsigned value = 0;
  for (size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + static_cast<unsigned>(text[i] - '0');
    if (value > 65535) return false;
  }
  *port = static_cast<uint16_t>(value);
  return value > 0;
}

std::span<const uint8_t> const_u8(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}
std::span<uint8_t> mutable_u8(std::span<std::byte> bytes) {
  return {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

TcpContext::TcpContext(Store& store, const std::string& group_key, int rank, int size,
                       const TcpOptions& options)
    : rank_(checked_rank(rank, size)),
      size_(size),
      group_key_(group_key),
      matcher_(MatcherOptions{.rank = rank,
                              .size = size,
                              .unexpected_limit = unexpected_limit(options),
                              .describe_op = options.describe_op,
                              .on_space = [this] { schedule_resume(); },
                              .on_divergence = [this](std::exception_ptr e) { abort(e); }}),
      connected_(static_cast<size_t>(size), false),
      peers_(static_cast<size_t>(size)),
      loop_("tcp rank " + std::to_string(rank) + " group '" + group_key + "'") {
  if (size_ == 1) return;
  if (config::get_int("BATON_TCP_CALLER_POLL") != 0) {
    driver_ = std::make_shared<Driver>([this](int peer) { return poll(peer); });
  }
  const auto timeout =
      options.timeout.count() > 0 ? options.timeout : config::get_duration("BATON_TIMEOUT");
  setup_mesh(store, options, Clock::now() + timeout);
}

TcpContext::~TcpContext() {
  // A context that failed (a divergence, an abort) closes as an abort: the
  // peers read its reason, which names the culprit, before the goodbye.
  const auto failed = matcher_.context_error();
  const auto why = std::make_exception_ptr(ConnectionError(
      "the tcp transport of " + describe() + " was destroyed while this request was pending"));
  matcher_.fail_all(why);
  failed_.store(true, std::memory_order_release);
  if (driver_) driver_->detach();  // no caller polls a connection from here on
  try {
    loop_.run_sync([&] {
      if (listener_) listener_->close();
      if (failed) abort_connections(failed, true);
      for (auto& peer : peers_) {
        if (peer) peer->close(why);
      }
    });
  } catch (const std::exception& e) {
    BATON_LOG_ERROR(log::Subsys::kTransport)
        << describe() << ": shutting down failed: " << e.what();
  }
  loop_.stop();
}

std::string TcpContext::describe() const {
  return "rank " + std::to_string(rank_) + " of group '" + group_key_ + "'";
}

// ---------------------------------------------------------------- setup

void TcpContext::setup_mesh(Store& store, const TcpOptions& options, Clock::time_point deadline) {
  const auto started = Clock::now();
  std::vector<pid_t> pids = options.peer_pids;
  pids.resize(static_cast<size_t>(size_), 0);
  watch_ = PeerWatch(std::move(pids), rank_);
  UniqueFd listen_fd = net::listen_tcp(choose_listen_host(options.listen_address), 0);
  const net::SocketAddress bound = net::local_address(listen_fd.get());
  const std::string address = net::format_host_port(bound.host(), bound.port());

  Hello self;
  self.group_hash = fnv1a64(group_key_);
  self.world_size = size_;
  self.job_id = options.job_id.value_or(config::get_string("BATON_JOB_ID"));
  const std::string token_key = group_key_ + "/tcp/token";
  if (rank_ == 0) {
    self.token = random_u64();
    char text[24];
    std::snprintf(text, sizeof(text), "%016" PRIx64, self.token);
    store.set(token_key, std::string_view(text));
  } else {
    if (!wait_key(store, token_key, 0, watch_, describe(),
                  "tcp setup (before it published the group's token)", deadline)) {
      throw TimeoutError(describe() + " timed out after " +
                         describe_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                             Clock::now() - started)) +
                         " waiting for rank 0 to publish the group's token under '" + token_key +
                         "' in the store (is rank 0 running, with the same store and group?)");
    }
    const std::string text = store.get_string(token_key);
    if (std::sscanf(text.c_str(), "%" SCNx64, &self.token) != 1) {
      throw ProtocolError(describe() + ": the store holds '" + text + "' under '" + token_key +
                          "', which is not a group token");
    }
  }

  Hello expected = self;
  expected.to_rank = rank_;
  listener_ = std::make_unique<Listener>(
      loop_, std::move(listen_fd), expected, options.handshake_timeout,
      [this](int from) { return check_rank(from); },
      [this](int from, UniqueFd fd) { install(from, std::move(fd)); });
  loop_.run_sync([this] { listener_->start(); });
  store.set(group_key_ + "/tcp/" + std::to_string(rank_), address);
  BATON_LOG_DEBUG(log::Subsys::kTransport) << describe() << " listens on " << address;

  // Lower ranks: connect. Higher ranks: they connect to us (the listener).
  std::vector<std::string> why_missing(static_cast<size_t>(size_));
  self.from_rank = rank_;
  for (int peer = 0; peer < rank_; ++peer) {
    why_missing[static_cast<size_t>(peer)] = connect_to(peer, store, self, deadline);
  }
  std::exception_ptr failure;
  {
    std::unique_lock lock(setup_mu_);
    auto unconnected = [&] {
      std::vector<int> out;
      for (int p = 0; p < size_; ++p) {
        if (p != rank_ && !connected_[static_cast<size_t>(p)]) out.push_back(p);
      }
      return out;
    };
    // In slices: a higher rank of this host that exits before it connects
    // is named at once.
    while (!setup_cv_.wait_until(lock, std::min(deadline, Clock::now() + kSetupLivenessSlice),
                                 [&] { return unconnected().empty() || setup_error_; })) {
      if (Clock::now() >= deadline) break;
      const std::vector<int> waiting = unconnected();
      if (auto dead = watch_.first_dead(waiting)) {
        lock.unlock();
        loop_.run_sync([this] {
          listener_->close();
          listener_.reset();
        });
        watch_.check(std::span<const int>(&*dead, 1), describe(),
                     "tcp setup (before it connected to rank " + std::to_string(rank_) + ")");
      }
    }
    failure = setup_error_;
  }
  loop_.run_sync([this] {
    listener_->close();
    listener_.reset();
  });

  std::string missing;
  {
    std::lock_guard lock(setup_mu_);
    for (int p = 0; p < size_; ++p) {
      if (p == rank_ || connected_[static_cast<size_t>(p)]) continue;
      std::string why = why_missing[static_cast<size_t>(p)];
      if (why.empty()) why = "it never connected to rank " + std::to_string(rank_);
      missing +=
          std::string(missing.empty() ? "" : "; ") + "rank " + std::to_string(p) + " (" + why + ")";
    }
  }
  if (!missing.empty()) {
    std::string message = describe() + " timed out after " +
                          describe_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                              Clock::now() - started)) +
                          " setting up its tcp connections; not connected: " + missing;
    if (failure) message += "; also: " + baton::error_message(failure);
    throw TimeoutError(message);
  }
  if (failure) std::rethrow_exception(failure);
  BATON_LOG_INFO(log::Subsys::kTransport)
      << describe() << " connected to " << size_ - 1 << " peers from " << address;
}

std::string TcpContext::connect_to(int peer, Store& store, const Hello& self,
                                   Clock::time_point deadline) {
  const std::string key = group_key_ + "/tcp/" + std::to_string(peer);
  if (!wait_key(store, key, peer, watch_, describe(), "tcp setup (before it published its address)",
                deadline)) {
    return "it published no address under '" + key + "'";
  }
  const std::string text = store.get_string(key);
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(text, &host, &port)) {
    throw ProtocolError(describe() + ": rank " + std::to_string(peer) + " published '" + text +
                        "' under '" + key + "', which is not host:port");
  }
  // Connect, retrying while the deadline allows: a refused connection may be
  // a listener that is not up yet after a restart of the store's contents.
  // But the peer listened before it published this address, so refusals
  // that last kRefusedIsGone mean it has exited (where its pid is known,
  // that is asked at once).
  UniqueFd fd;
  auto backoff = std::chrono::milliseconds(5);
  Clock::time_point refused_since{};  // the first of the refusals in a row; zero: none
  for (;;) {
    int error = 0;
    for (const net::SocketAddress& a : net::resolve(host, port)) {
      net::ConnectResult result = net::connect_tcp(a, deadline);
      if (result.fd) {
        fd = std::move(result.fd);
        break;
      }
      error = result.error;
    }
    if (fd) break;
    watch_.check(std::span<const int>(&peer, 1), describe(),
                 "tcp setup (it published " + text + ", then stopped listening)");
    if (error == ECONNREFUSED) {
      if (refused_since == Clock::time_point{}) refused_since = Clock::now();
      if (Clock::now() - refused_since >= kRefusedIsGone) {
        throw ConnectionError(describe() + ": rank " + std::to_string(peer) + " published " + text +
                              " but has refused connections there for " +
                              describe_duration(kRefusedIsGone) +
                              ": it listened before it published, so it has exited "
                              "(during tcp setup)");
      }
    } else {
      refused_since = Clock::time_point{};
    }
    if (Clock::now() + backoff >= deadline) {
      return "connecting to " + text + " failed: " + net::error_text(error);
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }

  Hello hello = self;
  hello.to_rank = peer;
  const HelloBytes bytes = encode_hello(hello);
  const std::string where = "rank " + std::to_string(peer) + " at " + text;
  const std::string refused =
      where + " closed the connection during the handshake: it refused rank " +
      std::to_string(rank_) +
      "'s hello (its log says why: another job id, group, token or world size) or it failed";
  switch (net::send_all(fd.get(), const_u8(bytes), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut: return where + " did not read the handshake";
    case net::IoStatus::kClosed: throw ConnectionError(refused);
  }
  HelloBytes reply_bytes{};
  switch (net::recv_all(fd.get(), mutable_u8(reply_bytes), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut: return where + " did not answer the handshake";
    case net::IoStatus::kClosed: throw ConnectionError(refused);
  }
  std::string why;
  const std::optional<Hello> reply = decode_hello(reply_bytes, &why);
  if (!reply) throw ConnectionError(where + " answered the handshake with " + why);
  Hello expected = self;
  expected.to_rank = rank_;
  why = hello_difference(*reply, expected);
  if (why.empty() && reply->from_rank != peer) {
    why = "source rank " + std::to_string(reply->from_rank);
  }
  if (!why.empty()) throw ConnectionError(where + " answered the handshake with " + why);
  loop_.run_sync([&] { install(peer, std::move(fd)); });
  return "";
}

std::string TcpContext::check_rank(int from) {
  if (from <= rank_) {
    return "claims to be rank " + std::to_string(from) +
           ", but only higher ranks connect to rank " + std::to_string(rank_);
  }
  std::lock_guard lock(setup_mu_);
  if (connected_[static_cast<size_t>(from)]) {
    return "claims to be rank " + std::to_string(from) +
           ", which is already connected (a duplicate or late connection)";
  }
  return "";
}

void TcpContext::install(int peer, UniqueFd fd) {
  auto connection = std::make_unique<Connection>(
      loop_, matcher_, std::move(fd), rank_, peer, size_,
      Connection::Events{
          .failed = [this](int p, std::exception_ptr e,
                           bool graceful) { on_peer_failed(p, e, graceful); },
          .aborted = [this](int p, std::exception_ptr e) { on_peer_abort(p, e); },
      });
  connection->start();
  {
    std::lock_guard lock(setup_mu_);
    peers_[static_cast<size_t>(peer)] = std::move(connection);
    connected_[static_cast<size_t>(peer)] = true;
  }
  setup_cv_.notify_all();
}

// ---------------------------------------------------------------- operation

RequestPtr TcpContext::isend(int peer, const Envelope& envelope,
                             std::span<const std::byte> payload) {
  auto request = std::make_shared<Request>();
  std::string problem = send_problem(peer, envelope, rank_, size_);
  if (!problem.empty()) {
    request->fail(std::make_exception_ptr(InvalidArgument(describe() + " cannot send to rank " +
                                                          std::to_string(peer) + ": " + problem)));
    return request;
  }
  if (failed_.load(std::memory_order_acquire)) {
    if (auto error = matcher_.context_error()) {
      request->fail(error);
      return request;
    }
  }
  attach_driver(*request, peer);  // before send(): the request is shared from there on
  peers_[static_cast<size_t>(peer)]->send(envelope, payload, request);
  return request;
}

RequestPtr TcpContext::irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) {
  auto request = std::make_shared<Request>();
  std::string problem = receive_problem(peer, envelope, rank_, size_);
  if (!problem.empty()) {
    request->fail(std::make_exception_ptr(InvalidArgument(
        describe() + " cannot receive from rank " + std::to_string(peer) + ": " + problem)));
    return request;
  }
  // Before post(): the request is shared (with the matcher) from there on.
  attach_driver(*request, peer);
  matcher_.post(peer, envelope, buffer, request);
  return request;
}

void TcpContext::attach_driver(Request& request, int peer) {
  if (driver_) request.set_driver(driver_, peer);
}

uint64_t TcpContext::caller_receives() const {
  uint64_t n = 0;
  for (const auto& connection : peers_) {
    if (connection) n += connection->caller_receives();
  }
  return n;
}

bool TcpContext::poll(int peer) {
  if (loop_.in_loop_thread()) return false;
  bool moved = false;
  if (peer != kAnySource) {
    moved = peers_[static_cast<size_t>(peer)]->poll();
  } else {
    for (auto& connection : peers_) {
      if (connection) moved = connection->poll() || moved;
    }
  }
  return moved;
}

void TcpContext::abort(std::exception_ptr why) {
  if (!why) why = std::make_exception_ptr(ConnectionError(describe() + " was aborted"));
  matcher_.fail_all(why);
  failed_.store(true, std::memory_order_release);
  loop_.defer([this, why] { abort_connections(why, true); });
}

// ---------------------------------------------------------------- events

void TcpContext::on_peer_failed(int peer, const std::exception_ptr& error, bool graceful) {
  matcher_.fail_peer(peer, error);
  // A peer that said goodbye had finished setting up with us and left on
  // purpose (e.g. a rank outside every subgroup that is done early): that
  // fails what involves it, not this rank's own mesh setup.
  if (graceful) return;
  {
    std::lock_guard lock(setup_mu_);
    if (!setup_error_) setup_error_ = error;
  }
  setup_cv_.notify_all();
}

void TcpContext::on_peer_abort(int peer, const std::exception_ptr& error) {
  BATON_LOG_WARN(log::Subsys::kTransport)
      << describe() << " aborts because rank " << peer << " did: " << baton::error_message(error);
  matcher_.fail_all(error);
  failed_.store(true, std::memory_order_release);
  abort_connections(matcher_.context_error(), false);
}

void TcpContext::abort_connections(const std::exception_ptr& why, bool tell_peers) {
  if (tell_peers) {
    if (abort_sent_) tell_peers = false;
    abort_sent_ = true;
  }
  for (auto& peer : peers_) {
    if (peer) peer->abort(why, tell_peers);
  }
}

void TcpContext::schedule_resume() {
  if (resume_scheduled_.exchange(true)) return;
  loop_.defer([this] {
    resume_scheduled_.store(false);
    for (auto& peer : peers_) {
      if (peer) peer->resume();
    }
  });
}

}  // namespace baton::transport::tcp

namespace baton::transport {

std::unique_ptr<Context> make_tcp_context(Store& store, const std::string& group_key, int rank,
                                          int size, const TcpOptions& options) {
  return std::make_unique<tcp::TcpContext>(store, group_key, rank, size, options);
}

}  // namespace baton::transport
