// Where a job secret comes from and how it is checked; see secret.hpp.
#include "auth/secret.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/fd.hpp"
#include "core/socket.hpp"

namespace baton::auth {
namespace {

// A secret file is a short line of text; a larger file is a mistake.
constexpr size_t kMaxSecretFileBytes = 4096;

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::shared_ptr<const Secret> Secret::from_text(std::string_view text, std::string_view source) {
  if (!supported()) {
    throw AuthenticationError(
        "a job secret is set (" + std::string(source) +
        ") but this Baton was built without OpenSSL's libcrypto, so it cannot authenticate; "
        "rebuild with libssl-dev installed (BATON_WITH_OPENSSL), or unset the secret");
  }
  if (text.size() < kMinSecretBytes) {
    throw AuthenticationError("the job secret from " + std::string(source) + " has " +
                              std::to_string(text.size()) + " bytes, at least " +
                              std::to_string(kMinSecretBytes) +
                              " are needed (baton-run makes a 64-digit one)");
  }
  return std::shared_ptr<const Secret>(
      new Secret(std::vector<uint8_t>(text.begin(), text.end()), std::string(source)));
}

std::string read_secret_file(const std::string& path) {
  const std::string where = "secret file " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    throw AuthenticationError("cannot open the " + where + ": " + net::error_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw AuthenticationError("cannot stat the " + where + ": " + net::error_text(errno));
  }
  if (!S_ISREG(st.st_mode)) throw AuthenticationError("the " + where + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    throw AuthenticationError("the " + where + " has mode " + mode_text(st.st_mode) +
                              ": its group or others may read or change it; chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid()) {
    throw AuthenticationError("the " + where + " belongs to uid " + std::to_string(st.st_uid) +
                              ", not to this process's uid " + std::to_string(::geteuid()));
  }
  std::string text(kMaxSecretFileBytes + 1, '\0');
  size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw AuthenticationError("cannot read the " + where + ": " + net::error_text(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == text.size()) {
      throw AuthenticationError("the " + where + " is larger than " +
                                std::to_string(kMaxSecretFileBytes) + " bytes");
    }
  }
  text.resize(got);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) throw AuthenticationError("the " + where + " is empty");
  return text;
}

std::shared_ptr<const Secret> Secret::from_file(const std::string& path) {
  std::string text = read_secret_file(path);
  auto secret = from_text(text, "file " + path);
  std::fill(text.begin(), text.end(), '\0');
  return secret;
}

std::shared_ptr<const Secret> Secret::resolve(std::string_view given) {
  if (!given.empty()) return from_text(given, "the program's options");
  if (const std::optional<std::string> text = config::env("BATON_SECRET"); text && !text->empty()) {
    return from_text(*text, "BATON_SECRET");
  }
  if (const std::optional<std::string> path = config::env("BATON_SECRET_FILE");
      path && !path->empty()) {
    return from_file(*path);
  }
  return nullptr;
}

Secret::Secret(std::vector<uint8_t> key, std::string source)
    : key_(std::move(key)), source_(std::move(source)) {}

std::string generate_secret_text() {
  const Nonce bytes = make_nonce();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Transcript& Transcript::add(std::span<const uint8_t> bytes) {
  // Each part is preceded by its length, so parts cannot shift into each other.
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<uint8_t>(n >> (8 * i)));
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  return *this;
}

Transcript& Transcript::add(std::span<const std::byte> bytes) {
  return add(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Transcript& Transcript::add(std::string_view text) {
  return add(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace baton::auth
