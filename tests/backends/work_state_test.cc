// Work and its shared WorkState: completing once, errors, waits and their
// bounds, point-to-point states bound to a transport Request; the backend
// registry's answers for unknown and absent backends.
#include "backends/work_state.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "backends/registry.hpp"
#include "baton/error.hpp"
#include "baton/work.hpp"

namespace baton {
namespace {

using detail::WorkState;
using std::chrono::milliseconds;

std::shared_ptr<WorkState> pending(milliseconds timeout = milliseconds(0)) {
  return std::make_shared<WorkState>(
      WorkState::Options{.description = "all_reduce #1 on world", .wait_timeout = timeout});
}

TEST(WorkTest, DefaultIsCompletedSuccess) {
  Work work;
  EXPECT_TRUE(work.is_completed());
  EXPECT_TRUE(work.is_success());
  EXPECT_EQ(work.exception(), nullptr);
  EXPECT_EQ(work.source_rank(), -1);
  work.wait();
  EXPECT_TRUE(work.wait(milliseconds(0)));
}

TEST(WorkTest, CompletesExactlyOnceFirstCallWins) {
  auto state = pending();
  Work work(state);
  EXPECT_FALSE(work.is_completed());
  EXPECT_FALSE(work.is_success());
  EXPECT_TRUE(state->complete(3));
  EXPECT_FALSE(state->complete(5));
  EXPECT_FALSE(state->fail(std::make_exception_ptr(TimeoutError("late"))));
  EXPECT_TRUE(work.is_completed());
  EXPECT_TRUE(work.is_success());
  EXPECT_EQ(work.source_rank(), 3);
  work.wait();
}

TEST(WorkTest, WaitRethrowsTheErrorEveryTime) {
  auto state = pending();
  Work work(state);
  Work copy = work;
  state->fail(
      std::make_exception_ptr(MismatchError("rank 0 runs all_reduce but rank 1 sent broadcast")));
  EXPECT_FALSE(state->complete());
  EXPECT_TRUE(copy.is_completed());
  EXPECT_FALSE(copy.is_success());
  EXPECT_NE(copy.exception(), nullptr);
  EXPECT_THROW(work.wait(), MismatchError);
  EXPECT_THROW(copy.wait(), MismatchError);
  EXPECT_THROW(work.wait(milliseconds(1)), MismatchError);
}

TEST(WorkTest, TimedWaitReturnsFalseWhilePending) {
  auto state = pending();
  Work work(state);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(work.wait(milliseconds(30)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
  EXPECT_FALSE(work.is_completed());
}

TEST(WorkTest, WaitWakesWhenAnotherThreadCompletes) {
  auto state = pending();
  Work work(state);
  std::thread completer([state] {
    std::this_thread::sleep_for(milliseconds(20));
    state->complete(1);
  });
  work.wait();
  EXPECT_EQ(work.source_rank(), 1);
  completer.join();
}

TEST(WorkTest, ManyWaitersAllWake) {
  auto state = pending();
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([state, &woken] {
      Work(state).wait();
      ++woken;
    });
  }
  std::this_thread::sleep_for(milliseconds(10));
  state->complete();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 4);
}

TEST(WorkTest, WaitPastTheGroupTimeoutFailsWithTimeoutAndRunsTheHookOnce) {
  std::atomic<int> hooks{0};
  std::string hook_message;
  auto state = std::make_shared<WorkState>(
      WorkState::Options{.description = "recv from rank 1 (tag 0) on world",
                         .wait_timeout = milliseconds(50),
                         .on_expiry = [&](std::exception_ptr why) {
                           ++hooks;
                           try {
                             std::rethrow_exception(why);
                           } catch (const TimeoutError& e) {
                             hook_message = e.what();
                           }
                         }});
  Work work(state);
  try {
    work.wait();
    ADD_FAILURE() << "wait() returned";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(
        e.what(),
        "recv from rank 1 (tag 0) on world did not complete within the group's timeout of 0.05 s");
  }
  EXPECT_THROW(work.wait(), TimeoutError);  // sticky, and the hook does not run again
  EXPECT_EQ(hooks.load(), 1);
  EXPECT_NE(hook_message.find("recv from rank 1"), std::string::npos);
}

// A point-to-point Work builds its description only when a message needs it.
TEST(WorkTest, LazyDescriptionIsBuiltOnlyForTheError) {
  std::atomic<int> built{0};
  auto describe = [&] {
    ++built;
    return std::string("send to rank 2 (tag 7) on world");
  };
  auto done = std::make_shared<WorkState>(WorkState::Options{.describe = describe});
  done->complete();
  Work ok(done);
  ok.wait();
  EXPECT_EQ(built.load(), 0);

  auto late = std::make_shared<WorkState>(
      WorkState::Options{.describe = describe, .wait_timeout = milliseconds(20)});
  Work work(late);
  try {
    work.wait();
    ADD_FAILURE() << "wait() returned";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(),
                 "send to rank 2 (tag 7) on world did not complete within the group's timeout "
                 "of 0.02 s");
  }
  EXPECT_EQ(built.load(), 1);
  EXPECT_EQ(late->description(), "send to rank 2 (tag 7) on world");
}

TEST(WorkTest, DeadlineBoundsTheWait) {
  auto state = std::make_shared<WorkState>(
      WorkState::Options{.description = "barrier #2 on world",
                         .deadline = std::chrono::steady_clock::now() + milliseconds(20)});
  Work work(state);
  try {
    work.wait();
    ADD_FAILURE() << "wait() returned";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(), "barrier #2 on world did not complete by its deadline");
  }
}

