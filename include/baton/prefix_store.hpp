// PrefixStore: a namespace inside another store, one per group.
//
// Every key k becomes "<prefix>/k" in the underlying store, so groups (and
// successive process groups on one store) never see each other's keys. The
// underlying store is shared, not owned exclusively; prefixes nest
// (PrefixStore("a", PrefixStore("b", s)) uses "b/a/k").
//
// Timeouts: get() and the one-argument wait() honour this store's timeout()
// (copied from the underlying store at construction, changeable with
// set_timeout). num_keys() counts every key of the underlying store, as c10d
// does: a store cannot list keys by prefix.
//
// Thread safety: as the underlying store (every Store is thread-safe).
#pragma once

#include <memory>
#include <string>

#include "baton/store.hpp"

namespace baton {

class PrefixStore final : public Store {
 public:
  // Throws InvalidArgument when store is null.
  PrefixStore(std::string prefix, std::shared_ptr<Store> store);

  using Store::set;
  using Store::wait;

  // Each forwards to the underlying store with the prefixed key(s); blocking,
  // timeouts and errors are the underlying store's.
  void set(std::string_view key, std::span<const uint8_t> value) override;
  Bytes get(std::string_view key) override;
  int64_t add(std::string_view key, int64_t delta) override;
  Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                    std::span<const uint8_t> desired) override;
  bool check(std::span<const std::string> keys) override;
  void wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) override;
  bool delete_key(std::string_view key) override;
  int64_t num_keys() override;

  const std::string& prefix() const { return prefix_; }
  const std::shared_ptr<Store>& underlying() const { return store_; }

 private:
  std::string full_key(std::string_view key) const;
  std::vector<std::string> full_keys(std::span<const std::string> keys) const;

  std::string prefix_;
  std::shared_ptr<Store> store_;
};

}  // namespace baton
