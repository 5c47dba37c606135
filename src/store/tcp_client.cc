// TcpStore::Client: connecting, the handshake and one request/reply per
// call; see tcp_client.hpp and docs/wire_protocol.md.
#include "store/tcp_client.hpp"

#include <algorithm>
#include <thread>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "store/bytes.hpp"
#include "store/store_common.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxIdleConnections = 8;
constexpr auto kFirstRetry = std::chrono::milliseconds(10);
constexpr auto kMaxRetry = std::chrono::milliseconds(500);
// The largest handshake reply: the server's proof, or an error message.
constexpr uint64_t kMaxHandshakeReplyBytes = 16 + tcp::kMaxErrorMessageBytes;

bool is_retryable_connect_error(int error) {
  return error == ECONNREFUSED || error == ECONNRESET || error == ENETUNREACH ||
         error == EHOSTUNREACH || error == ETIMEDOUT || error == EAGAIN;
}

// Sleeps a random time in [backoff / 2, backoff], never past the deadline,
// and doubles the backoff up to kMaxRetry: clients refused together do not
// come back together.
void back_off(Clock::duration& backoff, Clock::time_point deadline) {
  const auto half = backoff / 2;
  const auto ticks = static_cast<uint64_t>(std::max<Clock::rep>(1, half.count()));
  const auto pause = half + Clock::duration(static_cast<Clock::rep>(random_u64() % ticks));
  std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
  backoff = std::min<Clock::duration>(backoff * 2, kMaxRetry);
}

}  // namespace

TcpStore::Client::Client(std::string host, uint16_t port, uint64_t max_value,
                         std::chrono::milliseconds timeout, const std::string& secret)
    : host_(std::move(host)),
      port_(port),
      address_(net::format_host_port(host_, port_)),
      where_("TcpStore " + address_),
      max_value_(max_value),
      secret_(auth::Secret::resolve(secret)),
      addresses_(net::resolve(host_, port_)) {
  if (secret_) {
    BATON_LOG_INFO(log::Subsys::kStore) << where_ << ": proving job secret "
                                        << secret_->fingerprint() << " from " << secret_->source();
  }
  release(connect(Clock::now() + timeout, timeout, /*first=*/true));
}

void TcpStore::Client::check_value(size_t size, std::string_view op) const {
  if (size > max_value_) {
    throw InvalidArgument("TcpStore " + std::string(op) + ": value of " + std::to_string(size) +
                          " bytes exceeds the limit of " + std::to_string(max_value_) +
                          " bytes (BATON_STORE_MAX_VALUE_BYTES)");
  }
}

TcpStore::Client::Reply TcpStore::Client::call(const tcp::Request& request, Deadline deadline,
                                               std::chrono::milliseconds budget,
                                               const std::string& what) {
  const std::vector<uint8_t> frame = tcp::encode_request(request, max_value_);
  auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstRetry);
  std::string busy;  // the last "busy" answer, once there was one
  const auto busy_error = [&] {
    return ConnectionError(where_ + ": " + what + " was answered \"busy\" for " +
                           describe_duration(budget) + ": " + busy);
  };
  // A retry after "busy" that runs into the deadline reports the busy server.
  const auto io = [&](net::IoStatus status) {
    if (status == net::IoStatus::kTimedOut && !busy.empty()) throw busy_error();
    check_io(status, what, budget);
  };
  for (;;) {
    UniqueFd fd = acquire(deadline, budget);
    io(net::send_all(fd.get(), frame, deadline));
    RawReply reply;
    io(read_reply(fd.get(), deadline, what, tcp::max_body_bytes(max_value_), reply));
    if (reply.status != tcp::Status::kError) {
      release(std::move(fd));
      return {.status = reply.status, .body = std::move(reply.body)};
    }
    if (reply.error_code == static_cast<uint8_t>(tcp::WireError::kInvalidArgument)) {
      release(std::move(fd));
      throw InvalidArgument(reply.error_text);
    }
    if (reply.error_code == static_cast<uint8_t>(tcp::WireError::kBusy)) {
      // Nothing was done and the connection is still good: try again.
      release(std::move(fd));
      busy = reply.error_text;
      if (Clock::now() >= deadline) throw busy_error();
      back_off(backoff, deadline);
      continue;
    }
    // The server closes the connection after any other error.
    throw ProtocolError(where_ + ": the server rejected " + what + ": " + reply.error_text);
  }
}

void TcpStore::Client::check_io(net::IoStatus status, const std::string& what,
                                std::chrono::milliseconds budget) const {
  if (status == net::IoStatus::kClosed) {
    throw ConnectionError("baton store server at " + address_ + " closed the connection during " +
                          what + " (did the server exit or stop?)");
  }
  if (status == net::IoStatus::kTimedOut) {
    throw TimeoutError(where_ + ": no reply to " + what + " within " + describe_duration(budget) +
                       " (is the server stuck?)");
  }
}

