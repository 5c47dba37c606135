// The hello of a TCP transport connection; see handshake.hpp.
#include "transport/tcp/handshake.hpp"

#include <cstdio>
#include <cstring>

#include "core/little_endian.hpp"

namespace baton::transport::tcp {
namespace {

// Byte offsets (docs/wire_protocol.md).
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 4;
constexpr size_t kOffFlags = 6;  // 2 bytes: kFlagSecret, kFlagRefusal
constexpr size_t kOffToken = 8;
constexpr size_t kOffGroup = 16;
constexpr size_t kOffFrom = 24;
constexpr size_t kOffTo = 28;
constexpr size_t kOffSize = 32;
constexpr size_t kOffRefusal = 36;  // 4 bytes: Refusal with kFlagRefusal, else zero
constexpr size_t kOffJobId = 40;    // kJobIdBytes, zero padded

// Printable form of untrusted bytes for a log line.
std::string printable(const std::byte* p, size_t n) {
  std::string out = "\"";
  for (size_t i = 0; i < n; ++i) {
    const auto c = std::to_integer<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string job_id_field(std::string_view job_id) {
  if (job_id.size() <= kJobIdBytes) return std::string(job_id);
  return "fnv1a:" + hex64(fnv1a64(job_id));
}

HelloBytes encode_hello(const Hello& hello) {
  HelloBytes out{};
  std::byte* p = out.data();
  std::memcpy(p + kOffMagic, kHelloMagic.data(), kHelloMagic.size());
  put_le<uint16_t>(p + kOffVersion, kHelloVersion);
  put_le<uint16_t>(p + kOffFlags, hello.flags);
  put_le<uint32_t>(p + kOffRefusal, static_cast<uint32_t>(hello.refusal));
  put_le<uint64_t>(p + kOffToken, hello.token);
  put_le<uint64_t>(p + kOffGroup, hello.group_hash);
  put_le<int32_t>(p + kOffFrom, hello.from_rank);
  put_le<int32_t>(p + kOffTo, hello.to_rank);
  put_le<int32_t>(p + kOffSize, hello.world_size);
  const std::string job = job_id_field(hello.job_id);
  std::memcpy(p + kOffJobId, job.data(), job.size());
  return out;
}

std::optional<Hello> decode_hello(std::span<const std::byte, kHelloSize> bytes, std::string* why) {
  const std::byte* p = bytes.data();
  if (std::memcmp(p + kOffMagic, kHelloMagic.data(), kHelloMagic.size()) != 0) {
    *why = "bad magic " + printable(p + kOffMagic, 4) +
           " (expected \"BTNH\": not a Baton transport peer)";
    return std::nullopt;
  }
  const auto version = get_le<uint16_t>(p + kOffVersion);
  if (version != kHelloVersion) {
    *why = "handshake version " + std::to_string(version) + " (this build speaks version " +
           std::to_string(kHelloVersion) + ")";
    return std::nullopt;
  }
  const auto flags = get_le<uint16_t>(p + kOffFlags);
  if ((flags & ~kKnownFlags) != 0) {
    *why = "unknown handshake flags 0x" + hex64(flags).substr(12);
    return std::nullopt;
  }
  const auto refusal = get_le<uint32_t>(p + kOffRefusal);
  if ((flags & kFlagRefusal) == 0 ? refusal != 0 : (refusal == 0 || refusal > kLastRefusal)) {
    *why = "a refusal code " + std::to_string(refusal) + " that does not fit its flags";
    return std::nullopt;
  }
  Hello h;
  h.flags = flags;
  h.refusal = static_cast<Refusal>(refusal);
  h.token = get_le<uint64_t>(p + kOffToken);
  h.group_hash = get_le<uint64_t>(p + kOffGroup);
  h.from_rank = get_le<int32_t>(p + kOffFrom);
  h.to_rank = get_le<int32_t>(p + kOffTo);
  h.world_size = get_le<int32_t>(p + kOffSize);
  const char* job = reinterpret_cast<const char*>(p + kOffJobId);
  h.job_id.assign(job, strnlen(job, kJobIdBytes));
  for (const char c : h.job_id) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      *why =
          "a job id " + printable(p + kOffJobId, h.job_id.size()) + " that is not printable text";
      return std::nullopt;
    }
  }
  return h;
}

Refusal hello_mismatch(const Hello& got, const Hello& expected, std::string* why) {
  const std::string job = job_id_field(expected.job_id);
  if (got.job_id != job) {
    *why = "job id '" + got.job_id + "' (expected '" + job + "')";
    return Refusal::kJobId;
  }
  if (got.group_hash != expected.group_hash) {
    *why = "group key hash " + hex64(got.group_hash) + " (expected " + hex64(expected.group_hash) +
           ": a connection meant for another group)";
    return Refusal::kGroup;
  }
  if (got.token != expected.token) {
    *why = "group token " + hex64(got.token) +
           " (expected this group's token: a process of an earlier or other group with the same "
           "key)";
    return Refusal::kToken;
  }
  if (got.world_size != expected.world_size) {
    *why = "world size " + std::to_string(got.world_size) + " (expected " +
           std::to_string(expected.world_size) + ")";
    return Refusal::kWorldSize;
  }
  if (got.to_rank != expected.to_rank) {
    *why = "destination rank " + std::to_string(got.to_rank) + " (this is rank " +
           std::to_string(expected.to_rank) + ")";
    return Refusal::kDestination;
  }
  return Refusal::kNone;
}

Hello refusal_hello(int acceptor_rank, int connector_rank, Refusal why, bool has_secret) {
  Hello h;
  h.from_rank = acceptor_rank;
  h.to_rank = connector_rank;
  h.flags = static_cast<uint16_t>(kFlagRefusal | (has_secret ? kFlagSecret : 0));
  h.refusal = why;
  return h;
}

std::string refusal_text(Refusal why) {
  switch (why) {
    case Refusal::kNone: return "no reason";
    case Refusal::kJobId: return "another job id (BATON_JOB_ID differs)";
    case Refusal::kGroup: return "another group key (a connection meant for another group)";
    case Refusal::kToken:
      return "another group token (this rank read the token of an earlier or other group with "
             "the same key)";
    case Refusal::kWorldSize: return "another world size";
    case Refusal::kDestination: return "a hello meant for another rank";
    case Refusal::kSourceRank: return "a rank it accepts no connection from";
    case Refusal::kDuplicate: return "a rank that is already connected to it";
    case Refusal::kNoSecretHere: return "a job secret, while it has none: " + secret_hint();
    case Refusal::kSecretRequired: return "no job secret, while it requires one: " + secret_hint();
  }
  return "reason " + std::to_string(static_cast<uint32_t>(why));
}

auth::Transcript handshake_transcript(std::span<const std::byte, kHelloSize> hello_c,
                                      const auth::Nonce& nonce_c,
                                      std::span<const std::byte, kHelloSize> hello_a,
                                      const auth::Nonce& nonce_a) {
  auth::Transcript t;
  t.add(std::span<const std::byte>(hello_c)).add(std::span<const uint8_t>(nonce_c));
  t.add(std::span<const std::byte>(hello_a)).add(std::span<const uint8_t>(nonce_a));
  return t;
}

std::string secret_hint() {
  return "every rank of a job needs the same secret, or none; set BATON_SECRET or "
         "BATON_SECRET_FILE (a file only its owner can read) to the same value for every rank";
}

}  // namespace baton::transport::tcp
