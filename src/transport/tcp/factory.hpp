// The TCP transport: how a group gets a transport::Context over TCP sockets.
//
// make_tcp_context() connects `rank` to every other rank of a group of
// `size` ranks (a full mesh, one socket per pair) through `store`:
//   1. it listens on an ephemeral port of the address that reaches the
//      peers (TcpOptions::listen_address, or the address BATON_SOCKET_IFNAME
//      selects, or the local address of the interface that routes to
//      MASTER_ADDR, or 127.0.0.1: tcp/listener.hpp's choose_listen_host);
//   2. rank 0 writes a random 64-bit token under "<group_key>/tcp/token"; the
//      others read it;
//   3. each rank publishes "host:port" under "<group_key>/tcp/<rank>";
//   4. each rank connects to every lower rank and accepts every higher one;
//      both ends of each connection check the other's hello (job id, group
//      key, token, world size, both ranks) and refuse anything else
//      (tcp/handshake.hpp), logging it and waiting on for the right peer;
//      with a job secret (TcpOptions::secret) both ends also prove it
//      (challenge-response, the secret never on the wire) before the socket
//      becomes the peer's connection. A connector whose handshake was
//      dropped (the acceptor's slots full of other connections) retries
//      until the deadline (tcp/connector.hpp).
// The group key must be unique per group within the store (the backend adds
// a counter), so that two groups never read each other's entries.
//
// One progress thread per context runs the epoll loop (docs/thread_model.md).
// The context's behaviour (matching, buffering, failures, abort) is that of
// transport.hpp; the wire format is in docs/wire_protocol.md.
//
// Thread safety: make_tcp_context may be called from any thread; the context
// follows transport.hpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "transport/matcher.hpp"
#include "transport/transport.hpp"

namespace baton::auth {
class Secret;
}  // namespace baton::auth

namespace baton::transport {

struct TcpOptions {
  // The address to listen on (and publish); "" picks one as described above.
  // The rendezvous' choice (rendezvous::Result::address) goes here.
  std::string listen_address;
  // How long mesh setup may take; zero means BATON_TIMEOUT.
  std::chrono::milliseconds timeout{0};
  // The job id carried in handshakes; nullopt means BATON_JOB_ID.
  std::optional<std::string> job_id;
  // Bound on buffered early messages; zero means BATON_UNEXPECTED_BYTES.
  size_t unexpected_bytes = 0;
  // Names collectives in MismatchError messages; nullptr prints raw numbers.
  OpFormatter describe_op = nullptr;
  // How long one handshake may take: an accepted connection that has not
  // finished it by then is closed, and a connector abandons an attempt (and
  // retries) after it.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(5)};
  // The job secret every connection proves (auth/secret.hpp; the backend
  // fills it from InitOptions or the environment); nullptr: connections are
  // not authenticated, and anyone who reads the group's token in the store
  // can join. Every rank of the group needs the same secret, or none.
  std::shared_ptr<const auth::Secret> secret;
  // The rendezvous' pid of each group rank on this host, 0 for the others:
  // setup fails at once, naming the rank, when one of them exits (ShmOptions).
  std::vector<pid_t> peer_pids;
};

// Sets up the mesh and returns the context. Blocks until every peer is
// connected, or the timeout. Throws InvalidArgument for a rank outside
// [0, size) or size < 1; TimeoutError naming the ranks that did not connect
// (and why, where known: no address in the store, connection refused, no
// answer to the handshake, a connection claiming it that was refused);
// AuthenticationError when the secret is set on one side only or differs
// (at once on a connecting rank, and on an accepting rank without a secret;
// an accepting rank with a secret waits for a peer that proves it until the
// deadline, so that a stranger cannot end its setup, and then names the
// refused connection); ConnectionError when a peer refuses the handshake for
// a reason that cannot change (another job id, group, token or world size),
// answers as someone else, or closes during setup; ProtocolError when it
// answers with bytes that are not a hello; what the store throws (IoError,
// ConnectionError) when the store fails.
std::unique_ptr<Context> make_tcp_context(Store& store, const std::string& group_key, int rank,
                                          int size, const TcpOptions& options = {});

}  // namespace baton::transport
