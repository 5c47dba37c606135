// Handshake: the 72-byte hello both ends of a TCP transport connection send
// first (docs/wire_protocol.md, "Transport frames").
//
// The connecting rank sends its hello; the accepting rank checks it against
// what it expects (magic, version, job id, group key hash, the group's random
// token, world size, both ranks), answers with its own hello, and only then
// treats the socket as a peer connection. Anything else (a port scanner, an
// HTTP probe, a rank of another job or group, a late or duplicate connection)
// is refused: logged and closed, while the listener keeps waiting for the
// right peer.
//
// The token is a random 64-bit number rank 0 writes to the store under the
// group's key when the group is set up: only processes that read this
// group's store entries can present it, so a process of an earlier job, or of
// an earlier group that used the same key in another store, is refused even
// when the job ids match (or are unset).
//
// Thread safety: pure functions on values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace baton::transport::tcp {

inline constexpr std::array<std::byte, 4> kHelloMagic = {std::byte{'B'}, std::byte{'T'},
                                                         std::byte{'N'}, std::byte{'H'}};
inline constexpr uint16_t kHelloVersion = 1;
inline constexpr size_t kHelloSize = 72;
inline constexpr size_t kJobIdBytes = 32;

struct Hello {
  uint64_t token = 0;       // the group's random token (from the store)
  uint64_t group_hash = 0;  // FNV-1a of the group key
  int32_t from_rank = -1;   // the sender's rank
  int32_t to_rank = -1;     // the rank it means to reach
  int32_t world_size = 0;
  std::string job_id;  // BATON_JOB_ID; longer ids are replaced by their hash (job_id_field)
};

using HelloBytes = std::array<std::byte, kHelloSize>;

HelloBytes encode_hello(const Hello& hello);
// Decodes bytes; nullopt with *why set when the magic, version or reserved
// bytes are wrong (e.g. "bad magic \"GET \"").
std::optional<Hello> decode_hello(std::span<const std::byte, kHelloSize> bytes, std::string* why);
// Compares a received hello with the expected one (token, group, job id,
// world size, to_rank; from_rank is checked by the caller). Returns "" when
// they agree, otherwise what differs, e.g. "job id 'a1b2' (expected 'c3d4')".
std::string hello_difference(const Hello& got, const Hello& expected);

// 64-bit FNV-1a of text.
uint64_t fnv1a64(std::string_view text);
// The job id as carried in a hello: itself when it fits in kJobIdBytes,
// otherwise "fnv1a:<16 hex digits>" of it.
std::string job_id_field(std::string_view job_id);

}  // namespace baton::transport::tcp
