// Listener: accepts the TCP transport connections of higher ranks during
// mesh setup and runs the accepting side of the handshake (handshake.hpp).
//
// Every accepted socket must finish its handshake (hello, and with a job
// secret the proof) within the handshake timeout (TcpOptions, 5 s). A hello
// that matches this group (job id, group key hash, token, world size, this
// rank) and comes from a higher rank not yet connected is answered with
// this rank's hello. Without a secret the socket is then handed to the
// context as that peer's connection; with one, only once the peer's proof
// checks out (auth::Secret::verify, constant time): several pending
// handshakes may claim the same rank, the first to prove it wins, and the
// others are refused as duplicates. A hello that decodes but does not match
// is answered with a refusal (a hello with kFlagRefusal and the reason), so
// the connector fails at once; anything else is closed. Refusals are logged
// at warn level with the remote address and the reason, at most 10 lines per
// 10 s (log::RateLimit; the number suppressed is in the next line and in a
// summary at close()); a connection closed before it sent anything (a port
// scanner) is logged at info level only. A refusal of a hello that claims a
// rank of this group is reported to the owner (OnRefused), which names it
// when setup fails.
//
// Bounds: at most kMaxPending (256) connections are in their handshake at
// once; a newcomer beyond that closes the oldest pending one (whose
// connector retries if it was a real peer), so a flood of idle connections
// cannot lock the real peers out for longer than they take to be replaced.
// At most kAcceptBatch connections are accepted per wake-up, so handshakes
// already under way are read between batches.
//
// A listener on an address other than loopback, without a secret, logs once
// per process that anyone who reaches it (and reads the store) can join.
//
// Thread safety: all methods on the loop thread, except the constructor and
// address(). The owner calls close() on the loop thread before destroying it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "auth/secret.hpp"
#include "core/fd.hpp"
#include "core/rate_limit.hpp"
#include "core/socket.hpp"
#include "transport/event_loop.hpp"
#include "transport/tcp/handshake.hpp"

namespace baton::transport::tcp {

inline constexpr size_t kMaxPending = 256;
inline constexpr int kAcceptBatch = 32;

class Listener {
 public:
  struct Options {
    // The hello this rank expects (its from_rank is ignored; its to_rank is
    // this rank).
    Hello expected;
    // The job secret; nullptr: connections are not authenticated.
    std::shared_ptr<const auth::Secret> secret;
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(5)};
  };
  struct Callbacks {
    // Returns "" when rank `from` (a higher rank) may connect now, otherwise
    // why it may not (it is already connected).
    std::function<std::string(int from)> check_rank;
    // Takes over the socket of a peer whose handshake succeeded.
    std::function<void(int from, UniqueFd fd)> on_peer;
    // A connection that claimed to be rank `from` of this group was refused
    // for `why`; `fatal`: the setup cannot succeed (this rank lacks the
    // secret its peers have).
    std::function<void(int from, std::exception_ptr why, bool fatal)> on_refused;
  };

  // `fd` is a listening, non-blocking socket.
  Listener(EventLoop& loop, UniqueFd fd, Options options, Callbacks callbacks);
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
  enum class Stage { kHello, kProof };
  struct Pending {
    UniqueFd fd;
    Stage stage = Stage::kHello;
    std::array<std::byte, kHelloSize + auth::kNonceBytes> in{};
    size_t got = 0;
    size_t want = kHelloSize;
    HelloBytes hello_c{};
    auth::Nonce nonce_c{};
    HelloBytes hello_a{};
    auth::Nonce nonce_a{};
    int claimed = -1;  // the rank its hello claimed, once it matched
    uint64_t timer = 0;
    uint64_t seq = 0;  // accept order
    std::string from;  // the remote address, for logs
  };

  void on_acceptable();
  void on_readable(int fd);
  void on_hello(Pending& pending);
  void on_proof(Pending& pending);
  // Hands the socket to the owner as rank pending.claimed's connection.
  void hand_over(Pending& pending);
  // Answers with a refusal hello, then refuses.
  void reject(Pending& pending, int claimed, Refusal code, const std::string& why);
  void refuse(int fd, const std::string& why, bool quiet = false);
  void warn_unauthenticated() const;

  EventLoop& loop_;
  UniqueFd fd_;
  net::SocketAddress address_;
  const Options options_;
  Callbacks callbacks_;
  std::unordered_map<int, std::unique_ptr<Pending>> pending_;  // by fd
  std::map<uint64_t, int> order_;                              // accept order -> fd
  uint64_t next_seq_ = 0;
  log::RateLimit warn_limit_;
  log::RateLimit info_limit_;
  uint64_t refused_ = 0;     // connections refused or dropped
  uint64_t suppressed_ = 0;  // log lines about them not written
};

// Whether `address` is a loopback address (127.0.0.0/8, ::1, or
// ::ffff:127.x.y.z), which only this host reaches; "0.0.0.0" and "::" are
// not (they listen on every interface).
bool is_loopback(const net::SocketAddress& address);

// The host a rank's transport listens on and publishes: `configured` when
// not empty (the rendezvous' choice, Result::address); otherwise the address
// BATON_SOCKET_IFNAME selects (core/net_interface.hpp); otherwise the local
// address of the interface that routes to MASTER_ADDR (so peers on other
// hosts can reach it); otherwise, or when MASTER_ADDR is unset or
// unreachable, "127.0.0.1". Does not block beyond name resolution. Throws
// InvalidArgument when BATON_SOCKET_IFNAME selects nothing.
std::string choose_listen_host(const std::string& configured);

}  // namespace baton::transport::tcp
