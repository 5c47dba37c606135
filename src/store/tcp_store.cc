// TcpStore: the client side of the TcpStore protocol (docs/wire_protocol.md):
// each operation's request and reply. The connections, their handshake and
// the pool are TcpStore::Client's (tcp_client.hpp).
//
// get() and wait() send their timeout to the server, which answers "timeout"
// itself when it passes; the client's own deadline is that timeout plus a
// grace period, for a server that stopped answering altogether.
#include "baton/tcp_store.hpp"

#include <algorithm>

#include "baton/error.hpp"
#include "store/bytes.hpp"
#include "store/store_common.hpp"
#include "store/tcp_client.hpp"
#include "store/tcp_protocol.hpp"

namespace baton {

namespace {

namespace tcp = store::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kReplyGrace = std::chrono::seconds(5);

}  // namespace

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
    server_ = std::make_unique<TcpStoreServer>(TcpStoreServerOptions{
        .host = host, .port = port, .max_value_bytes = max_value, .secret = options.secret});
    port = server_->port();
  }
  client_ =
      std::make_unique<Client>(std::move(host), port, max_value, options.timeout, options.secret);
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
