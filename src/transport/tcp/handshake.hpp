// Handshake: what both ends of a TCP transport connection exchange before
// the first frame (docs/wire_protocol.md, "Transport frames"): a 72-byte
// hello each way and, when the job has a secret, a challenge-response.
//
// The connecting rank (connector.hpp) sends its hello; the accepting rank
// (listener.hpp) checks it against what it expects (magic, version, job id,
// group key hash, the group's random token, world size, both ranks) and
// answers with its own hello, or with a refusal (a hello with kFlagRefusal
// and a reason code, so the connector can fail at once for a reason that
// cannot change, instead of retrying until its deadline). Anything else (a
// port scanner, an HTTP probe, a rank of another job or group, a late or
// duplicate connection) is refused: logged and closed, while the listener
// keeps waiting for the right peer.
//
// The token is a random 64-bit number rank 0 writes to the store under the
// group's key: only processes that read this group's store entries can
// present it, so a process of an earlier job, or of an earlier group that
// used the same key in another store, is refused even when the job ids
// match. It is no secret against anyone who can read the store.
//
// The job secret (auth/secret.hpp) is: with one (TcpOptions::secret), a
// hello has kFlagSecret and the exchange is
//   connector -> acceptor  hello_c, nonce_c                (72 + 32 bytes)
//   acceptor  -> connector hello_a, nonce_a, proof_a       (72 + 32 + 32)
//   connector -> acceptor  proof_c                         (32)
//   acceptor  -> connector "BTOK"                          (4)
// where proof_x = HMAC-SHA-256(secret, role_x || 0 || transcript), the
// transcript being hello_c, nonce_c, hello_a, nonce_a (auth::Transcript:
// each part preceded by its 4-byte length). The connector checks proof_a
// before it sends anything more; the acceptor checks proof_c before the
// socket becomes the peer's connection, and answers "BTOK" once it has
// (so a connector whose handshake the acceptor dropped, its slots being
// full, knows to retry). The secret never crosses the wire.
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

#include "auth/secret.hpp"

namespace baton::transport::tcp {

inline constexpr std::array<std::byte, 4> kHelloMagic = {std::byte{'B'}, std::byte{'T'},
                                                         std::byte{'N'}, std::byte{'H'}};
inline constexpr uint16_t kHelloVersion = 2;
inline constexpr size_t kHelloSize = 72;
inline constexpr size_t kJobIdBytes = 32;

// Hello flags (offset 6).
inline constexpr uint16_t kFlagSecret = 1;   // the sender has a job secret
inline constexpr uint16_t kFlagRefusal = 2;  // an acceptor's refusal; `refusal` says why
inline constexpr uint16_t kKnownFlags = kFlagSecret | kFlagRefusal;

// What the acceptor sends once it checked proof_c and took the socket.
inline constexpr std::array<std::byte, 4> kAccepted = {std::byte{'B'}, std::byte{'T'},
                                                       std::byte{'O'}, std::byte{'K'}};
// The roles of the two proofs (auth::Secret::prove).
inline constexpr std::string_view kAcceptorRole = "baton-transport-acceptor";
inline constexpr std::string_view kConnectorRole = "baton-transport-connector";

// Why an acceptor refused a hello (offset 36 of a refusal). Every one is
// definite: the connector's next attempt would be refused the same way.
enum class Refusal : uint32_t {
  kNone = 0,
  kJobId = 1,           // another job id
  kGroup = 2,           // another group key
  kToken = 3,           // another group token (an earlier group with the same key)
  kWorldSize = 4,       // another world size
  kDestination = 5,     // the hello is for another rank
  kSourceRank = 6,      // this rank accepts no connection from that rank
  kDuplicate = 7,       // that rank is already connected
  kNoSecretHere = 8,    // the connector has a job secret, the acceptor none
  kSecretRequired = 9,  // the acceptor has a job secret, the connector none
};
inline constexpr uint32_t kLastRefusal = 9;

struct Hello {
  uint64_t token = 0;       // the group's random token (from the store)
  uint64_t group_hash = 0;  // FNV-1a of the group key
  int32_t from_rank = -1;   // the sender's rank
  int32_t to_rank = -1;     // the rank it means to reach
  int32_t world_size = 0;
  std::string job_id;  // BATON_JOB_ID; longer ids are replaced by their hash (job_id_field)
  uint16_t flags = 0;  // kFlagSecret, kFlagRefusal
  Refusal refusal = Refusal::kNone;  // with kFlagRefusal only
};

using HelloBytes = std::array<std::byte, kHelloSize>;

HelloBytes encode_hello(const Hello& hello);
// Decodes bytes; nullopt with *why set when the magic, version, flags or
// reserved bytes are wrong (e.g. "bad magic \"GET \"").
std::optional<Hello> decode_hello(std::span<const std::byte, kHelloSize> bytes, std::string* why);
// Compares a received hello with the expected one (job id, group, token,
// world size, to_rank; from_rank is checked by the caller). Returns kNone
// when they agree, otherwise the reason, with *why saying what differs, e.g.
// "job id 'a1b2' (expected 'c3d4')".
Refusal hello_mismatch(const Hello& got, const Hello& expected, std::string* why);
// The refusal an acceptor answers with: its rank, the rank the hello came
// from, the reason; no token, group or job id (they stay unknown to a
// stranger); kFlagSecret when `has_secret`.
Hello refusal_hello(int acceptor_rank, int connector_rank, Refusal why, bool has_secret);
// What a refusal means, for the connector's error, e.g. "another job id
// (BATON_JOB_ID differs)".
std::string refusal_text(Refusal why);

// The bytes both proofs cover.
auth::Transcript handshake_transcript(std::span<const std::byte, kHelloSize> hello_c,
                                      const auth::Nonce& nonce_c,
                                      std::span<const std::byte, kHelloSize> hello_a,
                                      const auth::Nonce& nonce_a);
// How to tell the user to configure the secret, for AuthenticationError texts.
std::string secret_hint();

// 64-bit FNV-1a of text.
uint64_t fnv1a64(std::string_view text);
// The job id as carried in a hello: itself when it fits in kJobIdBytes,
// otherwise "fnv1a:<16 hex digits>" of it.
std::string job_id_field(std::string_view job_id);

}  // namespace baton::transport::tcp
