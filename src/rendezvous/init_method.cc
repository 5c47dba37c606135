// Parsing of env://, tcp://host:port and file:///path URLs.
#include "rendezvous/init_method.hpp"

#include <algorithm>
#include <cctype>

#include "baton/error.hpp"
#include "rendezvous/env.hpp"

namespace baton::rendezvous {
namespace {

constexpr std::string_view kExpected = "expected env://, tcp://host:port or file:///path";

[[noreturn]] void fail(std::string_view url, const std::string& what) {
  throw InvalidArgument("init_method '" + std::string(url) + "': " + what);
}

// Applies "rank=R&world_size=N" to out.
void parse_query(std::string_view url, std::string_view query, InitMethod& out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      fail(url, "query parameter '" + std::string(item) + "' has no value (expected name=value)");
    }
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    try {
      if (name == "rank") {
        out.rank = parse_int("rank", value);
        if (*out.rank < 0) fail(url, "rank=" + std::string(value) + " is negative");
      } else if (name == "world_size") {
        out.world_size = parse_int("world_size", value);
        if (*out.world_size < 1) {
          fail(url, "world_size=" + std::string(value) + ": the world size must be at least 1");
        }
      } else {
        fail(url,
             "unknown query parameter '" + std::string(name) + "' (expected rank or world_size)");
      }
    } catch (const InvalidArgument& e) {
      const std::string_view what = e.what();
      if (what.starts_with("init_method")) throw;
      fail(url, std::string(what));
    }
  }
}

// host:port, [v6]:port.
void parse_tcp(std::string_view url, std::string_view rest, InitMethod& out) {
  if (rest.empty()) fail(url, "the host is empty (expected tcp://host:port)");
  std::string_view host;
  std::string_view after;  // ":port" or ""
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos)
      fail(url, "'[' without a closing ']' around the IPv6 address");
    host = rest.substr(1, close - 1);
    after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      fail(url, "unexpected '" + std::string(after) + "' after the IPv6 address (expected :port)");
    }
  } else {
    const size_t first = rest.find(':');
    if (first != std::string_view::npos && rest.find(':', first + 1) != std::string_view::npos) {
      fail(url, "an IPv6 address must be written in brackets: tcp://[addr]:port");
    }
    host = rest.substr(0, first);
    after = first == std::string_view::npos ? std::string_view() : rest.substr(first);
  }
  if (host.empty()) fail(url, "the host is empty (expected tcp://host:port)");
  if (after.empty()) fail(url, "the port is missing (expected tcp://host:port)");
  const std::string_view port = after.substr(1);
  if (port.empty()) fail(url, "the port is empty (expected tcp://host:port)");
  if (port.find('/') != std::string_view::npos) {
    fail(url, "unexpected path after the port (expected tcp://host:port)");
  }
  try {
    out.port = parse_port("port", port);
  } catch (const InvalidArgument& e) {
    fail(url, e.what());
  }
  out.host = std::string(host);
}

// /abs/path or localhost/abs/path.
void parse_file(std::string_view url, std::string_view rest, InitMethod& out) {
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (rest.empty()) fail(url, "the path is empty (expected file:///absolute/path)");
  if (rest.front() != '/') {
    fail(url, "the path must be absolute (expected file:///absolute/path; 'file://" +
                  std::string(rest) + "' reads '" + std::string(rest.substr(0, rest.find('/'))) +
                  "' as a host)");
  }
  if (rest.back() == '/') fail(url, "the path names a directory, not a file");
  out.path = std::string(rest);
}

}  // namespace

std::string_view scheme_prefix(Scheme scheme) {
  switch (scheme) {
    case Scheme::kEnv: return "env://";
    case Scheme::kTcp: return "tcp://";
    case Scheme::kFile: return "file://";
  }
  return "?://";
}

InitMethod parse_init_method(std::string_view url) {
  if (url.empty()) fail(url, "empty (" + std::string(kExpected) + ")");
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    fail(url, "not a URL (" + std::string(kExpected) + ")");
  }
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  InitMethod out;
  out.url = std::string(url);
  if (scheme == "env") {
    out.scheme = Scheme::kEnv;
  } else if (scheme == "tcp") {
    out.scheme = Scheme::kTcp;
  } else if (scheme == "file") {
    out.scheme = Scheme::kFile;
  } else {
    fail(url, "unknown scheme '" + scheme + "' (" + std::string(kExpected) + ")");
  }

  std::string_view rest = url.substr(sep + 3);
  const size_t q = rest.find('?');
  if (q != std::string_view::npos) {
    parse_query(url, rest.substr(q + 1), out);
    rest = rest.substr(0, q);
  }
  switch (out.scheme) {
    case Scheme::kEnv:
      if (!rest.empty()) {
        fail(url, "env:// takes no address ('" + std::string(rest) +
                      "'); it reads MASTER_ADDR and MASTER_PORT (use tcp://host:port to name one)");
      }
      break;
    case Scheme::kTcp: parse_tcp(url, rest, out); break;
    case Scheme::kFile: parse_file(url, rest, out); break;
  }
  return out;
}

}  // namespace baton::rendezvous
