// Store addresses: name resolution with a deadline, and "is this address mine".
//
// getaddrinfo(3) can block for as long as the system's resolver likes; the
// rendezvous must fail within its timeout, so resolve_before runs the lookup
// on a helper thread and stops waiting at the deadline. is_local_address
// tells rank 0 whether it can serve the store at the address MASTER_ADDR
// names (it binds exactly that address, never every interface);
// choose_served_address and publish_host apply BATON_SOCKET_IFNAME
// (core/net_interface.hpp) to the store's address and to the address a rank
// publishes for its transports.
//
// Thread safety: free functions; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/socket.hpp"

namespace baton::rendezvous {

// Resolves host for TCP before the deadline. A numeric address returns at
// once; a temporary resolver failure (EAI_AGAIN) is retried until the
// deadline. Throws ConnectionError naming `what` ("MASTER_ADDR='node7'") and
// the resolver's reason when the name does not resolve, or "within 30 s" when
// the deadline passes first; InvalidArgument when host is empty.
std::vector<net::SocketAddress> resolve_before(const std::string& host, uint16_t port,
                                               std::chrono::steady_clock::time_point deadline,
                                               std::string_view what);

// Whether a socket can be bound to address (with port 0) on this host, i.e.
// the address is one of this host's (loopback included). Does not block.
bool is_local_address(const net::SocketAddress& address);

// Of the addresses the store's host name resolves to, the one rank 0 serves
// the store at: the first of this host's that belongs to an interface
// BATON_SOCKET_IFNAME selects, when it is set and one does; else the first of
// this host's. nullopt when none is this host's. Does not block. Throws
// InvalidArgument when BATON_SOCKET_IFNAME is malformed.
std::optional<net::SocketAddress> choose_served_address(
    const std::vector<net::SocketAddress>& addresses);

// The host this rank's transports listen on and publish (Result::address):
// BATON_SOCKET_IFNAME's address when set; else, for a TCP store, the local
// address of the route to `store` (what a connected socket's getsockname
// gives; on the store's own host, the address it serves, unless that is a
// wildcard); for a FileStore (store nullopt), the first interface that is up
// and not loopback, loopback when it is the only one. Does not block. Throws
// InvalidArgument when BATON_SOCKET_IFNAME selects nothing (naming its value
// and this host's interfaces).
std::string publish_host(const std::optional<net::SocketAddress>& store);

}  // namespace baton::rendezvous
