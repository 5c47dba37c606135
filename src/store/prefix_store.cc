// PrefixStore: prepends "<prefix>/" to every key.
#include "baton/prefix_store.hpp"

#include "baton/error.hpp"

namespace baton {

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> store)
    : prefix_(std::move(prefix)), store_(std::move(store)) {
  if (!store_) throw InvalidArgument("PrefixStore '" + prefix_ + "': the underlying store is null");
  set_timeout(store_->timeout());
}

std::string PrefixStore::full_key(std::string_view key) const {
  std::string out;
  out.reserve(prefix_.size() + 1 + key.size());
  out += prefix_;
  out += '/';
  out += key;
  return out;
}

std::vector<std::string> PrefixStore::full_keys(std::span<const std::string> keys) const {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) out.push_back(full_key(key));
  return out;
}

void PrefixStore::set(std::string_view key, std::span<const uint8_t> value) {
  store_->set(full_key(key), value);
}

Store::Bytes PrefixStore::get(std::string_view key) {
  // Wait with this store's timeout, then read (the underlying get returns at
  // once unless the key was deleted in between).
  const std::string keys[] = {full_key(key)};
  store_->wait(keys, timeout());
  return store_->get(keys[0]);
}

int64_t PrefixStore::add(std::string_view key, int64_t delta) {
  return store_->add(full_key(key), delta);
}

Store::Bytes PrefixStore::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                      std::span<const uint8_t> desired) {
  return store_->compare_set(full_key(key), expected, desired);
}

bool PrefixStore::check(std::span<const std::string> keys) {
  return store_->check(full_keys(keys));
}

void PrefixStore::wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) {
  store_->wait(full_keys(keys), timeout);
}

bool PrefixStore::delete_key(std::string_view key) {
  return store_->delete_key(full_key(key));
}

int64_t PrefixStore::num_keys() {
  return store_->num_keys();
}

}  // namespace baton
