// transport::Request and its Driver (caller-driven progress): a wait polls
// the driver until the request completes; a detached driver polls nothing,
// and detach() waits for a poll in flight.
#include "transport/request.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace baton::transport {
namespace {

using namespace std::chrono_literals;

TEST(RequestDriverTest, WaitPollsTheDriverUntilItCompletesTheRequest) {
  auto request = std::make_shared<Request>();
  int polls = 0;
  int peer_seen = -2;
  auto driver = std::make_shared<Driver>([&](int peer) {
    peer_seen = peer;
    if (++polls == 100) request->complete(peer, 8);
    return polls % 2 == 0;
  });
  request->set_driver(driver, 3);
  // A wait polls for BATON_SPIN_US, then sleeps; on a loaded machine the 100
  // polls may take more than one spin, so wait in short slices (each one
  // polls again) until the driver completes the request.
  const auto until = Request::Clock::now() + 10s;
  while (!request->done() && Request::Clock::now() < until) {
    request->wait_until(Request::Clock::now() + 1ms);
  }
  EXPECT_TRUE(request->done());
  EXPECT_EQ(polls, 100);
  EXPECT_EQ(peer_seen, 3);
  EXPECT_EQ(request->source(), 3);
  EXPECT_EQ(request->bytes(), 8u);
}

TEST(RequestDriverTest, DetachedDriverPollsNothingAndTheWaitStillEnds) {
  auto request = std::make_shared<Request>();
  std::atomic<int> polls{0};
  auto driver = std::make_shared<Driver>([&](int) {
    ++polls;
    return false;
  });
  request->set_driver(driver, 0);
  driver->detach();
  EXPECT_FALSE(driver->drive(0));
  EXPECT_FALSE(request->wait_until(Request::Clock::now() + 5ms));
  EXPECT_EQ(polls.load(), 0);
  std::thread completer([&] { request->complete(0, 0); });
  EXPECT_TRUE(request->wait_until(Request::Clock::now() + 10s));
  completer.join();
}

TEST(RequestDriverTest, DetachWaitsForAPollInFlight) {
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  std::atomic<bool> finished{false};
  auto driver = std::make_shared<Driver>([&](int) {
    inside.store(true);
    while (!release.load()) std::this_thread::yield();
    finished.store(true);
    return true;
  });
  std::thread poller([&] { driver->drive(0); });
  while (!inside.load()) std::this_thread::yield();
  std::atomic<bool> detached{false};
  std::thread detacher([&] {
    driver->detach();
    detached.store(true);
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(detached.load()) << "detach() returned while a poll was running";
  release.store(true);
  detacher.join();
  EXPECT_TRUE(finished.load());
  poller.join();
}

}  // namespace
}  // namespace baton::transport
