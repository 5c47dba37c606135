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

#include "auth/secret.hpp"

namespace baton::store::tcp {

// 2: the job secret's challenge-response in the handshake (1 had none).
inline constexpr uint16_t kProtocolVersion = 2;
// "BTNS" on the wire (u32 little-endian): the client's hello.
inline constexpr uint32_t kHelloMagic = 0x534E5442;
// "BTNA" on the wire: the server's answer to a hello.
inline constexpr uint32_t kHelloAckMagic = 0x414E5442;
inline constexpr size_t kHelloBytes = 8;
inline constexpr size_t kHelloAckBytes = 16;
// Hello flags: bit 0, the client holds a job secret and a client nonce
// (auth::kNonceBytes) follows the hello.
inline constexpr uint16_t kHelloHasSecret = 1;
// After a kChallenge answer: the server nonce. The client proves first; the
// server's proof comes in the OK reply that accepts it, so a stranger never
// gets a proof to try guesses of the secret against.
// The roles each side proves under (auth::Secret::prove).
inline constexpr std::string_view kServerRole = "baton-store-server";
inline constexpr std::string_view kClientRole = "baton-store-client";
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

// The hello answer's status. After every status but kAccepted and
// kChallenge the server closes the connection.
enum class HelloStatus : uint16_t {
  kAccepted = 0,         // neither side has a secret: requests may follow
  kVersionMismatch = 1,  // the answer carries the server's version
  kAuthRequired = 2,     // the server has a secret and the client has none
  kNoSecret = 3,         // the client has a secret and the server none: the client refuses
  kChallenge = 4,        // both have one: the server nonce follows
  kServerFull = 5,       // sent at accept, before the hello: retry later
};
inline constexpr uint16_t kLastHelloStatus = 5;

// Error codes on the wire (not ErrorCode's numbering, which may change).
enum class WireError : uint8_t {
  kInvalidArgument = 1,  // e.g. add() on a value that is not a counter
  kProtocol = 2,         // the request broke the protocol; the server closes
  kInternal = 3,
  kAuthentication = 4,  // the client's proof was wrong; the server closes
  kBusy = 5,            // the server's buffers are full; nothing was done, retry later
};

std::string_view command_name(Command command);

struct Hello {
  uint32_t magic = kHelloMagic;
  uint16_t version = kProtocolVersion;
  uint16_t flags = 0;  // kHelloHasSecret, or 0; other bits must be 0
};
std::array<uint8_t, kHelloBytes> encode_hello(const Hello& hello);
Hello decode_hello(std::span<const uint8_t, kHelloBytes> bytes);

// Why these hello bytes are refused ("" when they are fine): a wrong magic
// ("not a baton store client"), "protocol version X, expected Y", or
// unknown flags.
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

// What both proofs cover: the client's hello (8 bytes), its nonce, the
// server's answer (16 bytes) and the server's nonce, as length-prefixed
// parts (auth::Transcript).
auth::Transcript handshake_transcript(std::span<const uint8_t, kHelloBytes> hello,
                                      std::span<const uint8_t, auth::kNonceBytes> client_nonce,
                                      std::span<const uint8_t, kHelloAckBytes> ack,
                                      std::span<const uint8_t, auth::kNonceBytes> server_nonce);

}  // namespace baton::store::tcp

namespace baton::store::tcp {

// The value limit to use: `requested`, or BATON_STORE_MAX_VALUE_BYTES when
// it is 0. Throws InvalidArgument outside [1 byte, 2 GiB].
uint64_t resolve_max_value_bytes(uint64_t requested);

// The server's buffer cap: `requested`, or BATON_STORE_MAX_BUFFERED_BYTES
// when it is 0. Throws InvalidArgument when it is below one largest request
// (max_body_bytes(max_value_bytes)), which could then never be served.
uint64_t resolve_max_buffered_bytes(uint64_t requested, uint64_t max_value_bytes);

}  // namespace baton::store::tcp