net::IoStatus TcpStore::Client::read_reply(int fd, Deadline deadline, const std::string& what,
                                           uint64_t max_body, RawReply& out) const {
  std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
  if (const auto s = net::recv_all(fd, head, deadline); s != net::IoStatus::kDone) return s;
  const tcp::FrameHeader header = tcp::decode_frame_header(head);
  if (header.kind > static_cast<uint8_t>(tcp::Status::kError) ||
      header.reserved != std::array<uint8_t, 3>{} || header.length > max_body) {
    throw ProtocolError(where_ + ": the reply to " + what +
                        " is not baton store protocol (frame header 0x" + store::hex_bytes(head) +
                        ")");
  }
  out.status = static_cast<tcp::Status>(header.kind);
  out.body.resize(header.length);  // bounded by the check above
  if (const auto s = net::recv_all(fd, out.body, deadline); s != net::IoStatus::kDone) return s;
  if (out.status == tcp::Status::kError) {
    store::ByteReader r(out.body);
    uint32_t length = 0;
    std::span<const uint8_t> message;
    if (!r.u8(out.error_code) || !r.u32(length) || !r.bytes(length, message)) {
      throw ProtocolError(where_ + ": malformed error reply to " + what);
    }
    out.error_text = std::string(store::as_string_view(message));
  }
  return net::IoStatus::kDone;
}

UniqueFd TcpStore::Client::acquire(Deadline deadline, std::chrono::milliseconds budget) {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      UniqueFd fd = std::move(idle_.back());
      idle_.pop_back();
      return fd;
    }
  }
  return connect(deadline, budget, /*first=*/false);
}

void TcpStore::Client::release(UniqueFd fd) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(fd));
}

// Opens and handshakes a connection. A server that answers "full" (also
// what it answers a connection it closes in its handshake to make room) is
// tried again until the deadline; so is a refused connect, on the first
// connection only (the server may not be up yet; later ones fail at once,
// since the server was up before).
UniqueFd TcpStore::Client::connect(Deadline deadline, std::chrono::milliseconds budget,
                                   bool first) {
  auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstRetry);
  bool was_full = false;  // once answered "full", running out of time is reported as that
  const auto full_error = [&] {
    return ConnectionError("cannot connect to baton store server at " + address_ + " within " +
                           describe_duration(budget) +
                           ": it was full (every one of its max_connections in use) for that "
                           "long; retry later, or raise the server's max_connections");
  };
  for (;;) {
    int error = 0;
    bool full = false;
    for (const net::SocketAddress& address : addresses_) {
      net::ConnectResult result = net::connect_tcp(address, deadline);
      if (!result.fd) {
        error = result.error;
        continue;
      }
      const Handshake outcome = handshake(result.fd.get(), deadline);
      if (outcome == Handshake::kDone) return std::move(result.fd);
      if (outcome == Handshake::kTimedOut) {
        if (was_full) throw full_error();
        throw ConnectionError("the server at " + address_ +
                              " did not answer the baton store handshake within " +
                              describe_duration(budget) + ": not a baton store server");
      }
      full = was_full = true;
      break;
    }
    const auto now = Clock::now();
    if (full || (was_full && error == ETIMEDOUT)) {
      if (now >= deadline) throw full_error();
    } else {
      if (!first) {
        throw ConnectionError("cannot reconnect to baton store server at " + address_ + ": " +
                              net::error_text(error) +
                              " (it was reachable before: did the server exit?)");
      }
      if (!is_retryable_connect_error(error) || now >= deadline) {
        throw ConnectionError("cannot connect to baton store server at " + address_ + " within " +
                              describe_duration(budget) + ": " + net::error_text(error) +
                              " (unreachable for that long)");
      }
    }
    back_off(backoff, deadline);
  }
}

