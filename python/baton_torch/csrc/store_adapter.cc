// StoreAdapter: Baton's Store over torch's c10d::Store (see store_adapter.hpp).
#include "store_adapter.hpp"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "baton/error.hpp"

namespace baton_torch {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<uint8_t> to_vector(std::span<const uint8_t> bytes) {
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

std::string key_list(std::span<const std::string> keys) {
  std::string out;
  for (const auto& k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

StoreAdapter::StoreAdapter(c10::intrusive_ptr<c10d::Store> store, std::chrono::milliseconds timeout)
    : baton::Store(timeout), store_(std::move(store)) {
  if (!store_) throw baton::InvalidArgument("baton_torch: the c10d store is null");
}

template <class Fn>
auto StoreAdapter::call(const char* op, std::string_view key, Fn&& fn) {
  std::lock_guard lock(mutex_);
  try {
    return fn(*store_);
  } catch (const baton::Error&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error's what() carries a C++ backtrace on later lines; keep the first.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw baton::ConnectionError("torch store: " + std::string(op) + " '" + std::string(key) +
                                 "' failed: " + what);
  }
}

void StoreAdapter::set(std::string_view key, std::span<const uint8_t> value) {
  call("set", key, [&](c10d::Store& s) { s.set(std::string(key), to_vector(value)); });
}

baton::Store::Bytes StoreAdapter::get(std::string_view key) {
  const std::string k(key);
  wait(std::span<const std::string>(&k, 1), timeout());
  return call("get", key, [&](c10d::Store& s) { return s.get(k); });
}

int64_t StoreAdapter::add(std::string_view key, int64_t delta) {
  return call("add", key, [&](c10d::Store& s) { return s.add(std::string(key), delta); });
}

baton::Store::Bytes StoreAdapter::compare_set(std::string_view key,
                                              std::span<const uint8_t> expected,
                                              std::span<const uint8_t> desired) {
  return call("compare_set", key, [&](c10d::Store& s) {
    return s.compareSet(std::string(key), to_vector(expected), to_vector(desired));
  });
}

bool StoreAdapter::check(std::span<const std::string> keys) {
  const std::vector<std::string> list(keys.begin(), keys.end());
  return call("check", key_list(keys), [&](c10d::Store& s) { return s.check(list); });
}

void StoreAdapter::wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  auto pause = std::chrono::microseconds(1000);
  const auto longest = std::chrono::microseconds(20000);
  for (;;) {
    if (check(keys)) return;
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (timeout.count() > 0 && waited >= timeout) {
      throw baton::TimeoutError("torch store: keys [" + key_list(keys) + "] not set after " +
                                std::to_string(timeout.count()) + " ms");
    }
    auto sleep = pause;
    if (timeout.count() > 0) {
      sleep = std::min<std::chrono::microseconds>(sleep, timeout - waited);
    }
    std::this_thread::sleep_for(sleep);
    pause = std::min(longest, pause * 2);
  }
}

bool StoreAdapter::delete_key(std::string_view key) {
  return call("delete_key", key, [&](c10d::Store& s) { return s.deleteKey(std::string(key)); });
}

int64_t StoreAdapter::num_keys() {
  return call("num_keys", "", [](c10d::Store& s) { return s.getNumKeys(); });
}

}  // namespace baton_torch
