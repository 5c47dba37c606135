// KvMap: the key-value semantics of a store, without any waiting.
//
// HashStore, FileStore (replaying its log) and the TcpStore server all keep
// their data in a KvMap, so that add(), compare_set() and friends behave the
// same everywhere. Keys are looked up by string_view without copies.
//
// Values are immutable and shared (Value, a shared_ptr to const bytes): a
// change puts a new value in place of the old one, so the TcpStore server can
// write one value to many clients, however slowly they read, without a copy
// per reply (docs/wire_protocol.md, "Memory").
//
// Thread safety: none; the owning store locks around it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace baton::store {

class KvMap {
 public:
  using Bytes = std::vector<uint8_t>;
  using Value = std::shared_ptr<const Bytes>;

  // Returns whether the key was created (it did not exist before).
  bool set(std::string_view key, Bytes value);
  // The value, or nullptr when the key is missing. Valid until the next change.
  const Bytes* find(std::string_view key) const;
  // The value shared (it outlives later changes), or nullptr when missing.
  Value share(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Store::add semantics; throws InvalidArgument when the value is not a
  // counter or the sum overflows. `created` tells whether the key was new.
  int64_t add(std::string_view key, int64_t delta, bool* created = nullptr);
  // Store::compare_set semantics (the value after, or `expected` when the
  // key is missing and `expected` is not empty); `created` as for add.
  Value compare_set(std::string_view key, std::span<const uint8_t> expected,
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
  std::unordered_map<std::string, Value, Hash, std::equal_to<>> map_;
};

}  // namespace baton::store
