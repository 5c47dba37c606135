// Resolution with a deadline and the local-address test.
#include "rendezvous/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/describe.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/net_interface.hpp"
#include "rendezvous/join.hpp"

namespace baton::rendezvous {
namespace {

struct Lookup {
  int rc = 0;
  int error = 0;  // errno for EAI_SYSTEM
  std::vector<net::SocketAddress> addresses;
};

Lookup lookup(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  Lookup out;
  out.rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  out.error = errno;
  if (out.rc != 0) return out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.addresses.emplace_back(ai->ai_addr, ai->ai_addrlen);
    }
  }
  ::freeaddrinfo(list);
  return out;
}

// One lookup on a helper thread; nullopt when the deadline passes first (the
// thread then finishes on its own and its result is dropped).
std::optional<Lookup> lookup_before(const std::string& host, uint16_t port,
                                    std::chrono::steady_clock::time_point deadline) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<Lookup> result;  // GUARDED_BY(mutex)
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, host, port] {
    Lookup result = lookup(host, port);
    std::lock_guard lock(shared->mutex);
    shared->result = std::move(result);
    shared->done.notify_all();
  }).detach();
  std::unique_lock lock(shared->mutex);
  shared->done.wait_until(lock, deadline, [&] { return shared->result.has_value(); });
  return shared->result;
}

bool is_numeric(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

std::vector<net::SocketAddress> resolve_before(const std::string& host, uint16_t port,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::string_view what) {
  if (host.empty()) throw InvalidArgument(std::string(what) + ": the host is empty");
  const auto start = std::chrono::steady_clock::now();
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    const std::optional<Lookup> result = is_numeric(host)
                                             ? std::optional<Lookup>(lookup(host, port))
                                             : lookup_before(host, port, deadline);
    if (!result) {
      throw ConnectionError("cannot resolve " + std::string(what) + " within " +
                            describe_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline - start)) +
                            ": the resolver did not answer");
    }
    if (result->rc == 0) {
      if (result->addresses.empty()) {
        throw ConnectionError("cannot resolve " + std::string(what) +
                              ": it has no IPv4 or IPv6 address");
      }
      return result->addresses;
    }
    const std::string why =
        result->rc == EAI_SYSTEM ? net::error_text(result->error) : ::gai_strerror(result->rc);
    if (result->rc != EAI_AGAIN || std::chrono::steady_clock::now() + backoff >= deadline) {
      throw ConnectionError("cannot resolve " + std::string(what) + ": " + why);
    }
    std::this_thread::sleep_for(backoff);  // a temporary resolver failure: try again
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

bool is_local_address(const net::SocketAddress& address) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) return false;
  sockaddr_storage copy{};
  std::memcpy(&copy, address.get(), address.length());
  if (copy.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&copy)->sin_port = 0;
  } else {
    reinterpret_cast<sockaddr_in6*>(&copy)->sin6_port = 0;
  }
  return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&copy), address.length()) == 0;
}

std::optional<net::SocketAddress> choose_served_address(
    const std::vector<net::SocketAddress>& addresses) {
  std::vector<net::SocketAddress> local;
  std::copy_if(addresses.begin(), addresses.end(), std::back_inserter(local), is_local_address);
  if (local.empty()) return std::nullopt;
  const net::InterfaceFilter filter =
      net::parse_interface_filter(config::get_string("BATON_SOCKET_IFNAME"));
  if (filter.names.empty()) return local.front();
  const std::vector<net::Interface> interfaces = net::list_interfaces();
  const std::vector<net::Interface> selected = net::select_interfaces(filter, interfaces);
  for (const net::SocketAddress& a : local) {
    if (net::is_address_of(a, selected)) return a;
  }
  // Legitimate (the store on one network, the transports on another), but
  // worth a line when a job cannot connect.
  BATON_LOG_INFO(log::Subsys::kRendezvous)
      << "the store is served at " << local.front().host()
      << ", an address of no interface BATON_SOCKET_IFNAME='" << filter.text
      << "' selects; the transports use those interfaces (this host has: "
      << net::describe_interfaces(interfaces) << ")";
  return local.front();
}

std::string publish_host(const std::optional<net::SocketAddress>& store) {
  if (const std::optional<net::SocketAddress> chosen = net::address_from_ifname_env()) {
    return chosen->host();
  }
  if (!store) return net::default_interface_address().host();
  const std::optional<net::SocketAddress> local = net::local_address_towards(*store);
  if (!local) {
    BATON_LOG_WARN(log::Subsys::kRendezvous)
        << "no route to the store at " << store->host() << " (" << net::error_text(errno)
        << "); publishing the first interface's address instead";
    return net::default_interface_address().host();
  }
  // A store served on every interface ("0.0.0.0") routes through loopback.
  if (store->host() == "0.0.0.0" || store->host() == "::") {
    return net::default_interface_address().host();
  }
  return local->host();
}

}  // namespace baton::rendezvous
