// HashStore: a KvMap behind a mutex and a condition variable.
#include "baton/hash_store.hpp"

#include "baton/error.hpp"
#include "store/kv_map.hpp"
#include "store/store_common.hpp"

namespace baton {

namespace {
constexpr std::string_view kWhere = "HashStore";
}

HashStore::HashStore(std::chrono::milliseconds timeout)
    : Store(timeout), map_(std::make_unique<store::KvMap>()) {}

HashStore::~HashStore() = default;

void HashStore::set(std::string_view key, std::span<const uint8_t> value) {
  store::check_key(key, "set");
  {
    std::lock_guard lock(mutex_);
    map_->set(key, Bytes(value.begin(), value.end()));
  }
  changed_.notify_all();
}

Store::Bytes HashStore::get(std::string_view key) {
  store::check_key(key, "get");
  const auto timeout = this->timeout();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (const Bytes* value = map_->find(key)) return *value;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && !map_->contains(key)) {
      const std::string keys[] = {std::string(key)};
      throw TimeoutError(store::timeout_message(kWhere, "get", keys, timeout));
    }
  }
}

int64_t HashStore::add(std::string_view key, int64_t delta) {
  store::check_key(key, "add");
  int64_t result = 0;
  {
    std::lock_guard lock(mutex_);
    result = map_->add(key, delta);
  }
  changed_.notify_all();
  return result;
}

Store::Bytes HashStore::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                    std::span<const uint8_t> desired) {
  store::check_key(key, "compare_set");
  Bytes result;
  {
    std::lock_guard lock(mutex_);
    result = *map_->compare_set(key, expected, desired);
  }
  changed_.notify_all();
  return result;
}

bool HashStore::check(std::span<const std::string> keys) {
  store::check_keys(keys, "check");
  std::lock_guard lock(mutex_);
  for (const std::string& key : keys) {
    if (!map_->contains(key)) return false;
  }
  return true;
}

void HashStore::wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) {
  store::check_keys(keys, "wait");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    std::vector<std::string> missing;
    for (const std::string& key : keys) {
      if (!map_->contains(key)) missing.push_back(key);
    }
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw TimeoutError(store::timeout_message(kWhere, "wait", missing, timeout));
    }
    changed_.wait_until(lock, deadline);
  }
}

bool HashStore::delete_key(std::string_view key) {
  store::check_key(key, "delete_key");
  std::lock_guard lock(mutex_);
  return map_->erase(key);
}

int64_t HashStore::num_keys() {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(map_->size());
}

}  // namespace baton
