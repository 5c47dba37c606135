// StoreAdapter: Baton's Store interface over the c10d::Store that torch
// hands a backend (a c10d::PrefixStore per group, over the job's TCPStore,
// FileStore or HashStore), so Baton's rendezvous runs where gloo's does.
//
// get() and wait() poll with check() and short sleeps (1 ms growing to
// 20 ms) up to their timeout instead of calling c10d's blocking get/wait:
// torch 1.13's TCPStore does not wake a client waiting on a key that
// compareSet created, and Baton's join waits on exactly such keys. Every
// c10d error (a c10::Error or std::exception from torch's store) comes out
// as a baton::ConnectionError naming the store; the polling timeout is a
// baton::TimeoutError naming the keys.
//
// After a group's setup Baton uses its store only to diagnose a timeout and
// for monitored_barrier; a store whose server (rank 0's TCPStore) has gone
// then gives errors, never a crash.
//
// Thread safety: every call may come from any thread. Calls to the
// underlying c10d store are serialised by a mutex (a poll's sleep is taken
// outside it).
#pragma once

#include <mutex>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "baton/store.hpp"

namespace baton_torch {

class StoreAdapter final : public baton::Store {
 public:
  StoreAdapter(c10::intrusive_ptr<c10d::Store> store, std::chrono::milliseconds timeout);

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
  // Runs fn on the c10d store under the mutex; torch's errors become
  // baton::ConnectionError("torch store: <op> <key>: <what>").
  template <class Fn>
  auto call(const char* op, std::string_view key, Fn&& fn);

  std::mutex mutex_;
  const c10::intrusive_ptr<c10d::Store> store_;  // GUARDED_BY(mutex_) for calls
};

}  // namespace baton_torch
