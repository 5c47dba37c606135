// Helpers for transport tests: envelopes, deterministic payloads, waiting on
// requests, and store-based synchronisation between ranks.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "transport/transport.hpp"

namespace baton::transport::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline Envelope p2p(int64_t tag) {
  Envelope e;
  e.tag = tag;
  return e;
}

inline Envelope coll(uint64_t seq, int64_t tag, uint8_t kind, uint64_t count, int32_t root = -1) {
  Envelope e;
  e.channel = Channel::kCollective;
  e.seq = seq;
  e.tag = tag;
  e.op.kind = kind;
  e.op.count = count;
  e.op.root = root;
  return e;
}

// Deterministic bytes for message `id`: byte i is a function of (id, i).
inline std::vector<std::byte> pattern(size_t size, uint64_t id) {
  std::vector<std::byte> out(size);
  uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    if ((i & 7) == 0) x = x * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = static_cast<std::byte>(x >> (8 * (i & 7)));
  }
  return out;
}

// Checks a received buffer against pattern(size, id); reports the first bad index.
inline void expect_pattern(const std::vector<std::byte>& got, size_t size, uint64_t id) {
  ASSERT_GE(got.size(), size);
  const std::vector<std::byte> want = pattern(size, id);
  for (size_t i = 0; i < size; ++i) {
    if (got[i] != want[i]) {
      ADD_FAILURE() << "message " << id << " of " << size << " bytes: byte " << i << " is "
                    << std::to_integer<int>(got[i]) << ", expected "
                    << std::to_integer<int>(want[i]);
      return;
    }
  }
}

// Waits for the request (10 s at most) and fails the test on error.
inline void wait_ok(const RequestPtr& r, std::chrono::milliseconds timeout = 20s) {
  ASSERT_TRUE(r->wait_until(Clock::now() + timeout)) << "request did not complete in time";
  if (auto e = r->error()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      FAIL() << "request failed: " << ex.what();
    }
  }
}

// Waits for the request and returns its error message if it is an E.
template <class E>
std::string wait_error(const RequestPtr& r, std::chrono::milliseconds timeout = 10s) {
  if (!r->wait_until(Clock::now() + timeout)) return "<timed out>";
  if (!r->error()) return "<succeeded>";
  try {
    std::rethrow_exception(r->error());
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<wrong error type> ") + e.what();
  }
}

// Every rank of `size` sets "<name>/<rank>" and waits for all of them.
inline void store_barrier(Store& store, const std::string& name, int rank, int size) {
  store.set(name + "/" + std::to_string(rank), std::string_view("1"));
  std::vector<std::string> keys;
  for (int r = 0; r < size; ++r) keys.push_back(name + "/" + std::to_string(r));
  store.wait(keys, 30s);
}
inline void signal(Store& store, const std::string& key) {
  store.set(key, std::string_view("1"));
}
inline void await(Store& store, const std::string& key) {
  store.wait(std::vector<std::string>{key}, 30s);
}

}  // namespace baton::transport::testing
