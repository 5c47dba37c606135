// Network interfaces: which local address a rank binds and publishes.
//
// BATON_SOCKET_IFNAME names the interfaces Baton may use, with the syntax of
// NCCL_SOCKET_IFNAME (GLOO_SOCKET_IFNAME takes one exact name, which is the
// `=` form here):
//   eth,ib       a comma-separated list of prefixes: eth0, eth1, ib0 all match;
//                earlier names are preferred ("ib,eth": an ib* address first)
//   =eth0        exact names ("=eth0,eth2"): eth0 matches, eth01 does not
//   ^docker,lo   exclusions by prefix: any interface but docker* and lo*
//   ^=eth0       exclusions by exact name
// Whitespace around names is ignored; an empty value is the same as unset.
// Only interfaces that are up with an IPv4 or IPv6 address count (IPv6
// link-local addresses are skipped: peers cannot reach them without a
// scope). For each name, IPv4 addresses come before IPv6 ones; otherwise
// getifaddrs' order holds. An exclusion list, like no list at all, picks
// loopback only when nothing else is left.
//
// select_interfaces and choose_interface are pure (tests feed them a made-up
// list); list_interfaces asks the kernel, and the *_from_env functions join
// the two.
//
// Thread safety: free functions and values; safe from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/socket.hpp"

namespace baton::net {

// One address of one interface. An interface with no IPv4/IPv6 address is
// listed once with an empty address (family() == AF_UNSPEC), for messages.
struct Interface {
  std::string name;       // "eth0"
  SocketAddress address;  // port 0
  bool up = false;        // IFF_UP
  bool loopback = false;  // IFF_LOOPBACK
};

// A parsed BATON_SOCKET_IFNAME value.
struct InterfaceFilter {
  bool exclude = false;            // "^..."
  bool exact = false;              // "=..." / "^=..."
  std::vector<std::string> names;  // empty and !exclude: no filter was given
  std::string text;                // the value as given, for messages

  // Whether `name` is one of names (exact) or starts with one (prefix).
  // Says nothing about exclusion.
  bool listed(std::string_view name) const;
};

// Parses a value of `variable`. Throws InvalidArgument naming the variable and
// the value when it holds no name ("^", "=", ",").
InterfaceFilter parse_interface_filter(std::string_view text,
                                       std::string_view variable = "BATON_SOCKET_IFNAME");

// The usable addresses (up, IPv4 or IPv6, not IPv6 link-local) that `filter`
// selects from `available`, best first as described above. An empty filter
// (no names, no exclusion) selects every interface, loopback last.
std::vector<Interface> select_interfaces(const InterfaceFilter& filter,
                                         std::span<const Interface> available);

// The best of select_interfaces. Throws InvalidArgument when nothing is
// selected, naming `variable`, its value and every interface of `available`
// with its addresses and state ("lo 127.0.0.1, eth1 (down)").
Interface choose_interface(const InterfaceFilter& filter, std::span<const Interface> available,
                           std::string_view variable = "BATON_SOCKET_IFNAME");

// "lo 127.0.0.1 ::1, eth0 10.0.0.2, eth1 (down)".
std::string describe_interfaces(std::span<const Interface> available);

// This host's interfaces and addresses, in getifaddrs order. Does not block.
// Throws ConnectionError when getifaddrs fails.
std::vector<Interface> list_interfaces();

// The address BATON_SOCKET_IFNAME selects on this host, or nullopt when it is
// unset or empty. Throws InvalidArgument as choose_interface does.
std::optional<SocketAddress> address_from_ifname_env();

// The address to publish when nothing says better: BATON_SOCKET_IFNAME's when
// set, else the first interface that is up and not loopback (loopback when it
// is the only one). Throws InvalidArgument as choose_interface does.
SocketAddress default_interface_address();

// The local address the kernel would use to reach `peer` (a UDP connect,
// which sends nothing); nullopt when there is no route. Does not block.
std::optional<SocketAddress> local_address_towards(const SocketAddress& peer);

// Whether address (any port) is one of the addresses of `interfaces`.
bool is_address_of(const SocketAddress& address, std::span<const Interface> interfaces);

}  // namespace baton::net
