// TcpStore wire protocol encoders and decoders; see tcp_protocol.hpp and
// docs/wire_protocol.md.
#include "store/tcp_protocol.hpp"

#include "baton/error.hpp"
#include "core/config.hpp"
#include "store/bytes.hpp"
#include "store/store_common.hpp"

namespace baton::store::tcp {

std::string_view command_name(Command command) {
  switch (command) {
    case Command::kSet: return "set";
    case Command::kGet: return "get";
    case Command::kAdd: return "add";
    case Command::kCompareSet: return "compare_set";
    case Command::kCheck: return "check";
    case Command::kWait: return "wait";
    case Command::kDeleteKey: return "delete_key";
    case Command::kNumKeys: return "num_keys";
  }
  return "unknown";
}

std::array<uint8_t, kHelloBytes> encode_hello(const Hello& hello) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u32(hello.magic);
  w.u16(hello.version);
  w.u16(hello.flags);
  std::array<uint8_t, kHelloBytes> a{};
  std::copy(out.begin(), out.end(), a.begin());
  return a;
}

Hello decode_hello(std::span<const uint8_t, kHelloBytes> bytes) {
  ByteReader r(bytes);
  Hello h;
  r.u32(h.magic);
  r.u16(h.version);
  r.u16(h.flags);
  return h;
}

std::string check_hello(std::span<const uint8_t, kHelloBytes> bytes) {
  const Hello hello = decode_hello(bytes);
  if (hello.magic != kHelloMagic) {
    return "first bytes 0x" + hex_bytes(bytes) +
           " are not a baton store hello (magic \"BTNS\"): not a baton store client";
  }
  if (hello.version != kProtocolVersion) {
    return "protocol version " + std::to_string(hello.version) + ", expected " +
           std::to_string(kProtocolVersion);
  }
  if ((hello.flags & ~kHelloHasSecret) != 0) {
    return "hello flags " + std::to_string(hello.flags) + ", expected 0 or " +
           std::to_string(kHelloHasSecret);
  }
  return "";
}

std::array<uint8_t, kHelloAckBytes> encode_hello_ack(const HelloAck& ack) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u32(ack.magic);
  w.u16(ack.version);
  w.u16(static_cast<uint16_t>(ack.status));
  w.u64(ack.epoch);
  std::array<uint8_t, kHelloAckBytes> a{};
  std::copy(out.begin(), out.end(), a.begin());
  return a;
}

HelloAck decode_hello_ack(std::span<const uint8_t, kHelloAckBytes> bytes) {
  ByteReader r(bytes);
  HelloAck ack;
  uint16_t status = 0;
  r.u32(ack.magic);
  r.u16(ack.version);
  r.u16(status);
  r.u64(ack.epoch);
  ack.status = static_cast<HelloStatus>(status);
  return ack;
}

std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(uint32_t length, uint8_t kind) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u32(length);
  w.u8(kind);
  w.u8(0);
  w.u16(0);
  std::array<uint8_t, kFrameHeaderBytes> a{};
  std::copy(out.begin(), out.end(), a.begin());
  return a;
}

FrameHeader decode_frame_header(std::span<const uint8_t, kFrameHeaderBytes> bytes) {
  FrameHeader h;
  ByteReader r(bytes);
  r.u32(h.length);
  r.u8(h.kind);
  r.u8(h.reserved[0]);
  r.u8(h.reserved[1]);
  r.u8(h.reserved[2]);
  return h;
}

uint64_t max_body_bytes(uint64_t max_value_bytes) {
  return max_value_bytes + kFrameOverheadBytes;
}

std::string check_request_header(const FrameHeader& header, uint64_t max_value_bytes) {
  if (header.kind == 0 || header.kind > kLastCommand) {
    return "unknown command " + std::to_string(header.kind);
  }
  if (header.reserved != std::array<uint8_t, 3>{}) {
    return "frame header reserved bytes 0x" + hex_bytes(header.reserved) + " must be 0";
  }
  if (header.length > max_body_bytes(max_value_bytes)) {
    return "frame claims " + std::to_string(header.length) + " bytes, more than the limit of " +
           std::to_string(max_body_bytes(max_value_bytes)) + " bytes";
  }
  return "";
}

