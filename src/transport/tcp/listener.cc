// Accepting side of the TCP transport's mesh setup; see listener.hpp.
#include "transport/tcp/listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/little_endian.hpp"
#include "core/log.hpp"
#include "core/net_interface.hpp"

namespace baton::transport::tcp {
namespace {

constexpr auto kLog = log::Subsys::kTransport;

// Sends a short message on a socket whose send buffer is empty: it goes out
// in one call or not at all. Returns "" or what went wrong.
std::string send_now(int fd, std::span<const std::byte> bytes) {
  const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == static_cast<ssize_t>(bytes.size())) return "";
  return n < 0 ? net::error_text(errno) : std::string("short write");
}

}  // namespace

Listener::Listener(EventLoop& loop, UniqueFd fd, Options options, Callbacks callbacks)
    : loop_(loop),
      fd_(std::move(fd)),
      address_(net::local_address(fd_.get())),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

Listener::~Listener() = default;

void Listener::start() {
  loop_.add(fd_.get(), EPOLLIN, [this](uint32_t) { on_acceptable(); });
  if (!options_.secret && !is_loopback(address_)) warn_unauthenticated();
}

void Listener::warn_unauthenticated() const {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  BATON_LOG_WARN(kLog) << "rank " << options_.expected.to_rank << " listens on "
                       << address_.to_string()
                       << " without a job secret: anyone who can reach that address and read "
                          "the group's token in the store can join the group as one of its ranks "
                          "and read its data. Set BATON_SECRET (or BATON_SECRET_FILE, a file only "
                          "its owner can read) to the same secret for every rank of the job "
                          "(this warning is written once per process)";
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
  order_.clear();
  if (suppressed_ > 0) {
    BATON_LOG_WARN(kLog) << "rank " << options_.expected.to_rank << " refused " << refused_
                         << " connections during setup; " << suppressed_
                         << " warnings about them were suppressed";
    suppressed_ = 0;
  }
}

void Listener::on_acceptable() {
  for (int accepted = 0; fd_ && accepted < kAcceptBatch; ++accepted) {
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        BATON_LOG_WARN(kLog) << "rank " << options_.expected.to_rank << ": accept on "
                             << address_.to_string() << " failed: " << net::error_text(errno);
      }
      return;
    }
    if (pending_.size() >= kMaxPending) {
      refuse(order_.begin()->second,
             "was the oldest of " + std::to_string(kMaxPending) +
                 " connections in their handshake, closed to make room for a new one "
                 "(a flood of connections?)");
    }
    net::set_nodelay(fd.get());
    const int raw = fd.get();
    auto pending = std::make_unique<Pending>();
    pending->from = net::peer_name(raw);
    pending->fd = std::move(fd);
    pending->seq = next_seq_++;
    pending->timer = loop_.schedule(EventLoop::Clock::now() + options_.handshake_timeout, [this,
                                                                                           raw] {
      const auto it = pending_.find(raw);
      if (it == pending_.end()) return;
      const std::string what = it->second->stage == Stage::kHello
                                   ? "sent no complete hello"
                                   : "sent no proof of the job secret";
      refuse(raw, what + " within " + std::to_string(options_.handshake_timeout.count()) + " ms");
    });
    loop_.add(raw, EPOLLIN | EPOLLRDHUP, [this, raw](uint32_t) { on_readable(raw); });
    order_[pending->seq] = raw;
    pending_[raw] = std::move(pending);
    on_readable(raw);  // a peer's hello is often there already
  }
}

