// TcpStoreServer::Impl: the server's one epoll loop and everything it owns
// (private; the loop, accept and handshake are in tcp_store_server.cc, the
// requests, replies and the buffer cap in server_requests.cc).
//
// Limits, all enforced on the loop thread (docs/wire_protocol.md, "Limits"):
// a handshake must finish within options.handshake_timeout; at most
// max_handshakes connections are in it, a newcomer closing the oldest; at
// max_connections a newcomer closes the oldest connection in its handshake or,
// when none is, is answered kServerFull; the BufferBudget caps what clients
// make the server hold (server_budget.hpp).
//
// Thread safety: the public methods (port, address, stop, stats) may be
// called from any thread; everything else runs on the loop thread.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/secret.hpp"
#include "baton/tcp_store.hpp"
#include "core/fd.hpp"
#include "core/rate_limit.hpp"
#include "store/kv_map.hpp"
#include "store/server_budget.hpp"
#include "store/server_connection.hpp"
#include "store/tcp_protocol.hpp"
#include "store/wait_list.hpp"

namespace baton {

class TcpStoreServer::Impl {
 public:
  explicit Impl(TcpStoreServerOptions options);
  ~Impl() { stop(); }

  uint16_t port() const { return port_; }
  const std::string& host() const { return options_.host; }
  const std::string& address() const { return address_; }
  void stop();
  TcpStoreServerStats stats() const;

 private:
  using Conn = store::server::Conn;
  using Clock = store::server::Clock;
  enum class ReadResult { kProgress, kWouldBlock, kClosed };

  // ---- tcp_store_server.cc: the loop, accepting, the handshake, closing
  void log_start() const;
  void run(const std::stop_token& stop);
  int next_timeout_ms() const;
  void add_to_epoll(int fd, uint32_t events, uint64_t id);
  void set_interest(Conn& c, uint32_t events);
  void accept_all();
  bool make_room_for_newcomer();
  bool evict_oldest_handshake(const std::string& why);
  void refuse_full(int fd, const std::string& peer);
  void on_event(Conn& c, uint32_t events);
  ReadResult read_into(Conn& c, uint8_t* data, size_t size, size_t& got);
  void read_requests(Conn& c);
  void on_fixed_field(Conn& c);
  void on_hello(Conn& c);
  void on_client_nonce(Conn& c);
  void on_client_proof(Conn& c);
  std::array<uint8_t, store::tcp::kHelloAckBytes> challenge_ack() const;
  void established(Conn& c);
  void refuse_handshake(Conn& c, store::tcp::HelloStatus status, const std::string& why);
  void expire_handshakes(Clock::time_point now);
  void reject(Conn& c, const std::string& reason, bool reply);
  void close_conn(Conn& c, const std::string& why);

  // ---- server_requests.cc: frames, requests, replies, the buffer cap
  void grow_body(Conn& c, size_t want);
  void on_frame_header(Conn& c);
  void discard_body(Conn& c, ReadResult& r);
  void on_request(Conn& c);
  void release_body(Conn& c);
  void store_changed(std::string_view key, const store::KvMap::Value& old);
  bool all_present(std::span<const std::string_view> keys) const;
  void park(Conn& c, bool is_get, std::vector<std::string> keys, uint64_t timeout_ms);
  void wake(std::string_view key);
  void expire_waiters(Clock::time_point now);
  void answer(const store::ParkedRequest& request, bool timed_out);
  void reply(Conn& c, store::tcp::Status status, std::span<const uint8_t> body);
  void reply_value(Conn& c, store::KvMap::Value value, bool in_map);
  void send(Conn& c, std::vector<uint8_t> bytes, store::server::ConnState after);
  void flush(Conn& c);
  void write_done(Conn& c);
  void mark_stalled(Conn& c, bool progressed);
  void unstall(Conn& c);
  void recharge(Conn& c);
  void release_reply(Conn& c);
  bool make_room(uint64_t need);

  const TcpStoreServerOptions options_;
  const uint64_t max_value_;
  std::shared_ptr<const auth::Secret> secret_;  // nullptr: unauthenticated
  UniqueFd listen_;
  UniqueFd wake_;
  UniqueFd epoll_;
  uint16_t port_ = 0;
  std::string address_;
  uint64_t epoch_ = 0;

  // Owned by the loop thread.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> dead_;  // closed this iteration; erased at its end
  uint64_t next_conn_id_ = store::server::kFirstConnId;
  store::KvMap map_;
  store::WaitList waits_;
  // Connections in accept order with their handshake deadlines; entries of
  // connections that finished or closed are skipped when met.
  std::deque<std::pair<Clock::time_point, uint64_t>> handshakes_;
  std::set<std::pair<Clock::time_point, uint64_t>> stalled_;  // replies waiting on the peer
  store::server::BufferBudget budget_;
  std::array<uint8_t, store::server::kDiscardChunk> discard_{};
  bool accept_paused_ = false;
  Clock::time_point accept_resume_{};

  // Warnings a flood could repeat, at most 10 per 10 s each.
  log::RateLimit bad_input_log_;
  log::RateLimit auth_log_;
  log::RateLimit handshake_log_;
  log::RateLimit full_log_;
  log::RateLimit budget_log_;

  // Read by stats() from any thread.
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> in_handshake_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> keys_{0};
  std::atomic<uint64_t> largest_buffer_{0};
  std::atomic<uint64_t> authenticated_{0};
  std::atomic<uint64_t> auth_failures_{0};
  std::atomic<uint64_t> handshake_timeouts_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> refused_full_{0};
  std::atomic<uint64_t> buffered_{0};
  std::atomic<uint64_t> stalled_closed_{0};
  std::atomic<uint64_t> busy_{0};

  std::mutex stop_mutex_;
  std::jthread thread_;  // last: started after everything above exists
};

}  // namespace baton