namespace {

// Reads a u32-length-prefixed field no longer than `limit`.
bool read_blob(ByteReader& r, uint64_t limit, std::span<const uint8_t>& out, std::string& error,
               std::string_view what) {
  uint32_t length = 0;
  if (!r.u32(length)) {
    error = "truncated " + std::string(what) + " length";
    return false;
  }
  if (length > limit) {
    error = std::string(what) + " of " + std::to_string(length) + " bytes exceeds the limit of " +
            std::to_string(limit) + " bytes";
    return false;
  }
  if (!r.bytes(length, out)) {
    error = std::string(what) + " claims " + std::to_string(length) + " bytes but only " +
            std::to_string(r.remaining()) + " remain in the frame";
    return false;
  }
  return true;
}

bool read_key(ByteReader& r, std::string_view& key, std::string& error) {
  std::span<const uint8_t> bytes;
  if (!read_blob(r, kMaxKeyBytes, bytes, error, "key")) return false;
  key = as_string_view(bytes);
  return true;
}

bool read_keys(ByteReader& r, std::vector<std::string_view>& keys, std::string& error) {
  uint32_t count = 0;
  if (!r.u32(count)) {
    error = "truncated key count";
    return false;
  }
  if (count > kMaxKeysPerRequest) {
    error = "key count " + std::to_string(count) + " exceeds the limit of " +
            std::to_string(kMaxKeysPerRequest);
    return false;
  }
  // Each key takes at least its 4-byte length: a count the frame cannot hold
  // is rejected before reserving anything.
  if (static_cast<uint64_t>(count) * 4 > r.remaining()) {
    error = "key count " + std::to_string(count) + " does not fit in the " +
            std::to_string(r.remaining()) + " bytes left in the frame";
    return false;
  }
  keys.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view key;
    if (!read_key(r, key, error)) return false;
    keys.push_back(key);
  }
  return true;
}

}  // namespace

std::string decode_request(Command command, std::span<const uint8_t> body, uint64_t max_value_bytes,
                           Request& out) {
  ByteReader r(body);
  std::string error;
  out = Request{};
  out.command = command;
  bool ok = true;
  switch (command) {
    case Command::kSet:
      ok = read_key(r, out.key, error) && read_blob(r, max_value_bytes, out.value, error, "value");
      break;
    case Command::kGet: ok = r.u64(out.timeout_ms) && read_key(r, out.key, error); break;
    case Command::kAdd: ok = read_key(r, out.key, error) && r.i64(out.delta); break;
    case Command::kCompareSet:
      ok = read_key(r, out.key, error) &&
           read_blob(r, max_value_bytes, out.expected, error, "expected value") &&
           read_blob(r, max_value_bytes, out.desired, error, "desired value");
      if (ok && out.expected.size() + out.desired.size() > max_value_bytes) {
        error = "expected and desired values together exceed the limit of " +
                std::to_string(max_value_bytes) + " bytes";
        ok = false;
      }
      break;
    case Command::kCheck: ok = read_keys(r, out.keys, error); break;
    case Command::kWait: ok = r.u64(out.timeout_ms) && read_keys(r, out.keys, error); break;
    case Command::kDeleteKey: ok = read_key(r, out.key, error); break;
    case Command::kNumKeys: break;
    default: return "unknown command " + std::to_string(static_cast<int>(command));
  }
  if (!ok) {
    return std::string(command_name(command)) + " request: " +
           (error.empty() ? "frame of " + std::to_string(body.size()) + " bytes is too short"
                          : error);
  }
  if (r.remaining() != 0) {
    return std::string(command_name(command)) + " request: " + std::to_string(r.remaining()) +
           " unexpected bytes after the body";
  }
  return "";
}

