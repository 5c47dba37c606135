// Connector: the connecting side of the TCP transport's mesh setup. A rank
// connects to every lower rank and runs the connecting side of the
// handshake (handshake.hpp); the Listener is the accepting side.
//
// Retries: until the setup deadline, the connector retries (exponential
// backoff from 5 ms to 500 ms, each pause drawn between half and all of the
// current step) whatever may pass: a refused or failed connect (a listener
// not up yet), and a handshake the acceptor closed or did not finish within
// the attempt timeout (its handshake slots were full of other connections,
// or it was busy). Refused connects that last kRefusedIsGone mean the peer
// has exited (it listened before it published its address), and a peer of
// this host whose pid has exited is named at once (PeerWatch). A definite
// refusal fails at once: the acceptor's refusal hello (another job id,
// group, token, world size, a job secret on one side only), an answer that
// is not a Baton hello or comes from another rank, an acceptor that cannot
// prove the job secret. Retry warnings are rate-limited (log::RateLimit).
//
// Thread safety: one connect() at a time (setup runs on one thread).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "auth/secret.hpp"
#include "core/fd.hpp"
#include "core/rate_limit.hpp"
#include "transport/peer_watch.hpp"
#include "transport/tcp/handshake.hpp"

namespace baton::transport::tcp {

// A peer that published its address (it listened before) but refuses
// connections this long has exited.
inline constexpr std::chrono::seconds kRefusedIsGone{1};

class Connector {
 public:
  using Clock = std::chrono::steady_clock;

  // `self`: this rank's hello (from_rank set; to_rank is set per peer);
  // `secret`: the job secret, or nullptr; `attempt_timeout`: how long one
  // handshake may take before it is abandoned and retried; `who` names this
  // rank in messages ("rank 2 of group 'g'"). `watch` must outlive it.
  Connector(Hello self, std::shared_ptr<const auth::Secret> secret,
            std::chrono::milliseconds attempt_timeout, const PeerWatch& watch, std::string who);

  // Connects to `peer`, which published `address` ("host:port"), and runs
  // the handshake, retrying as above. Blocks until it succeeds or the
  // deadline. Returns the socket, handshake done; or an empty fd with *why
  // saying what the last attempt met, when the deadline passed. Throws
  // ConnectionError or ProtocolError for a definite refusal or answer,
  // AuthenticationError when the secret is on one side only or differs,
  // ConnectionError when the peer has exited, ProtocolError for an address
  // that is not host:port.
  UniqueFd connect(int peer, const std::string& address, Clock::time_point deadline,
                   std::string* why);

 private:
  enum class Outcome { kDone, kRetry };
  Outcome handshake(int fd, int peer, const std::string& where, Clock::time_point deadline,
                    std::string* why);
  void pause(std::chrono::milliseconds* backoff, Clock::time_point deadline);

  const Hello self_;
  const std::shared_ptr<const auth::Secret> secret_;
  const std::chrono::milliseconds attempt_timeout_;
  const PeerWatch& watch_;
  const std::string who_;
  log::RateLimit retry_log_;
};

}  // namespace baton::transport::tcp
