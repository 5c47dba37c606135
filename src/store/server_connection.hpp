// The TcpStoreServer's per-connection state and limits (private to the
// server: server_impl.hpp, tcp_store_server.cc, server_requests.cc).
//
// A connection is a small state machine:
//   kHello -> [kNonce -> kProof] -> kHeader -> kBody -> (reply) -> kHeader ...
// The handshake states read into fixed arrays of the Conn: nothing the peer
// controls is allocated before it has proved the job secret. kDiscard skips
// the body of a request refused as "busy"; kWaiting is a get/wait parked in
// the WaitList; kWriting a reply that did not fit the socket buffer (nothing
// is read meanwhile: one outstanding reply per connection is the
// backpressure).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "store/kv_map.hpp"
#include "store/tcp_protocol.hpp"

namespace baton::store::server {

using Clock = std::chrono::steady_clock;
inline constexpr auto kLog = log::Subsys::kStore;

inline constexpr uint64_t kListenId = 1;
inline constexpr uint64_t kWakeId = 2;
inline constexpr uint64_t kFirstConnId = 16;
inline constexpr size_t kReadChunk = size_t{256} * 1024;
// Larger body buffers are freed after each request; what is kept is counted
// against max_buffered_bytes like everything else.
inline constexpr size_t kKeepBufferBytes = size_t{4} * 1024;
inline constexpr size_t kDiscardChunk = size_t{64} * 1024;
inline constexpr auto kAcceptPause = std::chrono::milliseconds(100);
inline constexpr uint64_t kMaxWaitMs =
    uint64_t{365} * 24 * 3600 * 1000;  // a year: no overflow below
inline constexpr int kMaxEvents = 128;
inline constexpr int kRequestsPerWakeup = 32;  // fairness between busy connections

enum class ConnState { kHello, kNonce, kProof, kHeader, kBody, kDiscard, kWaiting, kWriting };

struct Conn {
  uint64_t id = 0;
  UniqueFd fd;
  std::string peer;  // "host:port", formatted by the server at accept
  ConnState state = ConnState::kHello;
  ConnState after_write = ConnState::kHeader;  // where kWriting goes once the reply is out
  bool dead = false;
  bool established = false;  // past the handshake: requests may be read
  uint32_t events = 0;       // current epoll interest

  // The handshake, in fixed arrays (docs/wire_protocol.md).
  std::array<uint8_t, tcp::kHelloBytes> hello{};
  auth::Nonce client_nonce{};
  auth::Nonce server_nonce{};
  auth::Proof proof{};
  size_t fixed_got = 0;  // bytes of the fixed field being read (hello, nonce, proof, header)

  std::array<uint8_t, tcp::kFrameHeaderBytes> head{};
  tcp::FrameHeader frame;
  std::vector<uint8_t> body;  // grows as bytes arrive, up to frame.length
  size_t body_got = 0;
  uint64_t discard_left = 0;  // kDiscard: body bytes still to skip

  // The reply being written: `out`, then the shared `out_value` (a stored
  // value written straight from the map's copy, never duplicated).
  std::vector<uint8_t> out;
  KvMap::Value out_value;
  size_t out_sent = 0;
  std::optional<Clock::time_point> stalled_since;  // the reply met a full socket buffer

  uint64_t waiter = 0;        // its parked request in the WaitList, 0 if none
  uint64_t parked_bytes = 0;  // key bytes of that request
  uint64_t charge = 0;        // bytes counted against max_buffered_bytes (BufferBudget)
};

template <class T>
void raise_to(std::atomic<T>& a, T value) {
  T now = a.load(std::memory_order_relaxed);
  while (now < value && !a.compare_exchange_weak(now, value, std::memory_order_relaxed)) {
  }
}

}  // namespace baton::store::server
