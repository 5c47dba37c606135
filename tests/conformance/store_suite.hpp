// The Store conformance suite: one set of tests that every Store must pass.
//
// A store joins by providing a StoreFactory (a name and a function that
// creates a fresh store for one test) and one INSTANTIATE_TEST_SUITE_P line;
// see tests/store/store_conformance_test.cc. StoreUnderTest::open() returns
// another client of the same store (for HashStore, the same object), so the
// tests can play several ranks.
//
// Include this header in exactly one .cc file per test binary.
#pragma once

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "baton/error.hpp"
#include "baton/store.hpp"
#include "tests/store/store_test_util.hpp"

namespace baton::testing {

class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  // Another client of the same store; its timeout is 30 s unless a test sets one.
  virtual std::shared_ptr<Store> open() = 0;
};

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<StoreUnderTest>()> make;
};

inline void PrintTo(const StoreFactory& factory, std::ostream* os) {
  *os << factory.name;
}
inline std::string store_factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    under_test_ = GetParam().make();
    store_ = under_test_->open();
  }
  void TearDown() override {
    store_.reset();
    under_test_.reset();
  }
  std::shared_ptr<Store> open() { return under_test_->open(); }

  std::unique_ptr<StoreUnderTest> under_test_;
  std::shared_ptr<Store> store_;
};

TEST_P(StoreConformance, SetThenGetReturnsTheBytes) {
  const std::vector<uint8_t> value = {0, 1, 2, 255, 0, 42};
  store_->set("k", value);
  EXPECT_EQ(store_->get("k"), value);
  store_->set("k", std::string_view("second"));
  EXPECT_EQ(store_->get_string("k"), "second");
  store_->set("empty", std::string_view(""));
  EXPECT_TRUE(store_->get("empty").empty());
  // Another client sees the same keys.
  auto other = open();
  EXPECT_EQ(other->get_string("k"), "second");
}

TEST_P(StoreConformance, AddCountsFromZeroAndStoresDecimalText) {
  EXPECT_EQ(store_->add("counter", 5), 5);
  EXPECT_EQ(store_->add("counter", -7), -2);
  EXPECT_EQ(open()->add("counter", 10), 8);
  EXPECT_EQ(store_->get_string("counter"), "8");
  EXPECT_EQ(store_->add("counter", 0), 8);
}

