// Store semantics on a plain map; see kv_map.hpp.
#include "store/kv_map.hpp"

#include <algorithm>

#include "store/store_common.hpp"

namespace baton::store {

namespace {

KvMap::Value make_value(std::span<const uint8_t> bytes) {
  return std::make_shared<const KvMap::Bytes>(bytes.begin(), bytes.end());
}

}  // namespace

bool KvMap::set(std::string_view key, Bytes value) {
  Value shared = std::make_shared<const Bytes>(std::move(value));
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second = std::move(shared);
    return false;
  }
  map_.emplace(std::string(key), std::move(shared));
  return true;
}

const KvMap::Bytes* KvMap::find(std::string_view key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second.get();
}

KvMap::Value KvMap::share(std::string_view key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

int64_t KvMap::add(std::string_view key, int64_t delta, bool* created) {
  auto it = map_.find(key);
  const int64_t old = it == map_.end() ? 0 : parse_counter(key, *it->second);
  const int64_t sum = add_counter(key, old, delta);
  const bool is_new = set(key, counter_bytes(sum));
  if (created != nullptr) *created = is_new;
  return sum;
}

KvMap::Value KvMap::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                std::span<const uint8_t> desired, bool* created) {
  if (created != nullptr) *created = false;
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (!expected.empty()) return make_value(expected);
    Value value = make_value(desired);
    map_.emplace(std::string(key), value);
    if (created != nullptr) *created = true;
    return value;
  }
  if (std::ranges::equal(*it->second, expected)) it->second = make_value(desired);
  return it->second;
}

bool KvMap::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  map_.erase(it);
  return true;
}

}  // namespace baton::store
