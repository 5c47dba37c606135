// The TcpStore wire protocol: the hello, frame headers, and each command's
// body, as written down byte by byte in docs/wire_protocol.md.
//
// Client and server both encode and decode through this file, so a change to
// the protocol is a change here, in kProtocolVersion and in the doc. Every
// decoder checks every length against the bytes present and against the
// limits before anything is allocated or copied.
//
// Thread safety: constants and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton::store::tcp {

inline constexpr uint16_t kProtocolVersion = 1;
// "BTNS" on the wire (u32 little-endian): the client's hello.
inline constexpr uint32_t kHelloMagic = 0x534E5442;
// "BTNA" on the wire: the server's answer to a hello.
inline constexpr uint32_t kHelloAckMagic = 0x414E5442;
inline constexpr size_t kHelloBytes = 8;
inline constexpr size_t kHelloAckBytes = 16;
inline constexpr size_t kFrameHeaderBytes = 8;
// Room in a frame for everything but the value: keys, lengths, counts.
inline constexpr uint64_t kFrameOverheadBytes = uint64_t{64} * 1024;
// Longest error message a server sends.
inline constexpr size_t kMaxErrorMessageBytes = 4096;

enum class Command : uint8_t {
  kSet = 1,
  kGet = 2,
  kAdd = 3,
  kCompareSet = 4,
  kCheck = 5,
  kWait = 6,
  kDeleteKey = 7,
  kNumKeys = 8,
};
inline constexpr uint8_t kLastCommand = 8;

enum class Status : uint8_t {
  kOk = 0,
  kTimeout = 1,  // a get/wait passed its timeout; body lists the missing keys
  kError = 2,    // body: error code and message
};

enum class HelloStatus : uint16_t {
  kAccepted = 0,
  kVersionMismatch = 1,  // the server closes the connection after this answer
};

// Error codes on the wire (not ErrorCode's numbering, which may change).
enum class WireError : uint8_t {
  kInvalidArgument = 1,  // e.g. add() on a value that is not a counter
  kProtocol = 2,         // the request broke the protocol; the server closes
  kInternal = 3,
};

std::string_view command_name(Command command);

struct Hello {
  uint32_t magic = kHelloMagic;
  uint16_t version = kProtocolVersion;
  uint16_t flags = 0;  // reserved, must be 0
};
std::array<uint8_t, kHelloBytes> encode_hello(const Hello& hello);
Hello decode_hello(std::span<const uint8_t, kHelloBytes> bytes);

// Why these hello bytes are refused ("" when they are fine): a wrong magic
// ("not a baton store client"), "protocol version X, expected Y", or flags.
std::string check_hello(std::span<const uint8_t, kHelloBytes> bytes);

struct HelloAck {
  uint32_t magic = kHelloAckMagic;
  uint16_t version = kProtocolVersion;
  HelloStatus status = HelloStatus::kAccepted;
  uint64_t epoch = 0;  // random per server instance: a restarted server differs
};
std::array<uint8_t, kHelloAckBytes> encode_hello_ack(const HelloAck& ack);
HelloAck decode_hello_ack(std::span<const uint8_t, kHelloAckBytes> bytes);

// Requests carry a Command in `kind`, replies a Status. `reserved` must be 0.
struct FrameHeader {
  uint32_t length = 0;  // body bytes after the header
  uint8_t kind = 0;
  std::array<uint8_t, 3> reserved{};
};
std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(uint32_t length, uint8_t kind);
FrameHeader decode_frame_header(std::span<const uint8_t, kFrameHeaderBytes> bytes);

// The largest frame body either side accepts, given the value limit.
uint64_t max_body_bytes(uint64_t max_value_bytes);

// Why a request frame header is refused ("" when it is fine): an unknown
// command, non-zero reserved bytes, or a length over max_body_bytes.
std::string check_request_header(const FrameHeader& header, uint64_t max_value_bytes);

// A decoded request. Views point into the body buffer.
struct Request {
  Command command = Command::kNumKeys;
  std::string_view key;
  std::span<const uint8_t> value;      // kSet
  std::span<const uint8_t> expected;   // kCompareSet
  std::span<const uint8_t> desired;    // kCompareSet
  int64_t delta = 0;                   // kAdd
  uint64_t timeout_ms = 0;             // kGet, kWait
  std::vector<std::string_view> keys;  // kCheck, kWait
};

// Decodes a request body; returns "" on success, else why it is malformed.
// Enforces the key, key-count and value limits.
std::string decode_request(Command command, std::span<const uint8_t> body, uint64_t max_value_bytes,
                           Request& out);

// Frame (header + body) encoders for the client; the caller has checked the
// limits, which encode_request asserts again (InvalidArgument).
std::vector<uint8_t> encode_request(const Request& request, uint64_t max_value_bytes);

// Reply frames (header + body) for the server.
std::vector<uint8_t> encode_reply(Status status, std::span<const uint8_t> body);
std::vector<uint8_t> encode_timeout_reply(uint64_t timeout_ms,
                                          std::span<const std::string> missing);
std::vector<uint8_t> encode_error_reply(WireError code, std::string_view message);

}  // namespace baton::store::tcp

namespace baton::store::tcp {

// The value limit to use: `requested`, or BATON_STORE_MAX_VALUE_BYTES when
// it is 0. Throws InvalidArgument outside [1 byte, 2 GiB].
uint64_t resolve_max_value_bytes(uint64_t requested);

}  // namespace baton::store::tcp
