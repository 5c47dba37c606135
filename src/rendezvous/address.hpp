// Store addresses: name resolution with a deadline, and "is this address mine".
//
// getaddrinfo(3) can block for as long as the system's resolver likes; the
// rendezvous must fail within its timeout, so resolve_before runs the lookup
// on a helper thread and stops waiting at the deadline. is_local_address
// tells rank 0 whether it can serve the store at the address MASTER_ADDR
// names (it binds exactly that address, never every interface).
//
// Thread safety: free functions; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
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

}  // namespace baton::rendezvous