TEST_P(StoreConformance, AddOnANonCounterIsInvalidArgumentAndTheStoreKeepsWorking) {
  store_->set("text", std::string_view("hello"));
  try {
    store_->add("text", 1);
    FAIL() << "add on a text value did not throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("text"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("hello"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store_->get_string("text"), "hello");
  EXPECT_EQ(store_->add("other", 1), 1);
}

TEST_P(StoreConformance, CompareSetFollowsC10dSemantics) {
  const auto b = [](std::string_view s) { return bytes_of(s); };
  // Missing key, empty expected: sets desired.
  EXPECT_EQ(store_->compare_set("cs", b(""), b("one")), b("one"));
  EXPECT_EQ(store_->get_string("cs"), "one");
  // Matching expected: swaps.
  EXPECT_EQ(store_->compare_set("cs", b("one"), b("two")), b("two"));
  // Mismatch: returns the current value, changes nothing.
  EXPECT_EQ(store_->compare_set("cs", b("zzz"), b("three")), b("two"));
  EXPECT_EQ(store_->get_string("cs"), "two");
  // Missing key, non-empty expected: returns expected, does not create.
  EXPECT_EQ(store_->compare_set("absent", b("x"), b("y")), b("x"));
  const std::vector<std::string> absent = {"absent"};
  EXPECT_FALSE(store_->check(absent));
}

TEST_P(StoreConformance, CheckDeleteAndNumKeys) {
  EXPECT_EQ(store_->num_keys(), 0);
  const std::vector<std::string> both = {"a", "b"};
  EXPECT_FALSE(store_->check(both));
  store_->set("a", std::string_view("1"));
  EXPECT_FALSE(store_->check(both));
  store_->set("b", std::string_view("2"));
  EXPECT_TRUE(store_->check(both));
  EXPECT_EQ(store_->num_keys(), 2);
  EXPECT_TRUE(store_->delete_key("a"));
  EXPECT_FALSE(store_->delete_key("a"));
  EXPECT_FALSE(store_->check(both));
  EXPECT_EQ(open()->num_keys(), 1);
  const std::vector<std::string> none;
  EXPECT_TRUE(store_->check(none));
}

TEST_P(StoreConformance, GetTimesOutWithinBoundsNamingTheKeyAndTheStoreKeepsWorking) {
  store_->set_timeout(std::chrono::milliseconds(200));
  Stopwatch watch;
  try {
    store_->get("never-set");
    FAIL() << "get of a missing key returned";
  } catch (const TimeoutError& e) {
    const auto elapsed = watch.elapsed();
    EXPECT_GE(elapsed.count(), 200);
    EXPECT_LE(elapsed.count(), 500);
    EXPECT_NE(std::string(e.what()).find("never-set"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0.2 s"), std::string::npos) << e.what();
  }
  store_->set("after", std::string_view("ok"));
  EXPECT_EQ(store_->get_string("after"), "ok");
  EXPECT_EQ(store_->add("n", 1), 1);
}

TEST_P(StoreConformance, WaitTimeoutListsOnlyTheMissingKeys) {
  store_->set("present", std::string_view("1"));
  const std::vector<std::string> keys = {"present", "missing-one"};
  Stopwatch watch;
  try {
    store_->wait(keys, std::chrono::milliseconds(150));
    FAIL() << "wait returned with a key missing";
  } catch (const TimeoutError& e) {
    EXPECT_GE(watch.elapsed().count(), 150);
    EXPECT_LE(watch.elapsed().count(), 450);
    const std::string what = e.what();
    EXPECT_NE(what.find("missing-one"), std::string::npos) << what;
    EXPECT_EQ(what.find("present"), std::string::npos) << what;
    EXPECT_NE(what.find("0.15 s"), std::string::npos) << what;
  }
  store_->set("missing-one", std::string_view("now"));
  store_->wait(keys, std::chrono::milliseconds(0));
}

TEST_P(StoreConformance, GetBlocksUntilAnotherClientSetsTheKey) {
  auto writer = open();
  std::thread setter([&] {
    const std::vector<std::string> started = {"reader-started"};
    writer->wait(started);
    writer->set("late", std::string_view("arrived"));
  });
  store_->set("reader-started", std::string_view("1"));
  EXPECT_EQ(store_->get_string("late"), "arrived");
  setter.join();
}

TEST_P(StoreConformance, ManyThreadsWaitAndAllWakeUp) {
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    // Half share one client, half have their own.
    std::shared_ptr<Store> client = i % 2 == 0 ? store_ : open();
    threads.emplace_back([client, i, &failures] {
      try {
        client->set("ready/" + std::to_string(i), std::string_view("1"));
        const std::vector<std::string> go = {"go"};
        client->wait(go, std::chrono::seconds(20));
        client->add("done", 1);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << i << ": " << e.what();
        ++failures;
      }
    });
  }
  std::vector<std::string> ready;
  for (int i = 0; i < kThreads; ++i) ready.push_back("ready/" + std::to_string(i));
  store_->wait(ready, std::chrono::seconds(20));
  open()->set("go", std::string_view("now"));
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->add("done", 0), kThreads);
}

TEST_P(StoreConformance, ConcurrentAddsFromThreadsAreExact) {
  constexpr int kThreads = 4;
  constexpr int kAdds = 250;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([client = open()] {
      for (int j = 0; j < kAdds; ++j) client->add("sum", 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->add("sum", 0), kThreads * kAdds);
}

TEST_P(StoreConformance, LargeValuesRoundTrip) {
  std::vector<uint8_t> big(8 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  store_->set("big", big);
  EXPECT_EQ(open()->get("big"), big);
}

// The 8 KiB limit counts the whole key, a PrefixStore's prefix included.
TEST_P(StoreConformance, LongKeysWorkKeysOver8KiBAreInvalidArgument) {
  const std::string longest(4 * 1024, 'k');
  store_->set(longest, std::string_view("v"));
  EXPECT_EQ(store_->get_string(longest), "v");
  const std::string too_long(8 * 1024 + 1, 'k');
  EXPECT_THROW(store_->set(too_long, std::string_view("v")), InvalidArgument);
  EXPECT_THROW(store_->get(too_long), InvalidArgument);
  EXPECT_EQ(store_->get_string(longest), "v");
}

TEST_P(StoreConformance, BinaryKeysAreDistinct) {
  const std::string a("a\0b", 3);
  const std::string b("a\0c", 3);
  store_->set(a, std::string_view("first"));
  store_->set(b, std::string_view("second"));
  EXPECT_EQ(store_->get_string(a), "first");
  EXPECT_EQ(store_->get_string(b), "second");
}

TEST_P(StoreConformance, DeletedKeyIsMissingAgain) {
  store_->set("gone", std::string_view("x"));
  EXPECT_TRUE(store_->delete_key("gone"));
  store_->set_timeout(std::chrono::milliseconds(50));
  EXPECT_THROW(store_->get("gone"), TimeoutError);
  store_->set("gone", std::string_view("back"));
  EXPECT_EQ(store_->get_string("gone"), "back");
}

namespace store_suite_detail {
inline std::atomic<int> signals_seen{0};
inline void on_signal(int) {
  signals_seen.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace store_suite_detail

TEST_P(StoreConformance, SignalsDoNotBreakABlockedWait) {
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = store_suite_detail::on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: blocking calls see EINTR
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
  store_suite_detail::signals_seen = 0;

  std::atomic<bool> ok{false};
  std::string error;
  std::thread waiter([&] {
    try {
      const std::vector<std::string> keys = {"after-signals"};
      store_->wait(keys, std::chrono::seconds(20));
      ok = store_->get_string("after-signals") == "done";
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  for (int i = 0; i < 50; ++i) {
    ::pthread_kill(waiter.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  open()->set("after-signals", std::string_view("done"));
  waiter.join();
  ::sigaction(SIGUSR1, &previous, nullptr);
  EXPECT_TRUE(ok.load()) << error;
  EXPECT_GT(store_suite_detail::signals_seen.load(), 0);
}

}  // namespace baton::testing
