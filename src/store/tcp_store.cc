// TcpStore: the client side of the TcpStore protocol (docs/wire_protocol.md).
//
// Each call borrows a connection from a small pool (opening and handshaking a
// new one when none is idle), sends one request frame, reads one reply frame
// and returns the connection. get() and wait() send their timeout to the
// server, which answers "timeout" itself when it passes; the client's own
// deadline is that timeout plus a grace period, for a server that stopped
// answering altogether.
#include "baton/tcp_store.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"
#include "store/bytes.hpp"
#include "store/store_common.hpp"
#include "store/tcp_protocol.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

constexpr auto kReplyGrace = std::chrono::seconds(5);
constexpr size_t kMaxIdleConnections = 8;
constexpr auto kFirstRetry = std::chrono::milliseconds(10);
constexpr auto kMaxRetry = std::chrono::milliseconds(500);

bool is_retryable_connect_error(int error) {
  return error == ECONNREFUSED || error == ECONNRESET || error == ENETUNREACH ||
         error == EHOSTUNREACH || error == ETIMEDOUT || error == EAGAIN;
}

}  // namespace

class TcpStore::Client {
 public:
  struct Reply {
    tcp::Status status = tcp::Status::kOk;
    std::vector<uint8_t> body;
  };

  Client(std::string host, uint16_t port, uint64_t max_value, std::chrono::milliseconds timeout)
      : host_(std::move(host)),
        port_(port),
        address_(net::format_host_port(host_, port_)),
        where_("TcpStore " + address_),
        max_value_(max_value),
        addresses_(net::resolve(host_, port_)) {
    release(connect(Clock::now() + timeout, timeout, /*first=*/true));
  }

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  const std::string& where() const { return where_; }
  uint64_t max_value() const { return max_value_; }

  void check_value(size_t size, std::string_view op) const {
    if (size > max_value_) {
      throw InvalidArgument("TcpStore " + std::string(op) + ": value of " + std::to_string(size) +
                            " bytes exceeds the limit of " + std::to_string(max_value_) +
                            " bytes (BATON_STORE_MAX_VALUE_BYTES)");
    }
  }

  // Sends one request and reads its reply before the deadline. Error replies
  // become exceptions; kOk and kTimeout are returned.
  Reply call(const tcp::Request& request, Deadline deadline, std::chrono::milliseconds budget,
             const std::string& what) {
    const std::vector<uint8_t> frame = tcp::encode_request(request, max_value_);
    UniqueFd fd = acquire(deadline, budget);
    check_io(net::send_all(fd.get(), frame, deadline), what, budget);
    std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
    check_io(net::recv_all(fd.get(), head, deadline), what, budget);
    const tcp::FrameHeader header = tcp::decode_frame_header(head);
    if (header.kind > static_cast<uint8_t>(tcp::Status::kError) ||
        header.reserved != std::array<uint8_t, 3>{} ||
        header.length > tcp::max_body_bytes(max_value_)) {
      throw ProtocolError(where_ + ": the reply to " + what +
                          " is not baton store protocol (frame header 0x" + store::hex_bytes(head) +
                          ")");
    }
    Reply reply;
    reply.status = static_cast<tcp::Status>(header.kind);
    reply.body.resize(header.length);  // bounded by the check above
    check_io(net::recv_all(fd.get(), reply.body, deadline), what, budget);
    if (reply.status == tcp::Status::kError) {
      store::ByteReader r(reply.body);
      uint8_t code = 0;
      uint32_t length = 0;
      std::span<const uint8_t> message;
      if (!r.u8(code) || !r.u32(length) || !r.bytes(length, message)) {
        throw ProtocolError(where_ + ": malformed error reply to " + what);
      }
      const std::string text(store::as_string_view(message));
      if (code == static_cast<uint8_t>(tcp::WireError::kInvalidArgument)) {
        release(std::move(fd));
        throw InvalidArgument(text);
      }
      // The server closes the connection after any other error.
      throw ProtocolError(where_ + ": the server rejected " + what + ": " + text);
    }
    release(std::move(fd));
    return reply;
  }

 private:
  void check_io(net::IoStatus status, const std::string& what,
                std::chrono::milliseconds budget) const {
    if (status == net::IoStatus::kClosed) {
      throw ConnectionError("baton store server at " + address_ + " closed the connection during " +
                            what + " (did the server exit or stop?)");
    }
    if (status == net::IoStatus::kTimedOut) {
      throw TimeoutError(where_ + ": no reply to " + what + " within " +
                         describe_duration(budget) + " (is the server stuck?)");
    }
  }

