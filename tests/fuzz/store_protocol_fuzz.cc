// Fuzzes the TcpStore wire protocol (src/store/tcp_protocol.hpp): what a
// server reads from an unauthenticated client (the hello, request frame
// headers, request bodies) and what a client reads from a server (the hello
// ack, reply frame headers).
//
// Input: byte 0 picks the message, byte 1 the value limit; the rest is the
// message's bytes. Accepted messages must encode back to the same bytes.
#include <array>
#include <cstring>

#include "auth/secret.hpp"
#include "fuzz_support.hpp"
#include "store/kv_map.hpp"
#include "store/store_common.hpp"
#include "store/tcp_protocol.hpp"

namespace {

namespace tcp = baton::store::tcp;
using baton::fuzz::hex;

constexpr uint64_t kLimits[] = {1, 16, 4096, uint64_t{64} << 20};

template <size_t N>
bool fixed(baton::fuzz::Input& in, std::array<uint8_t, N>& out) {
  const auto bytes = in.take(N);
  if (bytes.size() != N) return false;
  std::memcpy(out.data(), bytes.data(), N);
  return true;
}

void hello(baton::fuzz::Input& in) {
  std::array<uint8_t, tcp::kHelloBytes> bytes{};
  if (!fixed(in, bytes)) return;
  const std::string why = tcp::check_hello(bytes);
  if (!why.empty()) return;
  BATON_FUZZ_CHECK((tcp::decode_hello(bytes).flags & ~tcp::kHelloHasSecret) == 0, "flags accepted");
  const auto again = tcp::encode_hello(tcp::decode_hello(bytes));
  BATON_FUZZ_CHECK(again == bytes, "accepted hello " + hex(bytes) + " encodes as " + hex(again));
}

void hello_ack(baton::fuzz::Input& in) {
  std::array<uint8_t, tcp::kHelloAckBytes> bytes{};
  if (!fixed(in, bytes)) return;
  const auto again = tcp::encode_hello_ack(tcp::decode_hello_ack(bytes));
  BATON_FUZZ_CHECK(again == bytes, "hello ack " + hex(bytes) + " encodes as " + hex(again));
}

void check_limits(const tcp::Request& r, uint64_t limit) {
  BATON_FUZZ_CHECK(r.key.size() <= baton::store::kMaxKeyBytes, "key over the limit");
  BATON_FUZZ_CHECK(r.keys.size() <= baton::store::kMaxKeysPerRequest, "key count over the limit");
  for (const std::string_view key : r.keys) {
    BATON_FUZZ_CHECK(key.size() <= baton::store::kMaxKeyBytes, "key over the limit");
  }
  BATON_FUZZ_CHECK(r.value.size() <= limit, "value over the limit");
  BATON_FUZZ_CHECK(r.expected.size() + r.desired.size() <= limit, "compare_set over the limit");
}

// A body the server accepted re-encodes, header and all, to the same bytes.
void round_trip(const tcp::Request& r, std::span<const uint8_t> body, uint64_t limit) {
  std::vector<uint8_t> frame;
  const bool encoded = baton::fuzz::graceful([&] { frame = tcp::encode_request(r, limit); });
  if (body.size() > tcp::max_body_bytes(limit)) return;  // refused either way
  BATON_FUZZ_CHECK(encoded, "an accepted request does not encode");
  BATON_FUZZ_CHECK(frame.size() == tcp::kFrameHeaderBytes + body.size() &&
                       std::equal(body.begin(), body.end(), frame.begin() + tcp::kFrameHeaderBytes),
                   "accepted body " + hex(body) + " encodes as " + hex(frame));
  std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
  std::copy_n(frame.begin(), head.size(), head.begin());
  const tcp::FrameHeader h = tcp::decode_frame_header(head);
  BATON_FUZZ_CHECK(h.length == body.size() && h.kind == static_cast<uint8_t>(r.command),
                   "re-encoded header " + hex(head));
}

// What the server does with a frame: header check, then the body.
void request(baton::fuzz::Input& in, uint64_t limit) {
  std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
  if (!fixed(in, head)) return;
  const tcp::FrameHeader h = tcp::decode_frame_header(head);
  if (h.reserved == std::array<uint8_t, 3>{}) {
    BATON_FUZZ_CHECK(tcp::encode_frame_header(h.length, h.kind) == head, "header " + hex(head));
  }
  if (!tcp::check_request_header(h, limit).empty()) return;
  BATON_FUZZ_CHECK(h.kind >= 1 && h.kind <= tcp::kLastCommand, "accepted kind");
  BATON_FUZZ_CHECK(h.length <= tcp::max_body_bytes(limit), "accepted length");
  const auto body = in.take(h.length);  // the server reads exactly length bytes
  tcp::Request r;
  if (!tcp::decode_request(static_cast<tcp::Command>(h.kind), body, limit, r).empty()) return;
  BATON_FUZZ_CHECK(r.command == static_cast<tcp::Command>(h.kind), "decoded command");
  check_limits(r, limit);
  round_trip(r, body, limit);
}

// decode_request called with any command byte, as a caller that skipped
// check_request_header would.
void any_command(baton::fuzz::Input& in, uint64_t limit) {
  const auto command = static_cast<tcp::Command>(in.u8());
  const auto body = in.rest();
  tcp::Request r;
  const std::string why = tcp::decode_request(command, body, limit, r);
  const auto kind = static_cast<uint8_t>(command);
  if (kind == 0 || kind > tcp::kLastCommand) {
    BATON_FUZZ_CHECK(!why.empty(), "unknown command " + std::to_string(kind) + " accepted");
    return;
  }
  if (!why.empty()) return;
  check_limits(r, limit);
  round_trip(r, body, limit);
}

// What a client reads: a reply header (the client checks kind and length
// itself, in tcp_store.cc), and the error reply the server builds.
void reply(baton::fuzz::Input& in) {
  std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
  if (!fixed(in, head)) return;
  const tcp::FrameHeader h = tcp::decode_frame_header(head);
  const auto message = in.rest_text();
  const auto code = static_cast<tcp::WireError>(h.kind);
  const std::vector<uint8_t> frame = tcp::encode_error_reply(code, message);
  const size_t kept = std::min(message.size(), tcp::kMaxErrorMessageBytes);
  BATON_FUZZ_CHECK(frame.size() == tcp::kFrameHeaderBytes + 1 + 4 + kept, "error reply size");
  BATON_FUZZ_CHECK(frame[tcp::kFrameHeaderBytes] == h.kind, "error reply code");
  const auto body = std::span(frame).subspan(tcp::kFrameHeaderBytes);
  const std::vector<uint8_t> again = tcp::encode_reply(tcp::Status::kError, body);
  BATON_FUZZ_CHECK(again == frame, "encode_reply of an error body");
}

void max_value_bytes(baton::fuzz::Input& in) {
  const uint64_t requested = in.u64();
  uint64_t got = 0;
  if (!baton::fuzz::graceful([&] { got = tcp::resolve_max_value_bytes(requested); })) return;
  BATON_FUZZ_CHECK(got >= 1 && got <= (uint64_t{2} << 30), "limit " + std::to_string(got));
  BATON_FUZZ_CHECK(requested == 0 || got == requested, "limit changed");
}

// The job secret both ends of the proof check hold (built once; null where
// this build has no libcrypto).
const baton::auth::Secret* secret() {
  static const std::shared_ptr<const baton::auth::Secret> s = [] {
    std::shared_ptr<const baton::auth::Secret> out;
    baton::fuzz::graceful(
        [&] { out = baton::auth::Secret::from_text("fuzz-secret-0123456789", "fuzz"); });
    return out;
  }();
  return s.get();
}

// The server's check of a client's proof: hello, client nonce, the server's
// answer and nonce, then whatever the client sent as its proof.
void proof(baton::fuzz::Input& in) {
  const baton::auth::Secret* s = secret();
  if (s == nullptr) return;
  std::array<uint8_t, tcp::kHelloBytes> hello{};
  baton::auth::Nonce client{};
  std::array<uint8_t, tcp::kHelloAckBytes> ack{};
  baton::auth::Nonce server{};
  if (!fixed(in, hello) || !fixed(in, client) || !fixed(in, ack) || !fixed(in, server)) return;
  const baton::auth::Transcript t = tcp::handshake_transcript(hello, client, ack, server);
  const auto claimed = in.rest();
  const baton::auth::Proof right = s->prove(tcp::kClientRole, t.bytes());
  const bool equal =
      claimed.size() == right.size() && std::equal(claimed.begin(), claimed.end(), right.begin());
  BATON_FUZZ_CHECK(s->verify(tcp::kClientRole, t.bytes(), claimed) == equal,
                   "verify disagrees with prove");
  BATON_FUZZ_CHECK(!s->verify(tcp::kServerRole, t.bytes(), right),
                   "a client's proof passes as the server's");
}

void max_buffered_bytes(baton::fuzz::Input& in, uint64_t limit) {
  const uint64_t requested = in.u64();
  uint64_t got = 0;
  if (!baton::fuzz::graceful([&] { got = tcp::resolve_max_buffered_bytes(requested, limit); })) {
    return;
  }
  BATON_FUZZ_CHECK(got >= tcp::max_body_bytes(limit), "buffer below one request");
}

// What the server does with a stream of accepted requests: each one applied
// to the key-value map (counters parsed from whatever a client stored).
void execute(baton::fuzz::Input& in, uint64_t limit) {
  baton::store::KvMap map;
  for (int n = 0; n < 64 && in.remaining() >= tcp::kFrameHeaderBytes; ++n) {
    std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
    fixed(in, head);
    const tcp::FrameHeader h = tcp::decode_frame_header(head);
    if (!tcp::check_request_header(h, limit).empty()) return;
    tcp::Request r;
    if (!tcp::decode_request(static_cast<tcp::Command>(h.kind), in.take(h.length), limit, r)
             .empty()) {
      return;
    }
    const std::string key(r.key);
    switch (r.command) {
      case tcp::Command::kSet: {
        map.set(key, {r.value.begin(), r.value.end()});
        const auto* v = map.find(key);
        BATON_FUZZ_CHECK(
            v != nullptr && std::equal(v->begin(), v->end(), r.value.begin(), r.value.end()),
            "set then find");
        break;
      }
      case tcp::Command::kAdd: {
        int64_t sum = 0;
        if (!baton::fuzz::graceful([&] { sum = map.add(key, r.delta); })) break;
        BATON_FUZZ_CHECK(*map.find(key) == baton::store::counter_bytes(sum), "counter text");
        break;
      }
      case tcp::Command::kCompareSet: {
        const auto* before = map.find(key);
        const bool matched = before != nullptr && std::equal(before->begin(), before->end(),
                                                             r.expected.begin(), r.expected.end());
        const bool missing = before == nullptr;
        map.compare_set(key, r.expected, r.desired);
        const auto* after = map.find(key);
        if (matched || (missing && r.expected.empty())) {
          BATON_FUZZ_CHECK(after != nullptr && std::equal(after->begin(), after->end(),
                                                          r.desired.begin(), r.desired.end()),
                           "compare_set did not set");
        }
        break;
      }
      case tcp::Command::kDeleteKey:
        map.erase(key);
        BATON_FUZZ_CHECK(!map.contains(key), "erased key still there");
        break;
      case tcp::Command::kGet: map.find(key); break;
      case tcp::Command::kCheck:
      case tcp::Command::kWait:
        for (const std::string_view k : r.keys) map.contains(k);
        break;
      case tcp::Command::kNumKeys: break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  baton::fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  const uint64_t limit = kLimits[in.u8() % std::size(kLimits)];
  baton::fuzz::graceful([&] {
    switch (mode % 9) {
      case 0: hello(in); break;
      case 1: hello_ack(in); break;
      case 2: request(in, limit); break;
      case 3: any_command(in, limit); break;
      case 4: reply(in); break;
      case 5: max_value_bytes(in); break;
      case 6: proof(in); break;
      case 7: max_buffered_bytes(in, limit); break;
      case 8: execute(in, limit); break;
    }
  });
  return 0;
}
