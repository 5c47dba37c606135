// WaitList: the get/wait requests a TcpStore server has parked until their
// keys exist or their deadline passes.
//
// Each parked request is registered under one of its missing keys at a time.
// When that key is created, the request checks its other keys and either is
// ready (returned to the server to answer) or moves on to its next missing
// key, so a wait on N keys costs O(N) in total however the keys arrive.
// Deadlines sit in an ordered map; the server sleeps until next_deadline().
//
// Thread safety: none; owned by the server's loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/kv_map.hpp"

namespace baton::store {

struct ParkedRequest {
  uint64_t conn = 0;  // the server's connection id
  bool is_get = false;
  std::vector<std::string> keys;
  uint64_t timeout_ms = 0;  // as the client sent it, for the timeout reply
};

class WaitList {
 public:
  using Clock = std::chrono::steady_clock;

  // Parks a request of which at least one key is missing from map; returns
  // its id (never 0).
  uint64_t park(ParkedRequest request, Clock::time_point deadline, const KvMap& map);
  // key was just created in map: removes and returns the requests that are
  // now complete.
  std::vector<ParkedRequest> on_key_created(std::string_view key, const KvMap& map);
  // Removes and returns the requests whose deadline is at or before now.
  std::vector<ParkedRequest> take_expired(Clock::time_point now);
  // Drops a request (its client hung up). Unknown ids are ignored.
  void forget(uint64_t id);

  std::optional<Clock::time_point> next_deadline() const;
  size_t size() const { return entries_.size(); }
  void clear();

 private:
  struct Entry {
    ParkedRequest request;
    std::multimap<Clock::time_point, uint64_t>::iterator deadline;
    std::string registered_key;  // the missing key it is listed under
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  ParkedRequest remove(uint64_t id);
  void unlist(uint64_t id, const std::string& key);

  std::unordered_map<uint64_t, Entry> entries_;
  std::unordered_map<std::string, std::vector<uint64_t>, Hash, std::equal_to<>> by_key_;
  std::multimap<Clock::time_point, uint64_t> deadlines_;
  uint64_t next_id_ = 1;
};

}  // namespace baton::store
