// Fuzzes the init_method URL parser (src/rendezvous/init_method.hpp) and the
// integer and port readers it shares with env:// (src/rendezvous/env.hpp):
// text that comes from a command line, a script or the environment.
//
// Input: the URL's text. A URL that parses is written back in its canonical
// form (scheme, host in brackets where needed, port, path, query), which must
// parse to the same fields.
#include <charconv>

#include "fuzz_support.hpp"
#include "rendezvous/env.hpp"
#include "rendezvous/init_method.hpp"

namespace {

namespace rv = baton::rendezvous;

std::string canonical(const rv::InitMethod& m) {
  std::string url(rv::scheme_prefix(m.scheme));
  if (m.scheme == rv::Scheme::kTcp) {
    const bool brackets = m.host.find(':') != std::string::npos || m.host.front() == '[';
    url += brackets ? "[" + m.host + "]" : m.host;
    url += ":" + std::to_string(m.port);
  } else if (m.scheme == rv::Scheme::kFile) {
    url += m.path;
  }
  std::string query;
  if (m.rank) query += "rank=" + std::to_string(*m.rank);
  if (m.world_size)
    query += (query.empty() ? "" : "&") + ("world_size=" + std::to_string(*m.world_size));
  if (!query.empty()) url += "?" + query;
  return url;
}

void url(std::string_view text) {
  const rv::InitMethod m = rv::parse_init_method(text);
  BATON_FUZZ_CHECK(m.url == text, "url field");
  switch (m.scheme) {
    case rv::Scheme::kEnv:
      BATON_FUZZ_CHECK(m.host.empty() && m.path.empty(), "env:// fields");
      break;
    case rv::Scheme::kTcp:
      BATON_FUZZ_CHECK(!m.host.empty() && m.port >= 1, "tcp:// without host or port");
      break;
    case rv::Scheme::kFile:
      BATON_FUZZ_CHECK(m.path.starts_with('/') && !m.path.ends_with('/'), "file:// path " + m.path);
      break;
  }
  if (m.rank) BATON_FUZZ_CHECK(*m.rank >= 0, "negative rank");
  if (m.world_size) BATON_FUZZ_CHECK(*m.world_size >= 1, "world size below 1");

  const std::string again = canonical(m);
  rv::InitMethod r;
  BATON_FUZZ_CHECK(
      baton::fuzz::graceful([&] { r = rv::parse_init_method(again); }),
      "'" + std::string(text) + "' parses but its canonical form '" + again + "' does not");
  BATON_FUZZ_CHECK(r.scheme == m.scheme && r.host == m.host && r.port == m.port &&
                       r.path == m.path && r.rank == m.rank && r.world_size == m.world_size,
                   "'" + std::string(text) + "' and its canonical form '" + again + "' differ");
}

void number(std::string_view text) {
  int value = 0;
  if (!baton::fuzz::graceful([&] { value = rv::parse_int("RANK", text); })) return;
  // Accepted text is the decimal int to_string writes, up to blanks around
  // it, leading zeros and a "-" on zero.
  const std::string digits = std::to_string(value);
  int direct = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), direct);
  BATON_FUZZ_CHECK(direct == value, "to_string round trip");
  BATON_FUZZ_CHECK(rv::parse_int("RANK", " " + digits + "\t") == value, "blanks around " + digits);
  uint16_t port = 0;
  if (baton::fuzz::graceful([&] { port = rv::parse_port("MASTER_PORT", text); })) {
    BATON_FUZZ_CHECK(value >= 1 && value <= 65535 && port == value, "port " + digits);
  } else {
    BATON_FUZZ_CHECK(value < 1 || value > 65535, "port " + digits + " refused");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  baton::fuzz::graceful([&] { url(text); });
  // The query values and the port go through parse_int; feed it the whole
  // text too, and the part after the last '=' or ':'.
  baton::fuzz::graceful([&] { number(text); });
  const size_t cut = text.find_last_of("=:");
  if (cut != std::string_view::npos) baton::fuzz::graceful([&] { number(text.substr(cut + 1)); });
  return 0;
}
