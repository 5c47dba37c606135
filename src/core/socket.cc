// TCP socket helpers; see socket.hpp.
#include "core/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "baton/error.hpp"

namespace baton::net {

SocketAddress::SocketAddress(const sockaddr* address, socklen_t length) {
  if (length > sizeof(storage_)) {
    throw InvalidArgument("socket address of " + std::to_string(length) +
                          " bytes is longer than sockaddr_storage");
  }
  std::memcpy(&storage_, address, length);
  length_ = length;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof(text));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof(text));
  } else {
    return "<address family " + std::to_string(family()) + ">";
  }
  return text;
}

std::string SocketAddress::to_string() const {
  return format_host_port(host(), port());
}

std::string format_host_port(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string error_text(int error) {
  char buffer[256] = {};
  // GNU strerror_r returns the message, which may or may not be `buffer`.
  const char* text = strerror_r(error, buffer, sizeof(buffer));
  return text;
}

std::vector<SocketAddress> resolve(const std::string& host, uint16_t port) {
  if (host.empty()) throw InvalidArgument("empty host name: expected a host name or an IP address");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  // Accept "[::1]" as well as "::1".
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(name.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    const std::string why = rc == EAI_SYSTEM ? error_text(errno) : gai_strerror(rc);
    throw ConnectionError("cannot resolve host '" + host + "': " + why);
  }
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
      out.emplace_back(ai->ai_addr, ai->ai_addrlen);
  }
  freeaddrinfo(list);
  if (out.empty()) throw ConnectionError("host '" + host + "' has no IPv4 or IPv6 address");
  return out;
}

UniqueFd listen_tcp(const std::string& host, uint16_t port, int backlog) {
  const std::vector<SocketAddress> addresses = resolve(host, port);
  int last_error = 0;
  bool in_use = false;
  for (const SocketAddress& address : addresses) {
    UniqueFd fd(
        ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd) {
      last_error = errno;
      continue;
    }
    // SO_REUSEADDR lets a restarted server take a port whose old connections
    // linger in TIME_WAIT; on Linux it never lets two listeners share a port.
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd.get(), address.get(), address.length()) != 0 ||
        ::listen(fd.get(), backlog) != 0) {
      last_error = errno;
      in_use = in_use || last_error == EADDRINUSE;
      continue;
    }
    return fd;
  }
  const std::string where = format_host_port(host, port);
  if (in_use) {
    throw ConnectionError(
        "cannot listen on " + where + ": port " + std::to_string(port) +
        " is in use (another server holds it; choose another port, or port 0 for a free one)");
  }
  throw ConnectionError("cannot listen on " + where + ": " + error_text(last_error));
}

int poll_timeout_ms(Deadline deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

namespace {

// Waits for `events` on fd until the deadline. Returns the revents, or 0 on
// timeout. EINTR is retried with the time that is left.
short wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (rc > 0) return p.revents;
    if (rc == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;  // poll rounds to milliseconds; go round until the deadline really passed
    }
    if (errno != EINTR) throw ConnectionError("poll failed: " + error_text(errno));
  }
}

bool is_closed_error(int error) {
  return error == ECONNRESET || error == EPIPE || error == ENOTCONN;
}

}  // namespace

ConnectResult connect_tcp(const SocketAddress& address, Deadline deadline) {
  ConnectResult result;
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) {
    result.error = errno;
    return result;
  }
  if (::connect(fd.get(), address.get(), address.length()) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      result.error = errno;
      return result;
    }
    // Wait for the handshake to finish, then read its outcome from SO_ERROR.
    if (wait_for(fd.get(), POLLOUT, deadline) == 0) {
      result.error = ETIMEDOUT;
      return result;
    }
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) {
      result.error = error;
      return result;
    }
  }
  set_nodelay(fd.get());
  result.fd = std::move(fd);
  return result;
}

SocketAddress local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    throw ConnectionError("getsockname failed: " + error_text(errno));
  }
  return SocketAddress(reinterpret_cast<const sockaddr*>(&storage), length);
}

SocketAddress peer_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    throw ConnectionError("getpeername failed: " + error_text(errno));
  }
  return SocketAddress(reinterpret_cast<const sockaddr*>(&storage), length);
}

std::string peer_name(int fd) {
  try {
    return peer_address(fd).to_string();
  } catch (const ConnectionError&) {
    return "<unknown peer>";
  }
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw ConnectionError("cannot make socket non-blocking: " + error_text(errno));
  }
}

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

IoStatus send_all(int fd, std::span<const uint8_t> data, Deadline deadline) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (is_closed_error(errno)) return IoStatus::kClosed;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      throw ConnectionError("send failed: " + error_text(errno));
    const short revents = wait_for(fd, POLLOUT, deadline);
    if (revents == 0) return IoStatus::kTimedOut;
    // POLLERR/POLLHUP: the next send reports what happened.
  }
  return IoStatus::kDone;
}

IoStatus recv_all(int fd, std::span<uint8_t> data, Deadline deadline) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::recv(fd, data.data() + done, data.size() - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return IoStatus::kClosed;
    if (errno == EINTR) continue;
    if (is_closed_error(errno)) return IoStatus::kClosed;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      throw ConnectionError("recv failed: " + error_text(errno));
    const short revents = wait_for(fd, POLLIN, deadline);
    if (revents == 0) return IoStatus::kTimedOut;
  }
  return IoStatus::kDone;
}

}  // namespace baton::net
