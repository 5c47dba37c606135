// The job secret: where it comes from, what is refused, and that its proofs
// are HMAC-SHA-256 (a known answer computed by Python's hmac module).
#include "auth/secret.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "baton/error.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::auth {
namespace {

using testing::contains;
using testing::message_of;
using testing::ScopedEnv;

std::string hex(std::span<const uint8_t> bytes) {
  std::string out;
  char buf[3];
  for (const uint8_t b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

class SecretFile {
 public:
  SecretFile(const std::string& text, mode_t mode) {
    char name[] = "/tmp/baton-secret-XXXXXX";
    const int fd = ::mkstemp(name);
    path_ = name;
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::fchmod(fd, mode);
    ::close(fd);
  }
  ~SecretFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Secret, ProofIsHmacSha256OfRoleAndTranscript) {
  if (!supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  const auto secret = Secret::from_text("0123456789abcdef", "test");
  Transcript t;
  t.add(std::string_view("nonce-a")).add(std::string_view("nonce-b"));
  // hmac.new(b'0123456789abcdef', b'store-server\0' + len-prefixed parts, sha256)
  EXPECT_EQ(hex(secret->prove("store-server", t.bytes())),
            "4ec757183c044a28c8c52bf779af92ac145b662be4995bc2345d59d00fbd33d6");
  EXPECT_EQ(secret->fingerprint(), "64e83f439ea71b12");
}

TEST(Secret, VerifyAcceptsOnlyTheSameSecretRoleAndTranscript) {
  if (!supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  const auto a = Secret::from_text("a secret of the job", "test");
  const auto b = Secret::from_text("a secret of the jog", "test");
  Transcript t;
  const Nonce n1 = make_nonce();
  const Nonce n2 = make_nonce();
  t.add(n1).add(n2);
  const Proof p = a->prove("store-client", t.bytes());
  EXPECT_TRUE(a->verify("store-client", t.bytes(), p));
  EXPECT_FALSE(b->verify("store-client", t.bytes(), p));  // another secret
  EXPECT_FALSE(a->verify("store-server", t.bytes(), p));  // reflected to the other role
  Transcript other;
  other.add(n2).add(n1);
  EXPECT_FALSE(a->verify("store-client", other.bytes(), p));  // another transcript
  Proof flipped = p;
  flipped[31] ^= 1;
  EXPECT_FALSE(a->verify("store-client", t.bytes(), flipped));
  EXPECT_FALSE(a->verify("store-client", t.bytes(), std::span(p.data(), 16)));  // short
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

TEST(Secret, TranscriptPartsCannotShiftIntoEachOther) {
  Transcript x;
  x.add(std::string_view("ab")).add(std::string_view("c"));
  Transcript y;
  y.add(std::string_view("a")).add(std::string_view("bc"));
  EXPECT_NE(std::vector<uint8_t>(x.bytes().begin(), x.bytes().end()),
            std::vector<uint8_t>(y.bytes().begin(), y.bytes().end()));
}

TEST(Secret, NoncesAndGeneratedSecretsAreFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(hex(make_nonce()));
  EXPECT_EQ(seen.size(), 100u);
  const std::string s = generate_secret_text();
  EXPECT_EQ(s.size(), 64u);
  EXPECT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(s, generate_secret_text());
}

TEST(Secret, ShortSecretIsRefused) {
  if (!supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  const std::string msg =
      message_of<AuthenticationError>([] { Secret::from_text("short", "BATON_SECRET"); });
  EXPECT_TRUE(contains(msg, "BATON_SECRET")) << msg;
  EXPECT_TRUE(contains(msg, "5 bytes, at least 16")) << msg;
}

TEST(Secret, ResolveOrder) {
  if (!supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  ScopedEnv env;
  env.unset("BATON_SECRET");
  env.unset("BATON_SECRET_FILE");
  EXPECT_EQ(Secret::resolve(), nullptr);
  const SecretFile file("from-the-file-0123456789\n", 0600);
  env.set("BATON_SECRET_FILE", file.path());
  const auto from_file = Secret::resolve();
  ASSERT_NE(from_file, nullptr);
  EXPECT_EQ(from_file->source(), "file " + file.path());
  // The trailing newline is not part of the secret.
  EXPECT_EQ(from_file->fingerprint(),
            Secret::from_text("from-the-file-0123456789", "x")->fingerprint());
  env.set("BATON_SECRET", "from-the-variable-0123");
  EXPECT_EQ(Secret::resolve()->source(), "BATON_SECRET");
  EXPECT_EQ(Secret::resolve("given-by-the-program-01")->source(), "the program's options");
}

TEST(Secret, BadFilesAreErrorsNeverAFallback) {
  if (!supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  {
    const SecretFile open_to_all("a-long-enough-secret-text", 0644);
    const std::string msg =
        message_of<AuthenticationError>([&] { Secret::from_file(open_to_all.path()); });
    EXPECT_TRUE(contains(msg, "mode 0644")) << msg;
    EXPECT_TRUE(contains(msg, "chmod 600")) << msg;
  }
  {
    const SecretFile empty("\n", 0600);
    const std::string msg =
        message_of<AuthenticationError>([&] { Secret::from_file(empty.path()); });
    EXPECT_TRUE(contains(msg, "is empty")) << msg;
  }
  {
    const std::string msg =
        message_of<AuthenticationError>([] { Secret::from_file("/nonexistent/baton-secret"); });
    EXPECT_TRUE(contains(msg, "cannot open the secret file /nonexistent/baton-secret")) << msg;
  }
  {
    const SecretFile target("a-long-enough-secret-text", 0600);
    const std::string link = target.path() + ".link";
    ASSERT_EQ(::symlink(target.path().c_str(), link.c_str()), 0);
    const std::string msg = message_of<AuthenticationError>([&] { Secret::from_file(link); });
    std::filesystem::remove(link);
    EXPECT_TRUE(contains(msg, "cannot open")) << msg;  // O_NOFOLLOW: a link is not followed
  }
  {
    ScopedEnv env("BATON_SECRET_FILE", "/nonexistent/baton-secret");
    env.unset("BATON_SECRET");
    EXPECT_THROW(Secret::resolve(), AuthenticationError);
  }
}

}  // namespace
}  // namespace baton::auth