std::vector<uint8_t> encode_request(const Request& request, uint64_t max_value_bytes) {
  std::vector<uint8_t> out(kFrameHeaderBytes);
  ByteWriter w(out);
  switch (request.command) {
    case Command::kSet:
      w.blob(request.key);
      w.blob(request.value);
      break;
    case Command::kGet:
      w.u64(request.timeout_ms);
      w.blob(request.key);
      break;
    case Command::kAdd:
      w.blob(request.key);
      w.i64(request.delta);
      break;
    case Command::kCompareSet:
      w.blob(request.key);
      w.blob(request.expected);
      w.blob(request.desired);
      break;
    case Command::kCheck:
    case Command::kWait:
      if (request.command == Command::kWait) w.u64(request.timeout_ms);
      w.u32(static_cast<uint32_t>(request.keys.size()));
      for (std::string_view key : request.keys) w.blob(key);
      break;
    case Command::kDeleteKey: w.blob(request.key); break;
    case Command::kNumKeys: break;
  }
  const uint64_t length = out.size() - kFrameHeaderBytes;
  if (length > max_body_bytes(max_value_bytes)) {
    throw InvalidArgument("store " + std::string(command_name(request.command)) + ": request of " +
                          std::to_string(length) + " bytes exceeds the limit of " +
                          std::to_string(max_body_bytes(max_value_bytes)) +
                          " bytes (BATON_STORE_MAX_VALUE_BYTES plus 64 KiB)");
  }
  const auto header =
      encode_frame_header(static_cast<uint32_t>(length), static_cast<uint8_t>(request.command));
  std::copy(header.begin(), header.end(), out.begin());
  return out;
}

std::vector<uint8_t> encode_reply(Status status, std::span<const uint8_t> body) {
  std::vector<uint8_t> out;
  out.reserve(kFrameHeaderBytes + body.size());
  const auto header =
      encode_frame_header(static_cast<uint32_t>(body.size()), static_cast<uint8_t>(status));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<uint8_t> encode_timeout_reply(uint64_t timeout_ms,
                                          std::span<const std::string> missing) {
  std::vector<uint8_t> body;
  ByteWriter w(body);
  w.u64(timeout_ms);
  w.u32(static_cast<uint32_t>(missing.size()));
  for (const std::string& key : missing) w.blob(key);
  return encode_reply(Status::kTimeout, body);
}

std::vector<uint8_t> encode_error_reply(WireError code, std::string_view message) {
  std::vector<uint8_t> body;
  ByteWriter w(body);
  w.u8(static_cast<uint8_t>(code));
  w.blob(message.substr(0, kMaxErrorMessageBytes));
  return encode_reply(Status::kError, body);
}

auth::Transcript handshake_transcript(std::span<const uint8_t, kHelloBytes> hello,
                                      std::span<const uint8_t, auth::kNonceBytes> client_nonce,
                                      std::span<const uint8_t, kHelloAckBytes> ack,
                                      std::span<const uint8_t, auth::kNonceBytes> server_nonce) {
  auth::Transcript t;
  t.add(std::span<const uint8_t>(hello))
      .add(std::span<const uint8_t>(client_nonce))
      .add(std::span<const uint8_t>(ack))
      .add(std::span<const uint8_t>(server_nonce));
  return t;
}

}  // namespace baton::store::tcp

namespace baton::store::tcp {

uint64_t resolve_max_value_bytes(uint64_t requested) {
  constexpr uint64_t kCeiling = uint64_t{2} << 30;
  if (requested == 0) {
    const int64_t configured = config::get_int("BATON_STORE_MAX_VALUE_BYTES");
    if (configured <= 0 || static_cast<uint64_t>(configured) > kCeiling) {
      throw InvalidArgument("BATON_STORE_MAX_VALUE_BYTES=" + std::to_string(configured) +
                            " is outside [1, 2147483648]");
    }
    return static_cast<uint64_t>(configured);
  }
  if (requested > kCeiling) {
    throw InvalidArgument("store max_value_bytes " + std::to_string(requested) +
                          " is outside [1, 2147483648]");
  }
  return requested;
}

uint64_t resolve_max_buffered_bytes(uint64_t requested, uint64_t max_value_bytes) {
  uint64_t limit = requested;
  std::string source = "store max_buffered_bytes";
  if (limit == 0) {
    const int64_t configured = config::get_int("BATON_STORE_MAX_BUFFERED_BYTES");
    source = "BATON_STORE_MAX_BUFFERED_BYTES";
    if (configured <= 0) {
      throw InvalidArgument("BATON_STORE_MAX_BUFFERED_BYTES=" + std::to_string(configured) +
                            ", expected a positive number of bytes");
    }
    limit = static_cast<uint64_t>(configured);
  }
  if (limit < max_body_bytes(max_value_bytes)) {
    throw InvalidArgument(source + " " + std::to_string(limit) +
                          " is less than one largest request (max_value_bytes " +
                          std::to_string(max_value_bytes) +
                          " + 64 KiB = " + std::to_string(max_body_bytes(max_value_bytes)) +
                          " bytes), which could never be served");
  }
  return limit;
}

}  // namespace baton::store::tcp
