// Accepting side of the TCP transport's mesh setup; see listener.hpp.
#include "transport/tcp/listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/net_interface.hpp"

namespace baton::transport::tcp {
namespace {

// More half-open handshakes than this at once are refused at accept: a flood
// of idle connections must not exhaust this process's fds.
constexpr size_t kMaxPending = 256;

}  // namespace

Listener::Listener(EventLoop& loop, UniqueFd fd, Hello expected,
                   std::chrono::milliseconds handshake_timeout, CheckRank check_rank,
                   OnPeer on_peer)
    : loop_(loop),
      fd_(std::move(fd)),
      address_(net::local_address(fd_.get())),
      expected_(std::move(expected)),
      handshake_timeout_(handshake_timeout),
      check_rank_(std::move(check_rank)),
      on_peer_(std::move(on_peer)) {}

Listener::~Listener() = default;

void Listener::start() {
  loop_.add(fd_.get(), EPOLLIN, [this](uint32_t) { on_acceptable(); });
}

void Listener::close() {
  if (fd_) {
    loop_.remove(fd_.get());
    fd_.reset();
  }
  for (auto& [fd, pending] : pending_) {
    loop_.remove(fd);
    loop_.cancel(pending->timer);
  }
  pending_.clear();
}

void Listener::on_acceptable() {
  while (fd_) {
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        BATON_LOG_WARN(log::Subsys::kTransport)
            << "rank " << expected_.to_rank << ": accept on " << address_.to_string()
            << " failed: " << net::error_text(errno);
      }
      return;
    }
    const std::string from = net::peer_name(fd.get());
    if (pending_.size() >= kMaxPending) {
      BATON_LOG_WARN(log::Subsys::kTransport)
          << "rank " << expected_.to_rank << " refused a connection from " << from << ": "
          << kMaxPending << " connections are already in their handshake";
      continue;
    }
    net::set_nodelay(fd.get());
    const int raw = fd.get();
    auto pending = std::make_unique<Pending>();
    pending->fd = std::move(fd);
    pending->from = from;
    pending->timer = loop_.schedule(EventLoop::Clock::now() + handshake_timeout_, [this, raw] {
      refuse(raw, "sent no complete handshake within " +
                      std::to_string(handshake_timeout_.count()) + " ms");
    });
    loop_.add(raw, EPOLLIN | EPOLLRDHUP, [this, raw](uint32_t) { on_readable(raw); });
    pending_[raw] = std::move(pending);
  }
}

void Listener::on_readable(int fd) {
  const auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  Pending& p = *it->second;
  // Read exactly the hello: whatever follows belongs to the connection.
  const ssize_t n = ::recv(fd, p.bytes.data() + p.got, p.bytes.size() - p.got, 0);
  if (n == 0) {
    refuse(fd,
           p.got == 0 ? "closed the connection without sending anything"
                      : "closed the connection in the middle of its handshake",
           p.got == 0);
    return;
  }
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return;
    refuse(fd, "connection failed during the handshake: " + net::error_text(errno), true);
    return;
  }
  p.got += static_cast<size_t>(n);
  // Refuse garbage as soon as its first bytes show it is not a hello.
  const size_t magic = std::min(p.got, kHelloMagic.size());
  if (std::memcmp(p.bytes.data(), kHelloMagic.data(), magic) != 0) {
    std::string why;
    HelloBytes padded = p.bytes;
    decode_hello(padded, &why);
    refuse(fd, "sent " + (why.empty() ? std::string("bytes that are not a Baton hello") : why));
    return;
  }
  if (p.got == p.bytes.size()) finish(p);
}

void Listener::finish(Pending& p) {
  const int fd = p.fd.get();
  std::string why;
  const std::optional<Hello> hello = decode_hello(p.bytes, &why);
  if (!hello) return refuse(fd, "sent " + why);
  why = hello_difference(*hello, expected_);
  if (!why.empty()) return refuse(fd, "sent a hello with " + why);
  if (hello->from_rank < 0 || hello->from_rank >= expected_.world_size) {
    return refuse(fd, "claims to be rank " + std::to_string(hello->from_rank) + " of " +
                          std::to_string(expected_.world_size));
  }
  why = check_rank_(hello->from_rank);
  if (!why.empty()) return refuse(fd, why);

  Hello reply = expected_;
  reply.from_rank = expected_.to_rank;
  reply.to_rank = hello->from_rank;
  const HelloBytes bytes = encode_hello(reply);
  // The socket's buffer is empty: the 72 bytes go out in one call or not at all.
  const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n != static_cast<ssize_t>(bytes.size())) {
    return refuse(fd, "could not be answered: " +
                          (n < 0 ? net::error_text(errno) : std::string("short write")));
  }
  BATON_LOG_DEBUG(log::Subsys::kTransport) << "rank " << expected_.to_rank << " accepted rank "
                                           << hello->from_rank << " from " << p.from;
  loop_.remove(fd);
  loop_.cancel(p.timer);
  UniqueFd socket = std::move(p.fd);
  pending_.erase(fd);
  on_peer_(hello->from_rank, std::move(socket));
}

void Listener::refuse(int fd, const std::string& why, bool quiet) {
  const auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  if (quiet) {
    BATON_LOG_INFO(log::Subsys::kTransport)
        << "rank " << expected_.to_rank << " dropped a connection from " << it->second->from
        << ": it " << why;
  } else {
    BATON_LOG_WARN(log::Subsys::kTransport)
        << "rank " << expected_.to_rank << " refused a connection from " << it->second->from
        << ": it " << why;
  }
  loop_.remove(fd);
  loop_.cancel(it->second->timer);
  pending_.erase(it);  // closes the socket
}

std::string choose_listen_host(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const std::optional<net::SocketAddress> chosen = net::address_from_ifname_env()) {
    return chosen->host();
  }
  const std::optional<std::string> master = config::env("MASTER_ADDR");
  if (!master || master->empty()) return "127.0.0.1";
  try {
    const net::SocketAddress target = net::resolve(*master, 9).front();
    if (const std::optional<net::SocketAddress> local = net::local_address_towards(target)) {
      return local->host();
    }
    BATON_LOG_WARN(log::Subsys::kTransport)
        << "no route to MASTER_ADDR=" << *master << " (" << net::error_text(errno)
        << "); listening on 127.0.0.1, which only ranks on this host can reach";
  } catch (const Error& e) {
    BATON_LOG_WARN(log::Subsys::kTransport)
        << "cannot resolve MASTER_ADDR=" << *master << " (" << e.what()
        << "); listening on 127.0.0.1, which only ranks on this host can reach";
  }
  return "127.0.0.1";
}

}  // namespace baton::transport::tcp
