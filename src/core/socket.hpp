// Small TCP socket helpers shared by the store and the TCP transport.
//
// Addresses are resolved with getaddrinfo and kept as SocketAddress values;
// listen_tcp binds exactly the address it is given (every interface only when
// asked with "0.0.0.0" or "::"); connect_tcp connects with a deadline; and
// send_all / recv_all move a whole buffer over a non-blocking socket before a
// deadline, retrying EINTR and short transfers. Nothing here knows any
// protocol.
//
// Thread safety: free functions on caller-owned fds; SocketAddress is a value.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/fd.hpp"

namespace baton::net {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// An IPv4 or IPv6 socket address.
class SocketAddress {
 public:
  SocketAddress() = default;
  // Copies `length` bytes of `address`; throws InvalidArgument if too long.
  SocketAddress(const sockaddr* address, socklen_t length);

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  // Numeric host only: "127.0.0.1" or "::1".
  std::string host() const;
  // "127.0.0.1:41235" or "[::1]:41235".
  std::string to_string() const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// "host:port", with brackets around an IPv6 literal.
std::string format_host_port(const std::string& host, uint16_t port);

// strerror text for an errno value, thread-safe.
std::string error_text(int error);

// Resolves host (a name or a numeric address) for TCP. Does not block longer
// than the system resolver does. Throws ConnectionError naming the host when
// it cannot be resolved, InvalidArgument when host is empty.
std::vector<SocketAddress> resolve(const std::string& host, uint16_t port);

// A listening, non-blocking, close-on-exec TCP socket bound to host:port; port
// 0 lets the kernel pick a free port (read it back with local_address). Binds
// only the given address: "127.0.0.1" listens on loopback, "0.0.0.0" or "::"
// on every interface. Does not block. Throws ConnectionError naming the port
// and "in use" when it is taken, or naming host, port and the OS error.
UniqueFd listen_tcp(const std::string& host, uint16_t port, int backlog = 1024);

// The outcome of connect_tcp: a connected socket, or the errno that stopped it
// (ETIMEDOUT when the deadline passed first, ECONNREFUSED when nobody listens).
struct ConnectResult {
  UniqueFd fd;
  int error = 0;
};

// Connects a non-blocking, close-on-exec socket with TCP_NODELAY to address,
// blocking until connected, refused or the deadline. EINTR is retried.
// Returns errors instead of throwing, so callers can choose to retry.
ConnectResult connect_tcp(const SocketAddress& address, Deadline deadline);

// The local / remote address of a connected or listening socket; throws
// ConnectionError on failure.
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);
// peer_address as text, or "<unknown peer>" when the socket is already gone.
std::string peer_name(int fd);

void set_nonblocking(int fd);  // throws ConnectionError
void set_nodelay(int fd);      // best effort

enum class IoStatus {
  kDone,      // every byte moved
  kTimedOut,  // the deadline passed first
  kClosed,    // the peer closed or reset the connection
};

// Sends every byte of data on a non-blocking socket before the deadline
// (MSG_NOSIGNAL: a closed peer is kClosed, never SIGPIPE). Blocks in poll(2);
// EINTR is retried. Throws ConnectionError for any other socket error.
IoStatus send_all(int fd, std::span<const uint8_t> data, Deadline deadline);
// Receives exactly data.size() bytes; same rules as send_all. kClosed when the
// peer closes before every byte arrived.
IoStatus recv_all(int fd, std::span<uint8_t> data, Deadline deadline);

// Milliseconds left until the deadline, clamped to [0, INT_MAX] for poll(2).
int poll_timeout_ms(Deadline deadline);

}  // namespace baton::net
