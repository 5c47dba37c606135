// The cryptography of secret.hpp, from OpenSSL's libcrypto (HMAC-SHA-256,
// RAND_bytes, CRYPTO_memcmp, OPENSSL_cleanse). Without libcrypto
// (BATON_HAVE_OPENSSL undefined) nothing here can be used: Secret::from_text
// refuses every secret, and make_nonce falls back to getrandom(2), which
// only unauthenticated code calls.
#include <sys/random.h>

#include <cerrno>
#include <cstdio>

#include "auth/secret.hpp"
#include "baton/error.hpp"

#ifdef BATON_HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#endif

namespace baton::auth {

bool supported() {
#ifdef BATON_HAVE_OPENSSL
  return true;
#else
  return false;
#endif
}

Secret::~Secret() {
#ifdef BATON_HAVE_OPENSSL
  OPENSSL_cleanse(key_.data(), key_.size());
#endif
}

Proof Secret::prove(std::string_view role, std::span<const uint8_t> transcript) const {
  Proof out{};
#ifdef BATON_HAVE_OPENSSL
  std::vector<uint8_t> message(role.begin(), role.end());
  message.push_back(0);
  message.insert(message.end(), transcript.begin(), transcript.end());
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), message.data(), message.size(),
           out.data(), &length) == nullptr ||
      length != out.size()) {
    throw Error(ErrorCode::kInternal, "HMAC-SHA-256 failed in libcrypto");
  }
#else
  (void)role;
  (void)transcript;
  throw AuthenticationError("this Baton was built without OpenSSL's libcrypto");
#endif
  return out;
}

bool Secret::verify(std::string_view role, std::span<const uint8_t> transcript,
                    std::span<const uint8_t> proof) const {
  if (proof.size() != kProofBytes) return false;
  const Proof expected = prove(role, transcript);
#ifdef BATON_HAVE_OPENSSL
  return CRYPTO_memcmp(expected.data(), proof.data(), kProofBytes) == 0;
#else
  return false;
#endif
}

std::string Secret::fingerprint() const {
  static constexpr uint8_t kLabel[] = {'f', 'p'};
  const Proof p = prove("fingerprint", kLabel);
  char out[17];
  for (int i = 0; i < 8; ++i) std::snprintf(out + 2 * i, 3, "%02x", p[static_cast<size_t>(i)]);
  return std::string(out, 16);
}

Nonce make_nonce() {
  Nonce out{};
#ifdef BATON_HAVE_OPENSSL
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) == 1) return out;
#endif
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::getrandom(out.data() + got, out.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::kInternal, "no random bytes: getrandom failed");
    got += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace baton::auth