  UniqueFd acquire(Deadline deadline, std::chrono::milliseconds budget) {
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

  void release(UniqueFd fd) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(fd));
  }

  // Opens and handshakes a connection. The first one retries a refused
  // connection until the deadline (the server may not be up yet); later
  // ones fail at once, since the server was up before.
  UniqueFd connect(Deadline deadline, std::chrono::milliseconds budget, bool first) {
    auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstRetry);
    for (;;) {
      int error = 0;
      for (const net::SocketAddress& address : addresses_) {
        net::ConnectResult result = net::connect_tcp(address, deadline);
        if (result.fd) {
          handshake(result.fd.get(), deadline, budget);
          return std::move(result.fd);
        }
        error = result.error;
      }
      const auto now = Clock::now();
      if (!first) {
        throw ConnectionError("cannot reconnect to baton store server at " + address_ + ": " +
                              net::error_text(error) +
                              " (it was reachable before: did the server exit?)");
      }
      if (!is_retryable_connect_error(error) || now >= deadline) {
        throw ConnectionError("cannot connect to baton store server at " + address_ + " within " +
                              describe_duration(budget) + ": " + net::error_text(error));
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
      backoff = std::min<Clock::duration>(backoff * 2, kMaxRetry);
    }
  }

  void handshake(int fd, Deadline deadline, std::chrono::milliseconds budget) {
    const auto hello = tcp::encode_hello({});
    std::array<uint8_t, tcp::kHelloAckBytes> answer{};
    net::IoStatus status = net::send_all(fd, hello, deadline);
    if (status == net::IoStatus::kDone) status = net::recv_all(fd, answer, deadline);
    if (status == net::IoStatus::kClosed) {
      throw ConnectionError(
          "the server at " + address_ +
          " closed the connection during the baton store handshake: not a baton store server, or "
          "it refused this client (see the server's log)");
    }
    if (status == net::IoStatus::kTimedOut) {
      throw ConnectionError("the server at " + address_ +
                            " did not answer the baton store handshake within " +
                            describe_duration(budget) + ": not a baton store server");
    }
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
    if (ack.status != tcp::HelloStatus::kAccepted) {
      throw ProtocolError("baton store server at " + address_ +
                          " answered the handshake with status " +
                          std::to_string(static_cast<int>(ack.status)));
    }
    std::lock_guard lock(mutex_);
    if (!epoch_) {
      epoch_ = ack.epoch;
    } else if (*epoch_ != ack.epoch) {
      throw ConnectionError("baton store server at " + address_ + " restarted (epoch " +
                            std::to_string(*epoch_) + ", now " + std::to_string(ack.epoch) +
                            "): the keys set before are gone");
    }
  }

  const std::string host_;
  const uint16_t port_;
  const std::string address_;
  const std::string where_;
  const uint64_t max_value_;
  const std::vector<net::SocketAddress> addresses_;
  std::mutex mutex_;
  std::vector<UniqueFd> idle_;     // GUARDED_BY(mutex_)
  std::optional<uint64_t> epoch_;  // GUARDED_BY(mutex_): the server instance we talk to
};

namespace {

tcp::Request make(tcp::Command command, std::string_view key = {}) {
  tcp::Request r;
  r.command = command;
  r.key = key;
  return r;
}

std::string op_text(std::string_view op, std::string_view key) {
  return std::string(op) + "(" + store::quote_key(key) + ")";
}

std::string op_text(std::string_view op, std::span<const std::string> keys) {
  return std::string(op) + "(" + store::quote_keys(keys) + ")";
}

}  // namespace

TcpStore::TcpStore(std::string host, uint16_t port, TcpStoreOptions options)
    : Store(options.timeout) {
  const uint64_t max_value = tcp::resolve_max_value_bytes(options.max_value_bytes);
  if (options.is_server) {
    server_ = std::make_unique<TcpStoreServer>(
        TcpStoreServerOptions{.host = host, .port = port, .max_value_bytes = max_value});
    port = server_->port();
  }
  client_ = std::make_unique<Client>(std::move(host), port, max_value, options.timeout);
}

TcpStore::~TcpStore() = default;

const std::string& TcpStore::host() const {
  return client_->host();
}
uint16_t TcpStore::port() const {
  return client_->port();
}
std::string TcpStore::address() const {
  return client_->address();
}
TcpStoreServer* TcpStore::server() const {
  return server_.get();
}

namespace {

// Reads a reply body with a decoder; a short or long body is a ProtocolError.
template <class Fn>
auto decode_reply(const std::vector<uint8_t>& body, const std::string& where,
                  const std::string& what, Fn&& fn) {
  store::ByteReader r(body);
  auto value = fn(r);
  if (r.failed() || r.remaining() != 0) {
    throw ProtocolError(where + ": malformed reply to " + what + " (" +
                        std::to_string(body.size()) + " bytes)");
  }
  return value;
}

Store::Bytes read_value(store::ByteReader& r) {
  uint32_t length = 0;
  std::span<const uint8_t> bytes;
  if (!r.u32(length) || !r.bytes(length, bytes)) return {};
  return Store::Bytes(bytes.begin(), bytes.end());
}

}  // namespace

