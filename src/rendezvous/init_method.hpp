// InitMethod: the parsed form of an init_method URL.
//
// Three forms, as torch.distributed:
//   env://                 store address from MASTER_ADDR / MASTER_PORT
//   tcp://host:port        host is an IPv4 address, a name, or [IPv6]
//   file:///abs/path       a FileStore at that path (file://localhost/abs/path too)
// Each may end in a query "?rank=R&world_size=N" (torch's form); those values
// count as passed explicitly. The scheme is case-insensitive; nothing is
// percent-decoded.
//
// Thread safety: pure functions and a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::rendezvous {

enum class Scheme { kEnv, kTcp, kFile };

struct InitMethod {
  Scheme scheme = Scheme::kEnv;
  std::string url;                // as given
  std::string host;               // tcp: the host without brackets ("::1", "10.0.0.1", "node7")
  uint16_t port = 0;              // tcp: 1..65535
  std::string path;               // file: absolute
  std::optional<int> rank;        // from "?rank="
  std::optional<int> world_size;  // from "?world_size="
};

// "env://", "tcp://" or "file://".
std::string_view scheme_prefix(Scheme scheme);

// Parses url. Does not block or touch the network. Throws InvalidArgument
// naming the URL and what is wrong: not a URL, an unknown scheme, a missing,
// empty, non-numeric or out-of-range port, an empty host, an IPv6 address
// without brackets, a relative, empty or directory path, an unknown or
// malformed query parameter.
InitMethod parse_init_method(std::string_view url);

}  // namespace baton::rendezvous
