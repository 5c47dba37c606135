// Interface listing and the BATON_SOCKET_IFNAME choice; see net_interface.hpp.
#include "core/net_interface.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/fd.hpp"

namespace baton::net {
namespace {

constexpr std::string_view kVariable = "BATON_SOCKET_IFNAME";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool name_matches(std::string_view name, std::string_view pattern, bool exact) {
  return exact ? name == pattern : name.substr(0, pattern.size()) == pattern;
}

bool is_link_local_v6(const SocketAddress& address) {
  if (address.family() != AF_INET6) return false;
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.get());
  return IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr);
}

bool usable(const Interface& i) {
  const int family = i.address.family();
  return i.up && (family == AF_INET || family == AF_INET6) && !is_link_local_v6(i.address);
}

bool same_address(const SocketAddress& a, const SocketAddress& b) {
  return a.family() == b.family() && a.host() == b.host();
}

}  // namespace

bool InterfaceFilter::listed(std::string_view name) const {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return name_matches(name, n, exact); });
}

InterfaceFilter parse_interface_filter(std::string_view text, std::string_view variable) {
  InterfaceFilter filter;
  filter.text = std::string(text);
  std::string_view rest = trim(text);
  if (rest.empty()) return filter;
  if (rest.front() == '^') {
    filter.exclude = true;
    rest.remove_prefix(1);
  }
  if (!rest.empty() && rest.front() == '=') {
    filter.exact = true;
    rest.remove_prefix(1);
  }
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (!item.empty()) filter.names.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (filter.names.empty()) {
    throw InvalidArgument(std::string(variable) + "='" + filter.text +
                          "' names no interface (expected e.g. eth0, eth,ib (prefixes), "
                          "=eth0 (exact) or ^docker,lo (exclusions))");
  }
  return filter;
}

std::vector<Interface> select_interfaces(const InterfaceFilter& filter,
                                         std::span<const Interface> available) {
  std::vector<Interface> out;
  const auto take = [&](auto&& wanted) {
    for (int family : {AF_INET, AF_INET6}) {
      for (const Interface& i : available) {
        if (!usable(i) || i.address.family() != family || !wanted(i)) continue;
        const bool seen = std::any_of(out.begin(), out.end(), [&](const Interface& o) {
          return o.name == i.name && same_address(o.address, i.address);
        });
        if (!seen) out.push_back(i);
      }
    }
  };
  if (!filter.exclude && !filter.names.empty()) {
    for (const std::string& name : filter.names) {
      take([&](const Interface& i) { return name_matches(i.name, name, filter.exact); });
    }
    return out;
  }
  // Exclusions, or no filter: every interface not excluded, loopback last.
  const auto kept = [&](const Interface& i) { return !filter.exclude || !filter.listed(i.name); };
  take([&](const Interface& i) { return kept(i) && !i.loopback; });
  take([&](const Interface& i) { return kept(i) && i.loopback; });
  return out;
}

std::string describe_interfaces(std::span<const Interface> available) {
  std::vector<std::string> names;
  for (const Interface& i : available) {
    if (std::find(names.begin(), names.end(), i.name) == names.end()) names.push_back(i.name);
  }
  std::string out;
  for (const std::string& name : names) {
    std::string item = name;
    bool up = false;
    std::string addresses;
    for (const Interface& i : available) {
      if (i.name != name) continue;
      up = up || i.up;
      const int family = i.address.family();
      if (family == AF_INET || family == AF_INET6) addresses += " " + i.address.host();
    }
    if (!up) item += " (down)";
    item += addresses.empty() ? " (no address)" : addresses;
    out += (out.empty() ? "" : ", ") + item;
  }
  return out.empty() ? "no interfaces at all" : out;
}

Interface choose_interface(const InterfaceFilter& filter, std::span<const Interface> available,
                           std::string_view variable) {
  const std::vector<Interface> selected = select_interfaces(filter, available);
  if (!selected.empty()) return selected.front();
  const std::string has = "; this host has: " + describe_interfaces(available);
  const std::string given = std::string(variable) + "='" + filter.text + "'";
  if (filter.names.empty()) {
    throw InvalidArgument("no network interface is up with an IPv4 or IPv6 address" + has);
  }
  if (filter.exclude) {
    throw InvalidArgument(
        given + " excludes every interface that is up with an IPv4 or IPv6 address" + has);
  }
  throw InvalidArgument(
      given + " selects no interface that is up with an IPv4 or IPv6 address (" +
      (filter.exact ? std::string("exact names")
                    : "names are prefixes; write =" + filter.names.front() + " for an exact name") +
      ")" + has);
}

std::vector<Interface> list_interfaces() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    throw ConnectionError("cannot list the network interfaces (getifaddrs): " + error_text(errno));
  }
  std::vector<Interface> out;
  std::vector<Interface> bare;  // interfaces seen without an IP address so far
  for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr) continue;
    Interface i;
    i.name = a->ifa_name;
    i.up = (a->ifa_flags & IFF_UP) != 0;
    i.loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
    const int family = a->ifa_addr != nullptr ? a->ifa_addr->sa_family : AF_UNSPEC;
    if (family == AF_INET || family == AF_INET6) {
      const socklen_t length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      i.address = SocketAddress(a->ifa_addr, length);
      out.push_back(std::move(i));
    } else {
      bare.push_back(std::move(i));
    }
  }
  ::freeifaddrs(list);
  for (Interface& i : bare) {
    const bool has_address =
        std::any_of(out.begin(), out.end(), [&](const Interface& o) { return o.name == i.name; });
    if (!has_address) out.push_back(std::move(i));
  }
  return out;
}

std::optional<SocketAddress> address_from_ifname_env() {
  const InterfaceFilter filter = parse_interface_filter(config::get_string(kVariable));
  if (filter.names.empty()) return std::nullopt;
  const std::vector<Interface> available = list_interfaces();
  return choose_interface(filter, available).address;
}

SocketAddress default_interface_address() {
  if (std::optional<SocketAddress> chosen = address_from_ifname_env()) return *chosen;
  const std::vector<Interface> available = list_interfaces();
  return choose_interface(InterfaceFilter{}, available).address;
}

std::optional<SocketAddress> local_address_towards(const SocketAddress& peer) {
  sockaddr_storage target{};
  std::memcpy(&target, peer.get(), peer.length());
  // A UDP connect needs a port; which one does not matter, nothing is sent.
  if (peer.port() == 0) {
    if (target.ss_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&target)->sin_port = htons(9);
    } else {
      reinterpret_cast<sockaddr_in6*>(&target)->sin6_port = htons(9);
    }
  }
  UniqueFd probe(::socket(peer.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!probe ||
      ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&target), peer.length()) != 0) {
    return std::nullopt;
  }
  return local_address(probe.get());
}

bool is_address_of(const SocketAddress& address, std::span<const Interface> interfaces) {
  return std::any_of(interfaces.begin(), interfaces.end(),
                     [&](const Interface& i) { return same_address(i.address, address); });
}

}  // namespace baton::net