void TcpStore::set(std::string_view key, std::span<const uint8_t> value) {
  store::check_key(key, "set");
  client_->check_value(value.size(), "set");
  tcp::Request r = make(tcp::Command::kSet, key);
  r.value = value;
  client_->call(r, Clock::now() + timeout(), timeout(), op_text("set", key));
}

Store::Bytes TcpStore::get(std::string_view key) {
  store::check_key(key, "get");
  const auto t = timeout();
  tcp::Request r = make(tcp::Command::kGet, key);
  r.timeout_ms = static_cast<uint64_t>(std::max<int64_t>(0, t.count()));
  const std::string what = op_text("get", key);
  const auto reply = client_->call(r, Clock::now() + t + kReplyGrace, t + kReplyGrace, what);
  if (reply.status == tcp::Status::kTimeout) {
    const std::string keys[] = {std::string(key)};
    throw TimeoutError(store::timeout_message(client_->where(), "get", keys, t));
  }
  return decode_reply(reply.body, client_->where(), what, read_value);
}

int64_t TcpStore::add(std::string_view key, int64_t delta) {
  store::check_key(key, "add");
  tcp::Request r = make(tcp::Command::kAdd, key);
  r.delta = delta;
  const std::string what = op_text("add", key);
  const auto reply = client_->call(r, Clock::now() + timeout(), timeout(), what);
  return decode_reply(reply.body, client_->where(), what, [](store::ByteReader& br) {
    int64_t v = 0;
    br.i64(v);
    return v;
  });
}

Store::Bytes TcpStore::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                   std::span<const uint8_t> desired) {
  store::check_key(key, "compare_set");
  client_->check_value(expected.size() + desired.size(), "compare_set (expected + desired)");
  tcp::Request r = make(tcp::Command::kCompareSet, key);
  r.expected = expected;
  r.desired = desired;
  const std::string what = op_text("compare_set", key);
  const auto reply = client_->call(r, Clock::now() + timeout(), timeout(), what);
  return decode_reply(reply.body, client_->where(), what, read_value);
}

bool TcpStore::check(std::span<const std::string> keys) {
  store::check_keys(keys, "check");
  tcp::Request r = make(tcp::Command::kCheck);
  r.keys.assign(keys.begin(), keys.end());
  const std::string what = op_text("check", keys);
  const auto reply = client_->call(r, Clock::now() + timeout(), timeout(), what);
  return decode_reply(reply.body, client_->where(), what, [](store::ByteReader& br) {
    uint8_t v = 0;
    br.u8(v);
    return v != 0;
  });
}

void TcpStore::wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) {
  store::check_keys(keys, "wait");
  tcp::Request r = make(tcp::Command::kWait);
  r.keys.assign(keys.begin(), keys.end());
  r.timeout_ms = static_cast<uint64_t>(std::max<int64_t>(0, timeout.count()));
  const std::string what = op_text("wait", keys);
  const auto reply =
      client_->call(r, Clock::now() + timeout + kReplyGrace, timeout + kReplyGrace, what);
  if (reply.status == tcp::Status::kTimeout) {
    const auto missing =
        decode_reply(reply.body, client_->where(), what, [](store::ByteReader& br) {
          uint64_t ms = 0;
          uint32_t count = 0;
          std::vector<std::string> out;
          if (!br.u64(ms) || !br.u32(count) || count > store::kMaxKeysPerRequest) return out;
          for (uint32_t i = 0; i < count; ++i) {
            const Bytes key = read_value(br);
            out.emplace_back(key.begin(), key.end());
          }
          return out;
        });
    throw TimeoutError(store::timeout_message(client_->where(), "wait", missing, timeout));
  }
  decode_reply(reply.body, client_->where(), what, [](store::ByteReader&) { return 0; });
}

bool TcpStore::delete_key(std::string_view key) {
  store::check_key(key, "delete_key");
  const std::string what = op_text("delete_key", key);
  const auto reply =
      client_->call(make(tcp::Command::kDeleteKey, key), Clock::now() + timeout(), timeout(), what);
  return decode_reply(reply.body, client_->where(), what, [](store::ByteReader& br) {
    uint8_t v = 0;
    br.u8(v);
    return v != 0;
  });
}

int64_t TcpStore::num_keys() {
  const std::string what = "num_keys()";
  const auto reply =
      client_->call(make(tcp::Command::kNumKeys), Clock::now() + timeout(), timeout(), what);
  return decode_reply(reply.body, client_->where(), what, [](store::ByteReader& br) {
    int64_t v = 0;
    br.i64(v);
    return v;
  });
}

}  // namespace baton
