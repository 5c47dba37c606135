// TcpStore::Client: the connections of one TcpStore to its server (private
// to tcp_store.cc).
//
// Each call borrows a connection from a small pool (opening and
// handshaking a new one when none is idle), sends one request frame, reads
// one reply frame and returns the connection. Connecting retries, with
// jittered exponential backoff until the deadline, a refused connect (first
// connection only: the server may not be up yet) and a server that answers
// "full" (as it also answers a connection it closes in its handshake to make
// room under a flood); "busy" replies are retried the same way by call().
//
// The handshake (docs/wire_protocol.md): with a secret, the client sends
// its nonce with the hello, proves the job secret over both nonces, and
// accepts the server only once the server's proof checks out; every
// disagreement about the secret is an AuthenticationError naming the
// server's address, never retried.
//
// Thread safety: every method may be called from any thread (the pool and
// the epoch are under a mutex; a connection has one user at a time).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "core/fd.hpp"
#include "core/socket.hpp"
#include "store/tcp_protocol.hpp"

namespace baton {

class TcpStore::Client {
 public:
  using Clock = std::chrono::steady_clock;
  using Deadline = Clock::time_point;

  struct Reply {
    store::tcp::Status status = store::tcp::Status::kOk;
    std::vector<uint8_t> body;
  };

  // Resolves the secret (`secret`, else the environment), then connects and
  // handshakes once before `timeout` (the TcpStore constructor's contract).
  Client(std::string host, uint16_t port, uint64_t max_value, std::chrono::milliseconds timeout,
         const std::string& secret);

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  const std::string& where() const { return where_; }
  uint64_t max_value() const { return max_value_; }

  // InvalidArgument when size is over the value limit.
  void check_value(size_t size, std::string_view op) const;

  // Sends one request and reads its reply before the deadline. Error replies
  // become exceptions ("busy" is retried until the deadline); kOk and
  // kTimeout are returned.
  Reply call(const store::tcp::Request& request, Deadline deadline,
             std::chrono::milliseconds budget, const std::string& what);

 private:
  // kFull: try again later; kTimedOut: no answer before the deadline.
  enum class Handshake { kDone, kFull, kTimedOut };

  struct RawReply {
    store::tcp::Status status = store::tcp::Status::kOk;
    std::vector<uint8_t> body;
    uint8_t error_code = 0;  // kError only
    std::string error_text;  // kError only
  };

  void check_io(net::IoStatus status, const std::string& what,
                std::chrono::milliseconds budget) const;
  // Reads one reply frame, its header checked (ProtocolError) before its
  // body is allocated; kClosed or kTimedOut when it did not all arrive.
  net::IoStatus read_reply(int fd, Deadline deadline, const std::string& what, uint64_t max_body,
                           RawReply& out) const;
  UniqueFd acquire(Deadline deadline, std::chrono::milliseconds budget);
  void release(UniqueFd fd);
  UniqueFd connect(Deadline deadline, std::chrono::milliseconds budget, bool first);
  Handshake handshake(int fd, Deadline deadline);
  Handshake authenticate(int fd, std::span<const uint8_t, store::tcp::kHelloBytes> hello,
                         const auth::Nonce& client_nonce,
                         std::span<const uint8_t, store::tcp::kHelloAckBytes> ack,
                         Deadline deadline);
  void check_epoch(uint64_t epoch);
  ConnectionError closed_in_handshake() const;

  const std::string host_;
  const uint16_t port_;
  const std::string address_;
  const std::string where_;
  const uint64_t max_value_;
  const std::shared_ptr<const auth::Secret> secret_;  // nullptr: unauthenticated
  const std::vector<net::SocketAddress> addresses_;
  std::mutex mutex_;
  std::vector<UniqueFd> idle_;     // GUARDED_BY(mutex_)
  std::optional<uint64_t> epoch_;  // GUARDED_BY(mutex_): the server instance we talk to
};

}  // namespace baton
