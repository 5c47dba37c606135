// TcpContext: the TCP transport's Context (one per group and rank).
//
// It owns the event loop (the group's progress thread), the matcher, one
// Connection per peer and, during setup, the Listener. Construction runs
// mesh setup (factory.hpp) and returns only when every peer is connected.
//
// Failure policy (transport.hpp leaves the details to transports):
//  - a peer whose connection fails fails its own requests and the pending
//    kAnySource receives (Matcher); the other peers go on working;
//  - abort(why) fails every request, present and future, with `why` and
//    sends an abort frame carrying why's code and message to every live peer,
//    whose contexts then abort with the same error (so a MismatchError found
//    by one rank reaches every rank), without sending abort frames on;
//  - the destructor fails whatever is pending with ConnectionError, says
//    goodbye to every peer, closes the sockets and joins the progress thread.
//
// Caller-driven progress: every request carries the context's Driver
// (transport/request.hpp), so a thread waiting on it polls the peer's
// connection itself (Connection::poll) while it spins, and a small message
// completes without waking the progress thread; BATON_TCP_CALLER_POLL=0
// leaves all reading to the progress thread.
//
// Thread safety: as transport.hpp (isend, irecv, abort from any thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "transport/event_loop.hpp"
#include "transport/matcher.hpp"
#include "transport/peer_watch.hpp"
#include "transport/tcp/connection.hpp"
#include "transport/tcp/connector.hpp"
#include "transport/tcp/factory.hpp"
#include "transport/tcp/handshake.hpp"
#include "transport/tcp/listener.hpp"

namespace baton::transport::tcp {

class TcpContext final : public Context {
 public:
  // Sets up the mesh; see make_tcp_context for what it blocks on and throws.
  TcpContext(Store& store, const std::string& group_key, int rank, int size,
             const TcpOptions& options);
  ~TcpContext() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "tcp"; }
  RequestPtr isend(int peer, const Envelope& envelope, std::span<const std::byte> payload) override;
  RequestPtr irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) override;
  void abort(std::exception_ptr why) override;
  void begin_op(uint64_t seq, const OpDesc& op) override { matcher_.begin_op(seq, op); }

  // For tests: runs fn on the progress thread (e.g. one that blocks it, to
  // show that waiting callers progress on their own).
  void run_on_progress_thread(std::function<void()> fn) { loop_.defer(std::move(fn)); }
  // Receives completed on a waiting caller's thread by its own poll.
  uint64_t caller_receives() const;

 private:
  using Clock = std::chrono::steady_clock;

  void setup_mesh(Store& store, const TcpOptions& options, Clock::time_point deadline);
  // Connects to a lower rank (Connector). Returns "" on success, or why the
  // peer could not be reached in time.
  std::string connect_to(int peer, Store& store, Connector& connector, Clock::time_point deadline);
  void install(int peer, UniqueFd fd);                                   // loop thread
  std::string check_rank(int from);                                      // loop thread
  void on_refused(int from, const std::exception_ptr& why, bool fatal);  // loop thread
  // Throws the setup's failure: `failure` when every peer connected or it is
  // an AuthenticationError (this rank lacks the secret); otherwise a
  // TimeoutError naming the unconnected ranks and why (an AuthenticationError
  // when a connection claiming one of them did not prove the secret).
  [[noreturn]] void throw_setup_failure(const std::vector<std::string>& why_missing,
                                        const std::exception_ptr& failure,
                                        Clock::time_point started);
  void on_peer_failed(int peer, const std::exception_ptr& error, bool graceful);  // loop thread
  void on_peer_abort(int peer, const std::exception_ptr& error);                  // loop thread
  void abort_connections(const std::exception_ptr& why, bool tell_peers);         // loop thread
  void schedule_resume();                                                         // any thread
  std::string describe() const;  // "rank 2 of group 'g'"
  // The Driver's poll: Connection::poll for `peer` (kAnySource: every peer).
  bool poll(int peer);
  void attach_driver(Request& request, int peer);

  const int rank_;
  const int size_;
  const std::string group_key_;
  Matcher matcher_;
  std::atomic<bool> failed_{false};  // set once the matcher holds a context error

  PeerWatch watch_;  // this host's peers, during setup (TcpOptions::peer_pids)
  std::mutex setup_mu_;
  std::condition_variable setup_cv_;
  std::vector<bool> connected_;     // GUARDED_BY(setup_mu_), by rank
  std::exception_ptr setup_error_;  // GUARDED_BY(setup_mu_)
  // By rank: the last refused connection that claimed to be that rank.
  std::vector<std::exception_ptr> refused_;  // GUARDED_BY(setup_mu_)
  // Written under setup_mu_ during setup (loop thread or constructor), then
  // read-only: user threads only see the context after setup.
  std::vector<std::unique_ptr<Connection>> peers_;
  std::unique_ptr<Listener> listener_;

  std::atomic<bool> resume_scheduled_{false};
  std::shared_ptr<Driver> driver_;  // null when BATON_TCP_CALLER_POLL=0
  bool abort_sent_ = false;         // loop thread

  EventLoop loop_;  // last: stopped and destroyed first
};

}  // namespace baton::transport::tcp
