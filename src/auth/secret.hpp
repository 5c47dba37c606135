// The job secret, and the challenge-response by which a connection proves it
// (docs/security.md).
//
// Every process of one job holds the same secret. Both ends of a store or
// transport connection send a fresh random nonce and answer the other's with
// HMAC-SHA-256(secret, role || transcript), where the transcript holds both
// nonces and what the protocol binds to them; the secret itself never
// crosses the wire. The role ("store-server", "store-client", ...) differs
// per direction, so a proof cannot be reflected back at its sender.
//
// Where a secret comes from (Secret::resolve): text given by the program
// (InitOptions::secret, TcpStoreOptions::secret), else BATON_SECRET, else the
// file BATON_SECRET_FILE names. A secret shorter than kMinSecretBytes, a file
// that is missing, empty, not a regular file or open to its group or others,
// is an AuthenticationError: a misconfigured secret never silently falls back
// to no authentication. The HMAC comes from OpenSSL's libcrypto; a build
// without it (BATON_WITH_OPENSSL=OFF) refuses every configured secret.
//
// Thread safety: a Secret is immutable; every function may be called from
// any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton::auth {

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kProofBytes = 32;
inline constexpr size_t kMinSecretBytes = 16;

using Nonce = std::array<uint8_t, kNonceBytes>;
using Proof = std::array<uint8_t, kProofBytes>;

// Whether this build can authenticate (it was linked with libcrypto).
bool supported();

class Secret {
 public:
  // `text` as the secret; `source` names where it came from in errors.
  static std::shared_ptr<const Secret> from_text(std::string_view text, std::string_view source);
  // The contents of the file at `path` (read_secret_file).
  static std::shared_ptr<const Secret> from_file(const std::string& path);
  // `given` when not empty, else BATON_SECRET, else BATON_SECRET_FILE;
  // nullptr when none is set.
  static std::shared_ptr<const Secret> resolve(std::string_view given = {});

  ~Secret();
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // HMAC-SHA-256(secret, role || 0 || transcript).
  Proof prove(std::string_view role, std::span<const uint8_t> transcript) const;
  // Whether `proof` is prove(role, transcript), compared in constant time.
  bool verify(std::string_view role, std::span<const uint8_t> transcript,
              std::span<const uint8_t> proof) const;
  // 16 hex digits that tell two secrets apart in logs without revealing
  // either (a proof over a fixed label).
  std::string fingerprint() const;
  // Where it came from ("BATON_SECRET", "file /path", "InitOptions::secret").
  const std::string& source() const { return source_; }

 private:
  Secret(std::vector<uint8_t> key, std::string source);

  std::vector<uint8_t> key_;
  std::string source_;
};

// The text of a secret file, less one trailing newline. AuthenticationError
// when it is missing, a link, not a regular file, not this user's, open to
// its group or others (mode & 077), empty or over 4 KiB.
std::string read_secret_file(const std::string& path);

// 32 bytes from the system's cryptographic random source.
Nonce make_nonce();
// A new secret: 32 random bytes as 64 hex digits (what baton-run hands its ranks).
std::string generate_secret_text();

// A transcript: the bytes a proof covers, appended in protocol order.
class Transcript {
 public:
  Transcript& add(std::span<const uint8_t> bytes);
  Transcript& add(std::span<const std::byte> bytes);
  Transcript& add(std::string_view text);
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace baton::auth
