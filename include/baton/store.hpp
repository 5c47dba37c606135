// Store: the key-value store that ranks use to find each other.
//
// About ten operations, shared by every implementation (HashStore in memory,
// FileStore on a shared file system, TcpStore over the network) and by the
// PrefixStore decorator that gives each group its own namespace. Values are
// bytes; string overloads are provided for convenience.
//
// Blocking: get() and wait() block until the keys exist or the timeout passes,
// then throw TimeoutError naming the keys and the timeout. Every other call
// returns as soon as the store has answered. A store whose server or file is
// gone throws ConnectionError or IoError naming it.
//
// Thread safety: every Store may be used from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton {

class Store {
 public:
  using Bytes = std::vector<uint8_t>;
  // The default for every blocking call: 5 minutes, as torch.distributed.
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(5)};

  virtual ~Store() = default;

  // Sets key to value, replacing any earlier value.
  virtual void set(std::string_view key, std::span<const uint8_t> value) = 0;
  void set(std::string_view key, std::string_view value);
  // The value of key; waits up to timeout() for the key to be set.
  virtual Bytes get(std::string_view key) = 0;
  std::string get_string(std::string_view key);
  // Adds delta to the integer counter at key (a missing key counts as 0) and
  // returns the new value. The counter's value is stored as decimal text, so
  // get() of a counter reads e.g. "42".
  virtual int64_t add(std::string_view key, int64_t delta) = 0;
  // Atomically: if key holds `expected` (or is missing and `expected` is
  // empty), set it to `desired`. Returns the value the key holds afterwards
  // (for a missing key with a non-empty `expected`: `expected`, as c10d).
  virtual Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                            std::span<const uint8_t> desired) = 0;
  // Whether every key exists, without waiting.
  virtual bool check(std::span<const std::string> keys) = 0;
  // Waits until every key exists, or throws TimeoutError listing the missing keys.
  virtual void wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) = 0;
  void wait(std::span<const std::string> keys) { wait(keys, timeout()); }
  // Removes key; returns whether it existed.
  virtual bool delete_key(std::string_view key) = 0;
  // How many keys the store holds.
  virtual int64_t num_keys() = 0;

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 protected:
  Store() = default;
  explicit Store(std::chrono::milliseconds timeout) : timeout_(timeout) {}

 private:
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
};

}  // namespace baton