void Listener::on_readable(int fd) {
  for (;;) {
    const auto it = pending_.find(fd);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    // Read exactly what this stage needs: whatever follows belongs to the
    // connection.
    const ssize_t n = ::recv(fd, p.in.data() + p.got, p.want - p.got, 0);
    if (n == 0) {
      if (p.stage == Stage::kProof) {
        const int claimed = p.claimed;
        const std::string why = "a connection from " + p.from + " claiming to be rank " +
                                std::to_string(claimed) +
                                " closed before it proved the job secret (a rank whose secret "
                                "differs from this rank's closes there; this rank's is from " +
                                options_.secret->source() + ", fingerprint " +
                                options_.secret->fingerprint() + "); " + secret_hint();
        refuse(fd, "closed the connection before it proved the job secret");
        callbacks_.on_refused(claimed, std::make_exception_ptr(AuthenticationError(why)), false);
        return;
      }
      const bool silent = p.got == 0;
      refuse(fd,
             silent ? "closed the connection without sending anything"
                    : "closed the connection in the middle of its handshake",
             silent);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      refuse(fd, "connection failed during the handshake: " + net::error_text(errno), true);
      return;
    }
    p.got += static_cast<size_t>(n);
    if (p.stage == Stage::kHello) {
      // Refuse garbage as soon as its first bytes show it is not a hello.
      const size_t magic = std::min(p.got, kHelloMagic.size());
      if (std::memcmp(p.in.data(), kHelloMagic.data(), magic) != 0) {
        std::string why;
        HelloBytes padded{};
        std::memcpy(padded.data(), p.in.data(), p.got);
        decode_hello(padded, &why);
        refuse(fd, "sent " + (why.empty() ? std::string("bytes that are not a Baton hello") : why));
        return;
      }
    }
    if (p.got < p.want) continue;
    if (p.stage == Stage::kProof) return on_proof(p);
    if (p.want == kHelloSize) {
      std::string why;
      const std::optional<Hello> hello =
          decode_hello(std::span<const std::byte, kHelloSize>(p.in.data(), kHelloSize), &why);
      if (!hello) return refuse(fd, "sent " + why);
      if ((hello->flags & kFlagSecret) != 0) {
        p.want += auth::kNonceBytes;  // its nonce follows
        continue;
      }
    }
    return on_hello(p);
  }
}

void Listener::on_hello(Pending& p) {
  const int fd = p.fd.get();
  const Hello& expected = options_.expected;
  const int self = expected.to_rank;
  std::memcpy(p.hello_c.data(), p.in.data(), kHelloSize);
  if (p.want > kHelloSize)
    std::memcpy(p.nonce_c.data(), p.in.data() + kHelloSize, auth::kNonceBytes);
  std::string why;
  const std::optional<Hello> hello = decode_hello(p.hello_c, &why);
  if (!hello) return refuse(fd, "sent " + why);
  if ((hello->flags & kFlagRefusal) != 0) return refuse(fd, "sent a refusal as its hello");
  const int from = hello->from_rank;
  const bool in_group = from >= 0 && from < expected.world_size;
  if (const Refusal code = hello_mismatch(*hello, expected, &why); code != Refusal::kNone) {
    return reject(p, in_group ? from : -1, code, "sent a hello with " + why);
  }
  if (!in_group) {
    return reject(
        p, -1, Refusal::kSourceRank,
        "claims to be rank " + std::to_string(from) + " of " + std::to_string(expected.world_size));
  }
  if (from <= self) {
    return reject(p, from, Refusal::kSourceRank,
                  "claims to be rank " + std::to_string(from) +
                      ", but only higher ranks connect to rank " + std::to_string(self));
  }
  why = callbacks_.check_rank(from);
  if (!why.empty()) return reject(p, from, Refusal::kDuplicate, why);
  const bool theirs = (hello->flags & kFlagSecret) != 0;
  const auth::Secret* secret = options_.secret.get();
  if (theirs != (secret != nullptr)) {
    const std::string text =
        "rank " + std::to_string(from) + " (from " + p.from + ") " +
        (secret ? "has no job secret, while rank " + std::to_string(self) + " has one (from " +
                      secret->source() + ")"
                : "has a job secret, while rank " + std::to_string(self) + " has none") +
        ": " + secret_hint();
    // Without a secret here, nothing is protected anyway: fail at once. With
    // one, a stranger who read the token must not be able to end the setup.
    callbacks_.on_refused(from, std::make_exception_ptr(AuthenticationError(text)), !secret);
    return reject(p, from, secret ? Refusal::kSecretRequired : Refusal::kNoSecretHere,
                  secret ? "has no job secret, and this rank requires one"
                         : "has a job secret, and this rank has none");
  }

  Hello reply = expected;
  reply.from_rank = self;
  reply.to_rank = from;
  reply.flags = secret ? kFlagSecret : 0;
  p.hello_a = encode_hello(reply);
  if (!secret) {
    why = send_now(fd, p.hello_a);
    if (!why.empty()) return refuse(fd, "could not be answered: " + why);
    p.claimed = from;
    return hand_over(p);
  }
  // The challenge: this rank's hello, nonce and proof in one write; the
  // connector's proof comes next.
  p.nonce_a = auth::make_nonce();
  const auth::Proof proof = secret->prove(
      kAcceptorRole, handshake_transcript(p.hello_c, p.nonce_c, p.hello_a, p.nonce_a).bytes());
  std::array<std::byte, kHelloSize + auth::kNonceBytes + auth::kProofBytes> out{};
  std::memcpy(out.data(), p.hello_a.data(), kHelloSize);
  std::memcpy(out.data() + kHelloSize, p.nonce_a.data(), auth::kNonceBytes);
  std::memcpy(out.data() + kHelloSize + auth::kNonceBytes, proof.data(), auth::kProofBytes);
  why = send_now(fd, out);
  if (!why.empty()) return refuse(fd, "could not be answered: " + why);
  p.stage = Stage::kProof;
  p.claimed = from;
  p.got = 0;
  p.want = auth::kProofBytes;
}

