// KvMap: the key-value semantics of a store, without any waiting.
//
// HashStore, FileStore (replaying its log) and the TcpStore server all keep
// their data in a KvMap, so that add(), compare_set() and friends behave the
// same everywhere. Keys are looked up by string_view without copies.
//
// Thread safety: none; the owning store locks around it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace baton::store {

class KvMap {
 public:
  using Bytes = std::vector<uint8_t>;

  // Returns whether the key was created (it did not exist before).
  bool set(std::string_view key, Bytes value);
  // The value, or nullptr when the key is missing. Valid until the next change.
  const Bytes* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Store::add semantics; throws InvalidArgument when the value is not a
  // counter or the sum overflows. `created` tells whether the key was new.
  int64_t add(std::string_view key, int64_t delta, bool* created = nullptr);
  // Store::compare_set semantics; `created` as for add.
  Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                    std::span<const uint8_t> desired, bool* created = nullptr);
  // Removes key; returns whether it existed.
  bool erase(std::string_view key);
  size_t size() const { return map_.size(); }
  void clear() { map_.clear(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, Bytes, Hash, std::equal_to<>> map_;
};

}  // namespace baton::store
