// HashStore: an in-memory Store for ranks that are threads of one process.
//
// Tests and single-process jobs use it where a FileStore or TcpStore would be
// overkill. Waits block on a condition variable, so a set() from another
// thread wakes them at once.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "baton/store.hpp"

namespace baton {

namespace store {
class KvMap;
}

class HashStore final : public Store {
 public:
  explicit HashStore(std::chrono::milliseconds timeout = kDefaultTimeout);
  ~HashStore() override;

  using Store::set;
  using Store::wait;

  // None of these block, except get() and wait(): they wait on a condition
  // variable until the keys are set or the timeout passes (TimeoutError naming
  // the keys and the timeout). A key longer than 8 KiB or an add() on a value
  // that is not a counter throws InvalidArgument.
  void set(std::string_view key, std::span<const uint8_t> value) override;
  Bytes get(std::string_view key) override;
  int64_t add(std::string_view key, int64_t delta) override;
  Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                    std::span<const uint8_t> desired) override;
  bool check(std::span<const std::string> keys) override;
  void wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) override;
  bool delete_key(std::string_view key) override;
  int64_t num_keys() override;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;    // notified whenever a key is created
  std::unique_ptr<store::KvMap> map_;  // GUARDED_BY(mutex_)
};

}  // namespace baton