void Listener::on_proof(Pending& p) {
  const int fd = p.fd.get();
  const auth::Secret& secret = *options_.secret;
  const auth::Transcript transcript =
      handshake_transcript(p.hello_c, p.nonce_c, p.hello_a, p.nonce_a);
  const auto proof = std::span(reinterpret_cast<const uint8_t*>(p.in.data()), auth::kProofBytes);
  if (!secret.verify(kConnectorRole, transcript.bytes(), proof)) {
    const int claimed = p.claimed;
    const std::string why =
        "a connection from " + p.from + " claiming to be rank " + std::to_string(claimed) +
        " could not prove the job secret (this rank's is from " + secret.source() +
        ", fingerprint " + secret.fingerprint() + "); " + secret_hint();
    refuse(fd, "could not prove the job secret");
    callbacks_.on_refused(claimed, std::make_exception_ptr(AuthenticationError(why)), false);
    return;
  }
  // Proven: the first to prove a rank wins it; a later one is a duplicate.
  std::string why = callbacks_.check_rank(p.claimed);
  if (!why.empty()) return refuse(fd, why);
  why = send_now(fd, kAccepted);
  if (!why.empty()) return refuse(fd, "could not be answered: " + why);
  hand_over(p);
}

void Listener::hand_over(Pending& p) {
  const int fd = p.fd.get();
  const int from = p.claimed;
  BATON_LOG_DEBUG(kLog) << "rank " << options_.expected.to_rank << " accepted rank " << from
                        << " from " << p.from << (options_.secret ? " (secret proven)" : "");
  loop_.remove(fd);
  loop_.cancel(p.timer);
  order_.erase(p.seq);
  UniqueFd socket = std::move(p.fd);
  pending_.erase(fd);
  callbacks_.on_peer(from, std::move(socket));
}

void Listener::reject(Pending& p, int claimed, Refusal code, const std::string& why) {
  const int fd = p.fd.get();
  const Hello refusal =
      refusal_hello(options_.expected.to_rank, claimed, code, options_.secret != nullptr);
  send_now(fd, encode_hello(refusal));  // best effort: the connector may be gone
  const std::string from = p.from;
  refuse(fd, why);
  if (claimed >= 0 && code != Refusal::kNoSecretHere && code != Refusal::kSecretRequired) {
    callbacks_.on_refused(claimed,
                          std::make_exception_ptr(ConnectionError(
                              "a connection from " + from + " claiming to be rank " +
                              std::to_string(claimed) + " was refused: it " + why)),
                          false);
  }
}

void Listener::refuse(int fd, const std::string& why, bool quiet) {
  const auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  ++refused_;
  const char* verb = quiet ? " dropped a connection from " : " refused a connection from ";
  if (quiet) {
    if (uint64_t dropped = 0;
        log::enabled(log::Level::kInfo, kLog) && info_limit_.allow(&dropped)) {
      BATON_LOG_INFO(kLog) << "rank " << options_.expected.to_rank << verb << it->second->from
                           << ": it " << why << log::suppressed(dropped);
    }
  } else if (uint64_t dropped = 0; warn_limit_.allow(&dropped)) {
    BATON_LOG_WARN(kLog) << "rank " << options_.expected.to_rank << verb << it->second->from
                         << ": it " << why << log::suppressed(dropped);
  } else {
    ++suppressed_;
  }
  loop_.remove(fd);
  loop_.cancel(it->second->timer);
  order_.erase(it->second->seq);
  pending_.erase(it);  // closes the socket
}

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
