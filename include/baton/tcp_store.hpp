// TcpStore: a Store served over TCP by one server to many clients.
//
// TcpStoreServer is the server: an epoll loop on one background thread that
// holds the keys in memory and answers every client. It runs inside some
// process (rank 0, the launcher, or the standalone `baton-store` program).
// TcpStore is the client; with is_server it also owns a server, as rank 0
// does in torch.distributed. The protocol is in docs/wire_protocol.md: a
// fixed-size hello with a magic and a version, the job secret's
// challenge-response, then length-prefixed frames whose every length is
// bounded before anything is allocated.
//
// Authentication: with a job secret (the options' `secret`, else
// BATON_SECRET, else BATON_SECRET_FILE) every connection proves it both ways
// by HMAC-SHA-256 over fresh nonces before a single request is read; the
// secret never crosses the wire. A server with a secret refuses a client
// without one, and a client with a secret refuses a server without one (fail
// closed): both are AuthenticationError. Without any secret the store is
// open to whoever reaches it, as before (a server bound to a non-loopback
// address then logs a warning). Traffic is authenticated, not encrypted.
//
// Hostile input: a connection must finish its handshake within
// handshake_timeout (10 s); at most max_handshakes (1024) may be in it at
// once, the oldest closed to make room, so a flood of idle connections
// cannot keep a real client (whose handshake takes well under a millisecond)
// out. A server holding max_connections answers a newcomer "full"; clients
// retry that (and a refused connect) with jittered exponential backoff until
// their timeout. Replies share the stored value (no copy per reply), a
// connection whose reply is unread is not read, and the bytes the server
// buffers for its clients are capped (max_buffered_bytes): over it, it closes
// the connections whose replies have been stalled longest, then answers
// "busy" to a request that still does not fit (clients retry).
//
// Binding: the server binds exactly the host it is given ("127.0.0.1" listens
// on loopback only); every interface only when asked with "0.0.0.0" or "::".
// Port 0 binds a free port; port() reports it.
//
// Failure: a get() or wait() that passes its timeout throws TimeoutError
// naming the keys and the timeout, and the client keeps working. A server
// that exits or is killed makes every blocked client call throw
// ConnectionError naming the server's address at once, never hang. A client
// that reaches something that is not a baton store server fails within its
// timeout with an error saying so.
//
// Thread safety: every method of both classes may be called from any thread.
// A TcpStore opens one connection per concurrently blocked call (a pool), so
// one thread's get() never stalls another thread's set().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "baton/store.hpp"

namespace baton {

struct TcpStoreServerOptions {
  // The address to bind: a host name or IP address; "0.0.0.0" or "::" for
  // every interface.
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  // Largest value accepted; a longer frame closes that connection.
  // 0: BATON_STORE_MAX_VALUE_BYTES (default 64 MiB).
  uint64_t max_value_bytes = 0;
  // Connections open at once, in their handshake or past it. At the limit a
  // newcomer makes room by closing the oldest connection still in its
  // handshake, or, when there is none, gets a "full" answer (clients retry).
  int max_connections = 16384;
  // The job secret every client must prove; "" reads BATON_SECRET, else
  // BATON_SECRET_FILE; none anywhere: unauthenticated. Only its fingerprint
  // is logged.
  std::string secret{};
  // A connection that has not finished its hello and authentication within
  // this long is closed.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // Connections in their handshake at once; a newcomer beyond it closes the
  // oldest of them.
  int max_handshakes = 1024;
  // Bytes held for clients beyond the keys themselves: request bodies (as
  // claimed by their headers), parked waits' keys, reply buffers, and
  // values that only unread replies still hold. 0: BATON_STORE_MAX_BUFFERED_BYTES
  // (default 1 GiB); at least max_value_bytes + 64 KiB.
  uint64_t max_buffered_bytes = 0;
};

// What a server has seen; for tests and diagnostics.
struct TcpStoreServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t connections_rejected = 0;  // closed for breaking the protocol or a limit
  uint64_t requests = 0;              // requests answered or waiting
  uint64_t pending_waits = 0;         // get/wait requests waiting for keys now
  uint64_t keys = 0;
  uint64_t largest_read_buffer = 0;        // bytes: the largest request buffer ever held
  uint64_t connections_in_handshake = 0;   // now: accepted, not yet authenticated
  uint64_t connections_authenticated = 0;  // ever: finished the handshake
  uint64_t auth_failures = 0;              // wrong proof, or no secret where one is required
  uint64_t handshake_timeouts = 0;         // closed for not finishing the handshake in time
  uint64_t handshakes_evicted = 0;         // closed in their handshake to make room
  uint64_t refused_full = 0;               // newcomers answered "full" at max_connections
  uint64_t buffered_bytes = 0;             // now, as counted against max_buffered_bytes
  uint64_t stalled_closed = 0;             // closed because their unread replies held the cap
  uint64_t requests_busy = 0;              // requests answered "busy": over the cap
};