TcpStore::Client::Handshake TcpStore::Client::handshake(int fd, Deadline deadline) {
  const auto hello =
      tcp::encode_hello({.flags = static_cast<uint16_t>(secret_ ? tcp::kHelloHasSecret : 0)});
  auth::Nonce nonce{};
  std::vector<uint8_t> first(hello.begin(), hello.end());
  if (secret_) {
    nonce = auth::make_nonce();
    first.insert(first.end(), nonce.begin(), nonce.end());
  }
  // A server that is full answers at accept: read its answer even when the
  // send met a closed connection.
  net::IoStatus status = net::send_all(fd, first, deadline);
  std::array<uint8_t, tcp::kHelloAckBytes> answer{};
  if (status != net::IoStatus::kTimedOut) status = net::recv_all(fd, answer, deadline);
  if (status == net::IoStatus::kClosed) throw closed_in_handshake();
  if (status == net::IoStatus::kTimedOut) return Handshake::kTimedOut;
  const tcp::HelloAck ack = tcp::decode_hello_ack(answer);
  if (ack.magic != tcp::kHelloAckMagic) {
    throw ProtocolError("the server at " + address_ + " answered the handshake with 0x" +
                        store::hex_bytes(answer) + ": not a baton store server");
  }
  if (ack.version != tcp::kProtocolVersion || ack.status == tcp::HelloStatus::kVersionMismatch) {
    throw ProtocolError("baton store server at " + address_ + " speaks protocol version " +
                        std::to_string(ack.version) + ", expected " +
                        std::to_string(tcp::kProtocolVersion));
  }
  const std::string ours =
      secret_ ? "job secret " + secret_->fingerprint() + " from " + secret_->source() : "";
  switch (ack.status) {
    case tcp::HelloStatus::kServerFull: return Handshake::kFull;
    case tcp::HelloStatus::kAuthRequired:
      if (secret_) break;
      throw AuthenticationError("the store server at " + address_ +
                                " requires the job secret (BATON_SECRET / BATON_SECRET_FILE) and "
                                "this process has none");
    case tcp::HelloStatus::kNoSecret:
    case tcp::HelloStatus::kAccepted:
      if (secret_) {
        throw AuthenticationError("the store server at " + address_ +
                                  " does not authenticate (it has no job secret) but this process "
                                  "has one (" +
                                  ours + "): refusing to trust it; give the server the job secret");
      }
      if (ack.status == tcp::HelloStatus::kNoSecret) break;
      check_epoch(ack.epoch);
      return Handshake::kDone;
    case tcp::HelloStatus::kChallenge:
      if (!secret_) break;
      return authenticate(fd, hello, nonce, answer, deadline);
    default: break;
  }
  throw ProtocolError("baton store server at " + address_ + " answered the handshake with status " +
                      std::to_string(static_cast<int>(ack.status)) + " to a hello " +
                      (secret_ ? "with" : "without") + " a job secret");
}

// The challenge: the client proves the secret first, then checks the
// server's proof in its OK reply.
TcpStore::Client::Handshake TcpStore::Client::authenticate(
    int fd, std::span<const uint8_t, tcp::kHelloBytes> hello, const auth::Nonce& client_nonce,
    std::span<const uint8_t, tcp::kHelloAckBytes> ack, Deadline deadline) {
  auth::Nonce server_nonce{};
  net::IoStatus status = net::recv_all(fd, server_nonce, deadline);
  if (status == net::IoStatus::kClosed) throw closed_in_handshake();
  if (status == net::IoStatus::kTimedOut) return Handshake::kTimedOut;
  const auth::Transcript transcript =
      tcp::handshake_transcript(hello, client_nonce, ack, server_nonce);
  const auth::Proof proof = secret_->prove(tcp::kClientRole, transcript.bytes());
  status = net::send_all(fd, proof, deadline);
  RawReply reply;
  if (status == net::IoStatus::kDone) {
    status = read_reply(fd, deadline, "the handshake", kMaxHandshakeReplyBytes, reply);
  }
  if (status == net::IoStatus::kClosed) throw closed_in_handshake();
  if (status == net::IoStatus::kTimedOut) return Handshake::kTimedOut;
  const std::string ours = "job secret " + secret_->fingerprint() + " from " + secret_->source();
  if (reply.status == tcp::Status::kError) {
    // Closed to make room for newer connections (a flood): try again.
    if (reply.error_code == static_cast<uint8_t>(tcp::WireError::kBusy)) return Handshake::kFull;
    if (reply.error_code == static_cast<uint8_t>(tcp::WireError::kAuthentication)) {
      throw AuthenticationError("the store server at " + address_ +
                                " refused this process's job secret (" + ours +
                                "): " + reply.error_text);
    }
    throw ProtocolError("the store server at " + address_ +
                        " refused the handshake: " + reply.error_text);
  }
  if (reply.status != tcp::Status::kOk || reply.body.size() != auth::kProofBytes) {
    throw ProtocolError(
        "the store server at " + address_ + " answered the job secret's proof with " +
        std::to_string(reply.body.size()) + " bytes of status " +
        std::to_string(static_cast<int>(reply.status)) + ", expected its own 32-byte proof");
  }
  if (!secret_->verify(tcp::kServerRole, transcript.bytes(), reply.body)) {
    throw AuthenticationError("the store server at " + address_ +
                              " failed to prove the job secret (" + ours +
                              "): it holds another secret or is not this job's server; refusing "
                              "to trust it");
  }
  check_epoch(tcp::decode_hello_ack(ack).epoch);
  return Handshake::kDone;
}

ConnectionError TcpStore::Client::closed_in_handshake() const {
  return ConnectionError(
      "the server at " + address_ +
      " closed the connection during the baton store handshake: not a baton store server, or it "
      "refused this client (see the server's log)");
}

void TcpStore::Client::check_epoch(uint64_t epoch) {
  std::lock_guard lock(mutex_);
  if (!epoch_) {
    epoch_ = epoch;
  } else if (*epoch_ != epoch) {
    throw ConnectionError("baton store server at " + address_ + " restarted (epoch " +
                          std::to_string(*epoch_) + ", now " + std::to_string(epoch) +
                          "): the keys set before are gone");
  }
}

}  // namespace baton
