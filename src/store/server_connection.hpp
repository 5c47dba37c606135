// The TcpStoreServer's per-connection state and limits (private to
// tcp_store_server.cc; see the state machine described there).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/fd.hpp"
#include "core/log.hpp"
#include "store/tcp_protocol.hpp"

namespace baton::store::server {

using Clock = std::chrono::steady_clock;
inline constexpr auto kLog = log::Subsys::kStore;

inline constexpr uint64_t kListenId = 1;
inline constexpr uint64_t kWakeId = 2;
inline constexpr uint64_t kFirstConnId = 16;
inline constexpr size_t kReadChunk = size_t{256} * 1024;
inline constexpr size_t kKeepBufferBytes = size_t{1} << 20;  // larger buffers are freed after each request
inline constexpr auto kHelloTimeout = std::chrono::seconds(30);
inline constexpr auto kAcceptPause = std::chrono::milliseconds(100);
inline constexpr uint64_t kMaxWaitMs = uint64_t{365} * 24 * 3600 * 1000;  // a year: no overflow below
inline constexpr int kMaxEvents = 128;
inline constexpr int kRequestsPerWakeup = 32;  // fairness between busy connections

enum class ConnState { kHello, kHeader, kBody, kWaiting, kWriting };

struct Conn {
  uint64_t id = 0;
  UniqueFd fd;
  std::string peer;
  ConnState state = ConnState::kHello;
  bool dead = false;
  uint32_t events = 0;            // current epoll interest
  std::array<uint8_t, 8> head{};  // the hello, then each frame header
  size_t head_got = 0;
  tcp::FrameHeader frame;
  std::vector<uint8_t> body;  // grows as bytes arrive, up to frame.length
  size_t body_got = 0;
  std::vector<uint8_t> out;  // the reply being written
  size_t out_sent = 0;
  uint64_t waiter = 0;  // its parked request in the WaitList, 0 if none
};

template <class T>
void raise_to(std::atomic<T>& a, T value) {
  T now = a.load(std::memory_order_relaxed);
  while (now < value && !a.compare_exchange_weak(now, value, std::memory_order_relaxed)) {
  }
}

}  // namespace baton::store::server
