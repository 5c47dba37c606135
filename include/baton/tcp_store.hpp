// TcpStore: a Store served over TCP by one server to many clients.
//
// TcpStoreServer is the server: an epoll loop on one background thread that
// holds the keys in memory and answers every client. It runs inside some
// process (rank 0, the launcher, or the standalone `baton-store` program).
// TcpStore is the client; with is_server it also owns a server, as rank 0
// does in torch.distributed. The protocol is in docs/wire_protocol.md: a
// fixed-size hello with a magic and a version, then length-prefixed frames
// whose every length is bounded before anything is allocated.
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
  // Connections beyond this many are closed at once (and logged).
  int max_connections = 16384;
};

// What a server has seen; for tests and diagnostics.
struct TcpStoreServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t connections_rejected = 0;  // closed for breaking the protocol or a limit
  uint64_t requests = 0;              // requests answered or waiting
  uint64_t pending_waits = 0;         // get/wait requests waiting for keys now
  uint64_t keys = 0;
  uint64_t largest_read_buffer = 0;  // bytes: the largest request buffer ever held
};

class TcpStoreServer {
 public:
  // Binds host:port, listens and starts the server thread. Does not block.
  // Throws ConnectionError naming the port and "in use" when the port is
  // taken, ConnectionError naming the host when it cannot be resolved or
  // bound, InvalidArgument for a bad option.
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
};

class TcpStore final : public Store {
 public:
  // Connects to the server at host:port (starting it first when is_server).
  // Blocks until connected and the handshake is done, retrying a refused
  // connection until options.timeout. Throws ConnectionError when the server
  // cannot be reached in time, or when what answers is not a baton store
  // server (the message says so); ProtocolError "protocol version X,
  // expected Y" when the server speaks another version; the server's
  // exceptions when is_server.
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
  // InvalidArgument from the server.
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
