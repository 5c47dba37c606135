// BufferBudget: the bytes a TcpStoreServer holds for its clients, counted
// against max_buffered_bytes (BATON_STORE_MAX_BUFFERED_BYTES).
//
// What counts (an upper bound of the memory a client can make the server
// hold beyond the keys themselves): each connection's charge, which is its
// request body as claimed by the frame header (from the header on, before
// the bytes arrive) or the buffer it kept, its reply buffer and its parked
// wait's keys; plus every stored value that only unread replies still hold.
// A value still in the map costs nothing more however many replies share
// it: 30 unread gets of one 32 MiB value count 0 while the key holds it, and
// 32 MiB (once) after it is overwritten or deleted.
//
// Thread safety: none; owned by the server's loop thread.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "store/kv_map.hpp"

namespace baton::store::server {

class BufferBudget {
 public:
  explicit BufferBudget(uint64_t limit) : limit_(limit) {}

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }
  bool fits(uint64_t more) const { return more <= limit_ && used_ <= limit_ - more; }
  bool over() const { return used_ > limit_; }

  // A connection's charge becomes `now` (its old value is in `charge`).
  void recharge(uint64_t& charge, uint64_t now);

  // A reply starts to hold `value`; `in_map` tells whether the map holds it
  // too (a value built for the reply alone counts at once).
  void hold(const KvMap::Value& value, bool in_map);
  // A reply no longer holds it (written, or its connection closed).
  void release(const KvMap::Value& value);
  // `value` left the map (overwritten or deleted): if replies still hold
  // it, its bytes count from now on.
  void dropped_from_map(const KvMap::Value& value);
  // Whether replies hold `value` at all (dropped_from_map is only needed then).
  bool held(const KvMap::Value& value) const { return held_.contains(value.get()); }
  // Whether only replies hold `value` (closing them frees it).
  bool orphaned(const KvMap::Value& value) const;

 private:
  struct Held {
    uint64_t replies = 0;
    bool counted = false;  // left the map: its bytes are in used_
  };
  const uint64_t limit_;
  uint64_t used_ = 0;
  std::unordered_map<const KvMap::Bytes*, Held> held_;
};

}  // namespace baton::store::server