class TcpStoreServer {
 public:
  // Binds host:port, listens and starts the server thread. Does not block.
  // Throws ConnectionError naming the port and "in use" when the port is
  // taken, ConnectionError naming the host when it cannot be resolved or
  // bound, InvalidArgument for a bad option, AuthenticationError for a
  // secret that is set but unusable (too short, a file others can read).
  explicit TcpStoreServer(TcpStoreServerOptions options = {});
  // stop().
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  // The bound port (the kernel's choice when options.port was 0).
  uint16_t port() const;
  // The host as given in the options.
  const std::string& host() const;
  // "host:port" as bound, e.g. "127.0.0.1:41235".
  std::string address() const;

  // Closes every connection (blocked clients get ConnectionError) and joins
  // the server thread. Blocks until the thread has exited. Idempotent.
  void stop();

  TcpStoreServerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

struct TcpStoreOptions {
  // Also start a TcpStoreServer bound to the constructor's host and port
  // inside this object (rank 0 in torch.distributed's model).
  bool is_server = false;
  // The timeout of every call, and how long the constructor keeps trying to
  // reach a server that is not listening yet.
  std::chrono::milliseconds timeout = Store::kDefaultTimeout;
  // Largest value this client sends or accepts (and, with is_server, the
  // server's limit). 0: BATON_STORE_MAX_VALUE_BYTES (default 64 MiB).
  uint64_t max_value_bytes = 0;
  // The job secret to prove (and, with is_server, the server's); "" reads
  // BATON_SECRET, else BATON_SECRET_FILE; none anywhere: unauthenticated.
  std::string secret{};
};

class TcpStore final : public Store {
 public:
  // Connects to the server at host:port (starting it first when is_server).
  // Blocks until connected and the handshake is done, retrying a refused
  // connection or a "full" server (backoff from 10 ms doubling to 500 ms,
  // jittered) until options.timeout. Throws ConnectionError when the server
  // cannot be reached in time or stayed full that long, or when what answers
  // is not a baton store server (the message says so); ProtocolError
  // "protocol version X, expected Y" when the server speaks another version;
  // AuthenticationError when the server requires a secret this process lacks,
  // has none while this process has one, fails to prove it, or refuses this
  // process's (all naming the server's address); the server's exceptions
  // when is_server.
  TcpStore(std::string host, uint16_t port, TcpStoreOptions options = {});
  ~TcpStore() override;
  TcpStore(const TcpStore&) = delete;
  TcpStore& operator=(const TcpStore&) = delete;

  using Store::set;
  using Store::wait;

  // Each sends one request and blocks for the reply: get() and wait() up to
  // their timeout (then TimeoutError naming the keys and the timeout), every
  // other call up to timeout(). A server that goes away: ConnectionError
  // naming its address. A key over 8 KiB or a value over max_value_bytes:
  // InvalidArgument, nothing sent. add() on a value that is not a counter:
  // InvalidArgument from the server. A server whose buffers are full answers
  // "busy"; the call retries until its deadline, then ConnectionError.
  void set(std::string_view key, std::span<const uint8_t> value) override;
  Bytes get(std::string_view key) override;
  int64_t add(std::string_view key, int64_t delta) override;
  Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                    std::span<const uint8_t> desired) override;
  bool check(std::span<const std::string> keys) override;
  void wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) override;
  bool delete_key(std::string_view key) override;
  int64_t num_keys() override;

  const std::string& host() const;
  // The server's port (the bound one when is_server with port 0).
  uint16_t port() const;
  // "host:port".
  std::string address() const;
  // The in-process server when is_server, else nullptr.
  TcpStoreServer* server() const;

 private:
  class Client;
  std::unique_ptr<TcpStoreServer> server_;  // destroyed after client_
  std::unique_ptr<Client> client_;
};

}  // namespace baton