TEST(WorkTest, FollowsATransportRequest) {
  auto request = std::make_shared<transport::Request>();
  Work recv(WorkState::for_request(request, true,
                                   {.description = "recv", .wait_timeout = milliseconds(5000)}));
  EXPECT_FALSE(recv.is_completed());
  EXPECT_EQ(recv.source_rank(), -1);
  std::thread completer([request] {
    std::this_thread::sleep_for(milliseconds(10));
    request->complete(4, 16);
  });
  recv.wait();
  completer.join();
  EXPECT_TRUE(recv.is_success());
  EXPECT_EQ(recv.source_rank(), 4);

  auto send_request = std::make_shared<transport::Request>();
  Work send(WorkState::for_request(send_request, false, {.description = "send"}));
  send_request->complete(2, 8);
  EXPECT_TRUE(send.is_completed());
  EXPECT_EQ(send.source_rank(), -1);  // only receives report a source

  auto failing = std::make_shared<transport::Request>();
  Work broken(WorkState::for_request(failing, true, {.description = "recv"}));
  failing->fail(std::make_exception_ptr(ConnectionError("rank 2 closed its connection")));
  EXPECT_THROW(broken.wait(), ConnectionError);
}

TEST(WorkTest, FailedStateIsCompleteAtOnce) {
  Work work(WorkState::failed(std::make_exception_ptr(InvalidArgument("x")), "send"));
  EXPECT_TRUE(work.is_completed());
  EXPECT_THROW(work.wait(), InvalidArgument);
}

TEST(RegistryTest, KnowsNativeRefusesAbsentAndUnknownBackends) {
#if BATON_TEST_WITH_MPI
  EXPECT_EQ(backends::built_in_backends(), (std::vector<std::string>{"native", "mpi"}));
  EXPECT_NO_THROW(backends::check_backend_name("mpi"));
#else
  EXPECT_EQ(backends::built_in_backends(), std::vector<std::string>{"native"});
  try {
    backends::check_backend_name("mpi");
    ADD_FAILURE() << "mpi accepted";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "backend 'mpi' is not built in; rebuild with -DBATON_WITH_MPI=ON"),
              std::string::npos)
        << e.what();
  }
#endif
  EXPECT_NO_THROW(backends::check_backend_name("native"));
  EXPECT_NO_THROW(backends::check_backend_name("auto"));
  EXPECT_THROW(backends::check_backend_name("nccl"), UnsupportedError);
  try {
    backends::check_backend_name("gloo");
    ADD_FAILURE() << "gloo accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'gloo'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace baton
