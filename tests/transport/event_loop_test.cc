// EventLoop: deferred functions, fd handlers, timers, shutdown.
#include "transport/event_loop.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <vector>

#include "baton/error.hpp"

namespace baton::transport {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopTest, DeferredFunctionsRunInOrderOnTheLoopThread) {
  EventLoop loop("test");
  EXPECT_FALSE(loop.in_loop_thread());
  std::vector<int> order;
  std::promise<void> done;
  for (int i = 0; i < 100; ++i) {
    loop.defer([&, i] {
      EXPECT_TRUE(loop.in_loop_thread());
      order.push_back(i);
      if (i == 99) done.set_value();
    });
  }
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(EventLoopTest, RunSyncWaitsAndRethrows) {
  EventLoop loop("test");
  int value = 0;
  loop.run_sync([&] { value = 42; });
  EXPECT_EQ(value, 42);
  EXPECT_THROW(loop.run_sync([] { throw InvalidArgument("no"); }), InvalidArgument);
  // Inline on the loop thread: no self-deadlock.
  loop.run_sync([&] { loop.run_sync([&] { value = 7; }); });
  EXPECT_EQ(value, 7);
}

TEST(EventLoopTest, FdHandlerSeesReadinessAndMayRemoveItself) {
  EventLoop loop("test");
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  UniqueFd reader(fds[0]), writer(fds[1]);
  std::promise<char> got;
  loop.run_sync([&] {
    loop.add(reader.get(), EPOLLIN, [&](uint32_t events) {
      EXPECT_TRUE(events & EPOLLIN);
      char c = 0;
      ASSERT_EQ(::read(reader.get(), &c, 1), 1);
      loop.remove(reader.get());
      got.set_value(c);
    });
  });
  ASSERT_EQ(::write(writer.get(), "x", 1), 1);
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), 'x');
  // Removed: more data does not call the handler again (it would set the promise twice).
  ASSERT_EQ(::write(writer.get(), "y", 1), 1);
  loop.run_sync([] {});
}

TEST(EventLoopTest, TimersFireInOrderAndCancelledOnesDoNot) {
  EventLoop loop("test");
  std::vector<int> fired;
  std::promise<void> done;
  loop.run_sync([&] {
    const auto now = EventLoop::Clock::now();
    loop.schedule(now + 30ms, [&] { fired.push_back(2); });
    const uint64_t cancelled = loop.schedule(now + 10ms, [&] { fired.push_back(99); });
    loop.schedule(now + 1ms, [&] { fired.push_back(1); });
    loop.schedule(now + 60ms, [&] { done.set_value(); });
    loop.cancel(cancelled);
  });
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(EventLoopTest, StopJoinsAndLaterRunSyncThrows) {
  EventLoop loop("test");
  loop.stop();
  loop.stop();  // idempotent
  EXPECT_THROW(loop.run_sync([] {}), ConnectionError);
}

TEST(EventLoopTest, AThrowingHandlerDoesNotKillTheLoop) {
  EventLoop loop("test");
  loop.defer([] { throw std::runtime_error("handler bug"); });
  int value = 0;
  loop.run_sync([&] { value = 1; });
  EXPECT_EQ(value, 1);
}

}  // namespace
}  // namespace baton::transport
