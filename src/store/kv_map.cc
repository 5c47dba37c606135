// Store semantics on a plain map; see kv_map.hpp.
#include "store/kv_map.hpp"

#include <algorithm>

#include "store/store_common.hpp"

namespace baton::store {

bool KvMap::set(std::string_view key, Bytes value) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second = std::move(value);
    return false;
  }
  map_.emplace(std::string(key), std::move(value));
  return true;
}

const KvMap::Bytes* KvMap::find(std::string_view key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t KvMap::add(std::string_view key, int64_t delta, bool* created) {
  auto it = map_.find(key);
  const int64_t old = it == map_.end() ? 0 : parse_counter(key, it->second);
  const int64_t sum = add_counter(key, old, delta);
  const bool is_new = set(key, counter_bytes(sum));
  if (created != nullptr) *created = is_new;
  return sum;
}

KvMap::Bytes KvMap::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                std::span<const uint8_t> desired, bool* created) {
  if (created != nullptr) *created = false;
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (!expected.empty()) return Bytes(expected.begin(), expected.end());
    set(key, Bytes(desired.begin(), desired.end()));
    if (created != nullptr) *created = true;
    return Bytes(desired.begin(), desired.end());
  }
  if (std::ranges::equal(it->second, expected)) it->second.assign(desired.begin(), desired.end());
  return it->second;
}

bool KvMap::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  map_.erase(it);
  return true;
}

}  // namespace baton::store
