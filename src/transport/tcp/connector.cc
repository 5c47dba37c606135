// Connecting side of the TCP transport's mesh setup; see connector.hpp.
#include "transport/tcp/connector.hpp"

#include <cerrno>
#include <cstring>
#include <thread>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/socket.hpp"

namespace baton::transport::tcp {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kFirstBackoff = std::chrono::milliseconds(5);
constexpr auto kMaxBackoff = std::chrono::milliseconds(500);

// "host:port" or "[v6]:port" as published by setup.
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

std::span<const uint8_t> u8(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}
std::span<uint8_t> u8(std::span<std::byte> bytes) {
  return {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

Connector::Connector(Hello self, std::shared_ptr<const auth::Secret> secret,
                     std::chrono::milliseconds attempt_timeout, const PeerWatch& watch,
                     std::string who)
    : self_(std::move(self)),
      secret_(std::move(secret)),
      attempt_timeout_(attempt_timeout),
      watch_(watch),
      who_(std::move(who)) {}

void Connector::pause(std::chrono::milliseconds* backoff, Clock::time_point deadline) {
  // Jitter: somewhere between half and all of the step, so ranks that were
  // dropped together do not come back together.
  const auto half = backoff->count() / 2;
  const auto step = std::chrono::milliseconds(
      half + static_cast<int64_t>(random_u64() % static_cast<uint64_t>(half + 1)));
  std::this_thread::sleep_until(std::min(deadline, Clock::now() + step));
  *backoff = std::min(*backoff * 2, std::chrono::milliseconds(kMaxBackoff));
}

UniqueFd Connector::connect(int peer, const std::string& address, Clock::time_point deadline,
                            std::string* why) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(address, &host, &port)) {
    throw ProtocolError(who_ + ": rank " + std::to_string(peer) + " published '" + address +
                        "', which is not host:port");
  }
  const std::string where = "rank " + std::to_string(peer) + " at " + address;
  auto backoff = std::chrono::milliseconds(kFirstBackoff);
  Clock::time_point refused_since{};  // the first of the refusals in a row; zero: none
  int dropped = 0;                    // handshakes the peer closed or left unfinished
  for (;;) {
    UniqueFd fd;
    int error = 0;
    const auto attempt_deadline = std::min(deadline, Clock::now() + attempt_timeout_);
    for (const net::SocketAddress& a : net::resolve(host, port)) {
      net::ConnectResult result = net::connect_tcp(a, attempt_deadline);
      if (result.fd) {
        fd = std::move(result.fd);
        break;
      }
      error = result.error;
    }
    if (fd) {
      refused_since = Clock::time_point{};
      if (handshake(fd.get(), peer, where, attempt_deadline, why) == Outcome::kDone) return fd;
      ++dropped;
      if (uint64_t suppressed = 0; retry_log_.allow(&suppressed)) {
        BATON_LOG_WARN(log::Subsys::kTransport)
            << who_ << ": " << *why << "; retrying (attempt " << dropped + 1 << ")"
            << log::suppressed(suppressed);
      }
    } else {
      watch_.check(std::span<const int>(&peer, 1), who_,
                   "tcp setup (it published " + address + ", then stopped listening)");
      // A refused connect may be a listener that is not up yet; but the
      // peer listened before it published this address, so refusals that
      // last kRefusedIsGone mean it has exited.
      if (error == ECONNREFUSED) {
        if (refused_since == Clock::time_point{}) refused_since = Clock::now();
        if (Clock::now() - refused_since >= kRefusedIsGone) {
          throw ConnectionError(who_ + ": rank " + std::to_string(peer) + " published " + address +
                                " but has refused connections there for " +
                                describe_duration(kRefusedIsGone) +
                                ": it listened before it published, so it has exited "
                                "(during tcp setup)");
        }
      } else {
        refused_since = Clock::time_point{};
      }
      *why = "connecting to " + address + " failed: " + net::error_text(error);
    }
    if (Clock::now() + std::chrono::milliseconds(backoff.count() / 2) >= deadline) {
      if (dropped > 1) *why += " (" + std::to_string(dropped) + " handshakes were dropped)";
      return UniqueFd();
    }
    pause(&backoff, deadline);
  }
}

Connector::Outcome Connector::handshake(int fd, int peer, const std::string& where,
                                        Clock::time_point deadline, std::string* why) {
  const std::string limit = describe_duration(attempt_timeout_);
  Hello hello = self_;
  hello.to_rank = peer;
  hello.flags = secret_ ? kFlagSecret : 0;
  const HelloBytes hello_c = encode_hello(hello);
  auth::Nonce nonce_c{};
  std::array<std::byte, kHelloSize + auth::kNonceBytes> first{};
  std::memcpy(first.data(), hello_c.data(), kHelloSize);
  size_t first_size = kHelloSize;
  if (secret_) {
    nonce_c = auth::make_nonce();
    std::memcpy(first.data() + kHelloSize, nonce_c.data(), nonce_c.size());
    first_size += nonce_c.size();
  }
  const std::string dropped = where + " closed the connection during the handshake";
  const std::string dropped_why =
      " (its handshake slots may have been full, or it found something wrong: its log says)";
  switch (net::send_all(fd, u8(std::span(first.data(), first_size)), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut:
      *why = where + " did not read the hello within " + limit;
      return Outcome::kRetry;
    case net::IoStatus::kClosed: *why = dropped + dropped_why; return Outcome::kRetry;
  }
  HelloBytes hello_a{};
  switch (net::recv_all(fd, u8(std::span<std::byte>(hello_a)), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut:
      *why = where + " did not answer the hello within " + limit;
      return Outcome::kRetry;
    case net::IoStatus::kClosed: *why = dropped + dropped_why; return Outcome::kRetry;
  }
  std::string problem;
  const std::optional<Hello> reply = decode_hello(hello_a, &problem);
  if (!reply) {
    throw ProtocolError(who_ + ": " + where + " answered the handshake with " + problem);
  }
  if ((reply->flags & kFlagRefusal) != 0) {
    const std::string text = who_ + ": " + where + " refused the connection: this rank has " +
                             refusal_text(reply->refusal);
    if (reply->refusal == Refusal::kNoSecretHere || reply->refusal == Refusal::kSecretRequired) {
      throw AuthenticationError(text);
    }
    throw ConnectionError(text);
  }
  Hello expected = self_;
  expected.to_rank = self_.from_rank;
  if (hello_mismatch(*reply, expected, &problem) == Refusal::kNone && reply->from_rank != peer) {
    problem = "source rank " + std::to_string(reply->from_rank);
  }
  if (!problem.empty()) {
    throw ConnectionError(who_ + ": " + where + " answered the handshake with " + problem);
  }
  const bool theirs = (reply->flags & kFlagSecret) != 0;
  if (!secret_ && !theirs) return Outcome::kDone;
  if (!secret_ || !theirs) {
    throw AuthenticationError(
        who_ + ": " + where +
        (secret_ ? " has no job secret, while this rank has one (from " + secret_->source() + ")"
                 : " requires a job secret, and this rank has none") +
        ": " + secret_hint());
  }

  std::array<std::byte, auth::kNonceBytes + auth::kProofBytes> challenge{};
  switch (net::recv_all(fd, u8(std::span<std::byte>(challenge)), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut:
      *why = where + " did not send its proof within " + limit;
      return Outcome::kRetry;
    case net::IoStatus::kClosed: *why = dropped + dropped_why; return Outcome::kRetry;
  }
  auth::Nonce nonce_a{};
  std::memcpy(nonce_a.data(), challenge.data(), nonce_a.size());
  const auth::Transcript transcript = handshake_transcript(hello_c, nonce_c, hello_a, nonce_a);
  if (!secret_->verify(kAcceptorRole, transcript.bytes(),
                       u8(std::span<const std::byte>(challenge).subspan(auth::kNonceBytes)))) {
    throw AuthenticationError(who_ + ": " + where +
                              " could not prove this job's secret: the ranks hold different "
                              "secrets (this rank's is from " +
                              secret_->source() + ", fingerprint " + secret_->fingerprint() +
                              "); " + secret_hint());
  }
  const auth::Proof proof_c = secret_->prove(kConnectorRole, transcript.bytes());
  switch (net::send_all(fd, std::span<const uint8_t>(proof_c), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut:
      *why = where + " did not read the proof within " + limit;
      return Outcome::kRetry;
    case net::IoStatus::kClosed: *why = dropped + dropped_why; return Outcome::kRetry;
  }
  std::array<std::byte, kAccepted.size()> accepted{};
  switch (net::recv_all(fd, u8(std::span<std::byte>(accepted)), deadline)) {
    case net::IoStatus::kDone: break;
    case net::IoStatus::kTimedOut:
      *why = where + " did not accept the proof within " + limit;
      return Outcome::kRetry;
    case net::IoStatus::kClosed:
      *why = dropped +
             " after this rank's proof (its handshake slots may have been full, or its "
             "handshake timeout passed: its log says)";
      return Outcome::kRetry;
  }
  if (accepted != kAccepted) {
    throw ProtocolError(who_ + ": " + where +
                        " answered the proof with bytes that are not \"BTOK\"");
  }
  return Outcome::kDone;
}

}  // namespace baton::transport::tcp
