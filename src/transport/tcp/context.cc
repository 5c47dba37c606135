// The TCP transport's Context: mesh setup, sends and receives, abort; see
// context.hpp and factory.hpp.
#include "transport/tcp/context.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <optional>

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

// Waits for one store key written by group rank `owner` (wait_keys).
bool wait_key(Store& store, const std::string& key, int owner, const PeerWatch& watch,
              const std::string& who, const std::string& what, Clock::time_point deadline) {
  return wait_keys(store, {key}, {owner}, watch, who, what, deadline).empty();
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
      refused_(static_cast<size_t>(size)),
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
      loop_, std::move(listen_fd),
      Listener::Options{.expected = expected,
                        .secret = options.secret,
                        .handshake_timeout = options.handshake_timeout},
      Listener::Callbacks{
          .check_rank = [this](int from) { return check_rank(from); },
          .on_peer = [this](int from, UniqueFd fd) { install(from, std::move(fd)); },
          .on_refused = [this](int from, std::exception_ptr why,
                               bool fatal) { on_refused(from, why, fatal); }});
  loop_.run_sync([this] { listener_->start(); });
  store.set(group_key_ + "/tcp/" + std::to_string(rank_), address);
  BATON_LOG_DEBUG(log::Subsys::kTransport) << describe() << " listens on " << address;

  // Lower ranks: connect. Higher ranks: they connect to us (the listener).
  std::vector<std::string> why_missing(static_cast<size_t>(size_));
  self.from_rank = rank_;
  Connector connector(self, options.secret, options.handshake_timeout, watch_, describe());
  for (int peer = 0; peer < rank_; ++peer) {
    why_missing[static_cast<size_t>(peer)] = connect_to(peer, store, connector, deadline);
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
        try {
          watch_.check(std::span<const int>(&*dead, 1), describe(),
                       "tcp setup (before it connected to rank " + std::to_string(rank_) + ")");
        } catch (const Error& e) {
          // A peer that gave up on a definite refusal (a secret on one
          // side only) exits: say what its connection met here.
          std::exception_ptr refused;
          {
            std::lock_guard relock(setup_mu_);
            refused = refused_[static_cast<size_t>(*dead)];
          }
          if (!refused) throw;
          std::rethrow_exception(make_error(
              error_code(refused) == ErrorCode::kAuthentication ? ErrorCode::kAuthentication
                                                                : e.code(),
              std::string(e.what()) + "; before that, " + baton::error_message(refused)));
        }
      }
    }
    failure = setup_error_;
  }
  loop_.run_sync([this] {
    listener_->close();
    listener_.reset();
  });

  bool complete = true;
  {
    std::lock_guard lock(setup_mu_);
    for (int p = 0; p < size_; ++p) {
      if (p != rank_ && !connected_[static_cast<size_t>(p)]) complete = false;
    }
  }
  if (!complete || failure) throw_setup_failure(why_missing, failure, started);
  BATON_LOG_INFO(log::Subsys::kTransport)
      << describe() << " connected to " << size_ - 1 << " peers from " << address;
}

std::string TcpContext::connect_to(int peer, Store& store, Connector& connector,
                                   Clock::time_point deadline) {
  const std::string key = group_key_ + "/tcp/" + std::to_string(peer);
  if (!wait_key(store, key, peer, watch_, describe(), "tcp setup (before it published its address)",
                deadline)) {
    return "it published no address under '" + key + "'";
  }
  std::string why;
  UniqueFd fd = connector.connect(peer, store.get_string(key), deadline, &why);
  if (!fd) return why;
  loop_.run_sync([&] { install(peer, std::move(fd)); });
  return "";
}

void TcpContext::throw_setup_failure(const std::vector<std::string>& why_missing,
                                     const std::exception_ptr& failure, Clock::time_point started) {
  std::string missing;
  bool unproven = false;  // a missing rank's last claimant did not prove the secret
  {
    std::lock_guard lock(setup_mu_);
    for (int p = 0; p < size_; ++p) {
      if (p == rank_ || connected_[static_cast<size_t>(p)]) continue;
      std::string why = why_missing[static_cast<size_t>(p)];
      if (why.empty()) why = "it never connected to rank " + std::to_string(rank_);
      if (const auto& refused = refused_[static_cast<size_t>(p)]; refused && refused != failure) {
        why += "; " + baton::error_message(refused);
        unproven = unproven || baton::error_code(refused) == ErrorCode::kAuthentication;
      }
      missing +=
          std::string(missing.empty() ? "" : "; ") + "rank " + std::to_string(p) + " (" + why + ")";
    }
  }
  const std::string elapsed = describe_duration(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started));
  if (failure && missing.empty()) std::rethrow_exception(failure);
  if (failure && error_code(failure) == ErrorCode::kAuthentication) {
    // This rank lacks the secret its peers have: nothing to wait for.
    throw AuthenticationError(baton::error_message(failure) + " (after " + elapsed +
                              "; not connected: " + missing + ")");
  }
  // (A peer that failed during setup, as the others time out, is a symptom.)
  std::string message = describe() + " timed out after " + elapsed +
                        " setting up its tcp connections; not connected: " + missing;
  if (failure) message += "; also: " + baton::error_message(failure);
  if (unproven) throw AuthenticationError(message);
  throw TimeoutError(message);
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

void TcpContext::on_refused(int from, const std::exception_ptr& why, bool fatal) {
  {
    std::lock_guard lock(setup_mu_);
    if (from >= 0 && from < size_) refused_[static_cast<size_t>(from)] = why;
    if (fatal && !setup_error_) setup_error_ = why;
  }
  if (fatal) setup_cv_.notify_all();
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
