// Listener: accepts the TCP transport connections of higher ranks during
// mesh setup and runs the accepting side of the handshake (handshake.hpp).
//
// Every accepted socket must send a complete hello within the handshake
// timeout. A hello that matches this group (job id, group key hash, token,
// world size, this rank) and comes from a rank the context still expects is
// answered with this rank's hello, and the socket is handed to the context as
// that peer's connection. Anything else is refused: logged at warn level with
// the remote address and the reason, and closed; the listener goes on
// waiting for the right peers. A connection closed before it sent anything
// (a port scanner) is logged at info level only.
//
// Thread safety: all methods on the loop thread, except the constructor and
// address(). The owner calls close() on the loop thread before destroying it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/fd.hpp"
#include "core/socket.hpp"
#include "transport/event_loop.hpp"
#include "transport/tcp/handshake.hpp"

namespace baton::transport::tcp {

class Listener {
 public:
  // Returns "" when rank `from` may connect now, otherwise why it may not.
  using CheckRank = std::function<std::string(int from)>;
  // Takes over the socket of a peer whose handshake succeeded.
  using OnPeer = std::function<void(int from, UniqueFd fd)>;

  // `fd` is a listening, non-blocking socket; `expected` is the hello this
  // rank expects (its from_rank is ignored; its to_rank is this rank).
  Listener(EventLoop& loop, UniqueFd fd, Hello expected,
           std::chrono::milliseconds handshake_timeout, CheckRank check_rank, OnPeer on_peer);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Starts accepting. Loop thread. Throws IoError when epoll refuses the fd.
  void start();
  // Stops accepting and closes the listening socket and every connection
  // still in its handshake. Loop thread. Idempotent.
  void close();
  const net::SocketAddress& address() const { return address_; }

 private:
  struct Pending {
    UniqueFd fd;
    HelloBytes bytes{};
    size_t got = 0;
    uint64_t timer = 0;
    std::string from;  // the remote address, for logs
  };

  void on_acceptable();
  void on_readable(int fd);
  void finish(Pending& pending);
  void refuse(int fd, const std::string& why, bool quiet = false);

  EventLoop& loop_;
  UniqueFd fd_;
  net::SocketAddress address_;
  Hello expected_;
  std::chrono::milliseconds handshake_timeout_;
  CheckRank check_rank_;
  OnPeer on_peer_;
  std::unordered_map<int, std::unique_ptr<Pending>> pending_;  // by fd
};

// The host a rank's transport listens on and publishes: `configured` when
// not empty (the rendezvous' choice, Result::address); otherwise the address
// BATON_SOCKET_IFNAME selects (core/net_interface.hpp); otherwise the local
// address of the interface that routes to MASTER_ADDR (so peers on other
// hosts can reach it); otherwise, or when MASTER_ADDR is unset or
// unreachable, "127.0.0.1". Does not block beyond name resolution. Throws
// InvalidArgument when BATON_SOCKET_IFNAME selects nothing.
std::string choose_listen_host(const std::string& configured);

}  // namespace baton::transport::tcp
