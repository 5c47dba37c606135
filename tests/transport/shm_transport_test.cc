// The shared-memory transport: the conformance suite (with and without the
// single-copy path), plus what only shm has: the process_vm_readv probe and
// its tunable, the segment's name and unlinking, a dead receiver of a
// single-copy send, a /dev/shm that cannot hold the segment, and the shared
// area of the shared_memory collectives (data and flags between ranks, and
// how its waits fail: mismatch, timeout, a dead or aborting peer).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include "baton/error.hpp"
#include "baton/file_store.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/support/sanitizers.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/transport/transport_suite.hpp"
#include "transport/shm/area.hpp"
#include "transport/shm/context.hpp"
#include "transport/shm/factory.hpp"
#include "transport/shm/segment.hpp"

namespace baton::transport::testing {
namespace {

using ::testing::HasSubstr;

TransportFactory shm_factory(const std::string& name, bool single_copy, size_t ring_bytes) {
  return {name, [=](Store& store, const std::string& key, int rank, int size,
                    const SuiteOptions& options) {
            ShmOptions shm;
            shm.timeout = options.setup_timeout;
            shm.unexpected_bytes = options.unexpected_bytes;
            shm.describe_op = suite_describe_op;
            shm.single_copy = single_copy;
            shm.ring_bytes = ring_bytes;
            shm.single_copy_bytes = 64 * 1024;
            return make_shm_context(store, key, rank, size, shm);
          }};
}

// "shm": large messages by process_vm_readv where permitted; "shm_ring": every
// byte through small rings that wrap many times per message.
INSTANTIATE_TEST_SUITE_P(Shm, TransportTest,
                         ::testing::Values(shm_factory("shm", true, 1u << 20),
                                           shm_factory("shm_ring", false, 64 * 1024)),
                         factory_name);

// ---------------------------------------------------------------- shm only

class ShmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton-shm-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  using Body = std::function<void(shm::ShmContext& ctx, Store& store, int rank, int size)>;
  std::vector<baton::testing::RankResult> try_run(int size, ShmOptions options, const Body& body) {
    const std::string path = dir_ + "/store" + std::to_string(runs_++);
    return baton::testing::try_run_ranks(
        size,
        [&](int rank, int world) {
          FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "shm-test"});
          options.timeout = 30s;
          options.job_id = "job42";
          auto context = make_shm_context(store, "grp", rank, world, options);
          auto* ctx = dynamic_cast<shm::ShmContext*>(context.get());
          ASSERT_NE(ctx, nullptr);
          store_barrier(store, "ready", rank, world);
          body(*ctx, store, rank, world);
          store_barrier(store, "end", rank, world);
        },
        {.mode = baton::testing::RankMode::kProcesses, .timeout = 60s});
  }
  void run(int size, ShmOptions options, const Body& body) {
    for (const auto& r : try_run(size, std::move(options), body)) {
      EXPECT_TRUE(r.ok) << "rank " << r.rank << ": " << r.what;
    }
  }
  int runs_ = 0;
  std::string dir_;
};

// Sends 8 MiB both ways and checks it arrived; `expect_single_copy` is what
// each rank must report for its peer.
void exchange_large(shm::ShmContext& ctx, int rank, bool expect_single_copy) {
  constexpr size_t kBytes = 8u << 20;
  const int peer = 1 - rank;
  EXPECT_EQ(ctx.single_copy_to(peer), expect_single_copy);
  const auto out = pattern(kBytes, static_cast<uint64_t>(rank) + 10);
  std::vector<std::byte> in(kBytes);
  auto r = ctx.irecv(peer, p2p(3), in);
  auto s = ctx.isend(peer, p2p(3), out);
  wait_ok(s);
  wait_ok(r);
  EXPECT_EQ(r->bytes(), kBytes);
  expect_pattern(in, kBytes, static_cast<uint64_t>(peer) + 10);
}

// Whether this kernel lets a process process_vm_readv its sibling (the probe's question).
bool single_copy_permitted() {
  const auto results = baton::testing::try_run_ranks(
      1,
      [](int, int) {
        const pid_t parent = ::getppid();
        static uint64_t word = 0;
        (void)word;
        uint64_t value = 0;
        struct iovec local {
          &value, sizeof(value)
        };
        struct iovec remote {
          &word, sizeof(word)
        };
        // The forked child reads its parent (the test process) at the same address.
        if (::process_vm_readv(parent, &local, 1, &remote, 1, 0) != sizeof(value)) {
          throw std::runtime_error("not permitted");
        }
      },
      {.mode = baton::testing::RankMode::kProcesses, .timeout = 10s});
  return results.at(0).ok;
}

TEST_F(ShmTest, LargeMessageBySingleCopyWherePermitted) {
  const bool permitted = single_copy_permitted();
  if (!permitted) GTEST_SKIP() << "process_vm_readv is not permitted here (ptrace policy)";
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 1u << 20;
  options.single_copy_max_bytes = 0;  // 8 MiB too
  run(2, options,
      [](shm::ShmContext& ctx, Store&, int rank, int) { exchange_large(ctx, rank, true); });
}

TEST_F(ShmTest, SingleCopyTunableZeroForcesTheRingPath) {
  baton::testing::ScopedEnv env("BATON_SHM_SINGLE_COPY", "0");
  run(2, ShmOptions{},
      [](shm::ShmContext& ctx, Store&, int rank, int) { exchange_large(ctx, rank, false); });
}

// Sends `bytes` both ways and checks the data and the path it took: by
// single copy (the peer's acknowledgement counter moves) or through the ring.
void exchange_checked(shm::ShmContext& ctx, int rank, size_t bytes, bool expect_single_copy) {
  const int peer = 1 - rank;
  EXPECT_EQ(ctx.single_copy_for(peer, bytes), expect_single_copy) << bytes << " bytes";
  const uint64_t before = ctx.single_copies_to(peer);
  const auto seed = static_cast<uint64_t>(bytes) + static_cast<uint64_t>(rank);
  const auto out = pattern(bytes, seed);
  std::vector<std::byte> in(bytes);
  auto r = ctx.irecv(peer, p2p(5), in);
  auto s = ctx.isend(peer, p2p(5), out);
  wait_ok(s);
  wait_ok(r);
  EXPECT_EQ(r->bytes(), bytes);
  expect_pattern(in, bytes, static_cast<uint64_t>(bytes) + static_cast<uint64_t>(peer));
  EXPECT_EQ(ctx.single_copies_to(peer) - before, expect_single_copy ? 1u : 0u)
      << bytes << " bytes went the wrong way";
}

TEST_F(ShmTest, SingleCopyOnlyBetweenItsBoundsTheRingAbove) {
  const bool permitted = single_copy_permitted();
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 64 * 1024;
  options.single_copy_max_bytes = 1u << 20;
  options.ring_bytes = 256 * 1024;  // ring messages wrap it several times
  run(2, options, [permitted](shm::ShmContext& ctx, Store&, int rank, int) {
    exchange_checked(ctx, rank, 1000, false);                // below the smallest
    exchange_checked(ctx, rank, 64 * 1024, permitted);       // the smallest
    exchange_checked(ctx, rank, 1u << 20, permitted);        // the largest
    exchange_checked(ctx, rank, (1u << 20) + 1, false);      // one byte over
    exchange_checked(ctx, rank, (4u << 20) + 12345, false);  // far over
    exchange_checked(ctx, rank, 300 * 1024, permitted);      // back in between
  });
}

TEST_F(ShmTest, SingleCopyMaxTunableSendsLargerMessagesThroughTheRing) {
  const bool permitted = single_copy_permitted();
  baton::testing::ScopedEnv env("BATON_SHM_SINGLE_COPY_MAX_BYTES", "4194304");
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 1u << 20;
  run(2, options, [permitted](shm::ShmContext& ctx, Store&, int rank, int) {
    exchange_checked(ctx, rank, 2u << 20, permitted);
    exchange_checked(ctx, rank, 8u << 20, false);
  });
}

TEST_F(ShmTest, SingleCopyMaxTunableZeroMeansNoLimit) {
  const bool permitted = single_copy_permitted();
  if (!permitted) GTEST_SKIP() << "process_vm_readv is not permitted here (ptrace policy)";
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 1u << 20;
  options.single_copy_max_bytes = 0;
  run(2, options, [](shm::ShmContext& ctx, Store&, int rank, int) {
    exchange_checked(ctx, rank, 8u << 20, true);
  });
}

TEST_F(ShmTest, SingleCopyMaxBelowTheSmallestIsRefused) {
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 1u << 20;
  options.single_copy_max_bytes = 4096;
  const auto results = try_run(2, options, [](shm::ShmContext&, Store&, int, int) {});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_FALSE(r.ok) << "rank " << r.rank;
    EXPECT_THAT(r.what, HasSubstr("BATON_SHM_SINGLE_COPY_MAX_BYTES=4096"));
  }
}

TEST_F(ShmTest, SegmentIsNamedForJobAndGroupAndGoneAfterSetup) {
  run(3, ShmOptions{}, [](shm::ShmContext& ctx, Store&, int, int) {
    EXPECT_THAT(ctx.segment_name(), HasSubstr("job42"));
    EXPECT_THAT(ctx.segment_name(), HasSubstr("grp"));
    EXPECT_FALSE(std::filesystem::exists("/dev/shm" + ctx.segment_name()))
        << ctx.segment_name() << " is still in /dev/shm after setup";
  });
}

TEST_F(ShmTest, KilledReceiverFailsPendingSingleCopySendNamingItsRank) {
  ShmOptions options;
  options.single_copy = true;
  options.single_copy_bytes = 4096;
  options.single_copy_max_bytes = 0;  // the 8 MiB message too
  options.unexpected_bytes = 4096;    // rank 1 cannot buffer (and so acknowledge) the message early
  const auto results = try_run(2, options, [](shm::ShmContext& ctx, Store& store, int rank, int) {
    if (rank == 1) {
      await(store, "sent");
      ::raise(SIGKILL);
    }
    // Rank 1 never posts a receive and may not buffer the message: the send
    // waits for its acknowledgement (single copy) or for ring space (1 MiB
    // ring, 8 MiB message) until rank 1 dies.
    const auto out = pattern(8u << 20, 1);
    auto s = ctx.isend(1, p2p(0), out);
    signal(store, "sent");
    const auto start = Clock::now();
    EXPECT_THAT(wait_error<ConnectionError>(s, 5s), HasSubstr("rank 1"));
    EXPECT_LT(Clock::now() - start, 2s);
    store.set("end/1", std::string_view("dead"));
  });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok) << results[0].what;
  EXPECT_THAT(results[1].what, HasSubstr("signal 9"));
}

TEST_F(ShmTest, EightRanksExchangeSmallAndLargeMessages) {
  run(8, ShmOptions{}, [](shm::ShmContext& ctx, Store&, int rank, int size) {
    for (const size_t n : {size_t{8}, size_t{3} << 20}) {
      std::vector<std::vector<std::byte>> in(static_cast<size_t>(size), std::vector<std::byte>(n));
      std::vector<RequestPtr> reqs;
      const auto out = pattern(n, static_cast<uint64_t>(rank));
      for (int p = 0; p < size; ++p) {
        if (p == rank) continue;
        reqs.push_back(ctx.irecv(p, p2p(1), in[static_cast<size_t>(p)]));
        reqs.push_back(ctx.isend(p, p2p(1), out));
      }
      for (auto& r : reqs) wait_ok(r, 30s);
      for (int p = 0; p < size; ++p) {
        if (p != rank) expect_pattern(in[static_cast<size_t>(p)], n, static_cast<uint64_t>(p));
      }
    }
  });
}

// A receiver that waits polls the rings itself (the request's Driver): a
// ping-pong's messages complete on the waiting thread, not on the progress
// thread (which steps aside while a caller polls, waking every 200 us for one
// look, so it may take the odd one). The share is not checked under a
// sanitizer: the progress thread steps aside only while the caller polls
// again within 20 us, which instrumented code may not.
TEST_F(ShmTest, WaitingReceiverCompletesPingPongOnItsOwnThread) {
  run(2, ShmOptions{}, [](shm::ShmContext& ctx, Store&, int rank, int) {
    constexpr int kRounds = 200;
    const int peer = 1 - rank;
    int on_waiter = 0;
    std::vector<std::byte> buf(8);
    for (int i = 0; i < kRounds; ++i) {
      if (rank == 0) wait_ok(ctx.isend(peer, p2p(5), buf));
      auto r = ctx.irecv(peer, p2p(5), buf);
      std::atomic<bool> mine{false};
      const auto me = std::this_thread::get_id();
      r->on_done([&mine, me] { mine.store(std::this_thread::get_id() == me); });
      wait_ok(r);
      on_waiter += mine.load() ? 1 : 0;
      if (rank == 1) wait_ok(ctx.isend(peer, p2p(5), buf));
    }
    if (!baton::testing::kSanitized) {
      EXPECT_GE(on_waiter, kRounds / 2) << "receives completed on the waiting thread";
    }
  });
}

// A request outlives its context: a thread polling it (its Driver) while
// the context is destroyed stops polling and sees the request fail; a wait
// after the destruction neither touches the context nor hangs.
TEST_F(ShmTest, RequestWaitedWhileItsContextIsDestroyedFails) {
  run(2, ShmOptions{}, [](shm::ShmContext&, Store& store, int rank, int size) {
    ShmOptions options;
    options.timeout = 30s;
    options.job_id = "job42";
    auto other = make_shm_context(store, "grp2", rank, size, options);
    if (rank == 1) {
      await(store, "other-gone");  // keeps its side open until rank 0 has destroyed its own
      return;
    }
    std::vector<std::byte> buf(8);
    RequestPtr pending = other->irecv(1, p2p(9), buf);
    std::atomic<bool> waited{false};
    std::thread waiter([&] { waited.store(pending->wait_until(Clock::now() + 10s)); });
    std::this_thread::sleep_for(5ms);  // the waiter is polling the context now
    other.reset();
    waiter.join();
    EXPECT_TRUE(waited.load());
    EXPECT_THAT(wait_error<ConnectionError>(pending, 1s), HasSubstr("destroyed"));
    signal(store, "other-gone");
  });
}

// ---------------------------------------------------------------- shared area

using Flag = SharedArea::Flag;

OpDesc area_op(uint64_t count) {
  return OpDesc{.kind = 2, .dtype = 1, .reduce_op = 0, .root = -1, .count = count};
}

TEST_F(ShmTest, SharedAreaCarriesEachRanksDataThroughEveryBufferInTurn) {
  ShmOptions options;
  options.area_bytes = 4096;
  run(3, options, [](shm::ShmContext& ctx, Store&, int rank, int size) {
    SharedArea* area = ctx.shared_area();
    ASSERT_NE(area, nullptr);
    EXPECT_EQ(area->buffers(), 16);
    EXPECT_EQ(area->buffer_bytes(), 4096u);
    // 40 generations wrap the 16 buffers twice; each holds rank and generation.
    for (uint64_t seq = 1; seq <= 40; ++seq) {
      area->start(seq, area_op(seq), Clock::now() + 10s);
      const uint64_t g = area->begin();
      EXPECT_EQ(g, seq);
      auto* mine = reinterpret_cast<uint64_t*>(area->buffer(rank, g));
      for (size_t i = 0; i < 512; ++i) mine[i] = static_cast<uint64_t>(rank) * 1000 + g + i;
      area->post(Flag::kPosted, g);
      for (int q = 0; q < size; ++q) {
        if (q == rank) continue;
        area->wait(q, Flag::kPosted, g);
        const auto* theirs = reinterpret_cast<const uint64_t*>(area->buffer(q, g));
        for (size_t i = 0; i < 512; i += 97) {
          ASSERT_EQ(theirs[i], static_cast<uint64_t>(q) * 1000 + g + i) << "generation " << g;
        }
      }
      area->post(Flag::kReduced, g);
      for (int q = 0; q < size; ++q) {
        if (q != rank) area->wait(q, Flag::kReduced, g);
      }
    }
  });
}

TEST_F(ShmTest, SharedAreaIsOffWhenItsTunableIsZero) {
  baton::testing::ScopedEnv off("BATON_SHM_AREA_BYTES", "0");
  run(2, ShmOptions{},
      [](shm::ShmContext& ctx, Store&, int, int) { EXPECT_EQ(ctx.shared_area(), nullptr); });
}

TEST_F(ShmTest, SharedAreaWaitNamesACollectiveTheRanksDisagreeOn) {
  run(2, ShmOptions{}, [](shm::ShmContext& ctx, Store&, int rank, int) {
    SharedArea& area = *ctx.shared_area();
    area.start(7, area_op(rank == 0 ? 100 : 101), Clock::now() + 10s);
    const uint64_t g = area.begin();
    try {
      // The rank that posts second finds the other's header already there.
      area.post(Flag::kPosted, g);
      area.wait(1 - rank, Flag::kPosted, g);
      ADD_FAILURE() << "a different count was accepted";
    } catch (const MismatchError& e) {
      EXPECT_THAT(e.what(), HasSubstr("rank " + std::to_string(1 - rank)));
      EXPECT_THAT(e.what(), HasSubstr("100"));
      EXPECT_THAT(e.what(), HasSubstr("101"));
      // As the backend does: the rank that found it aborts, which ends the
      // other's wait (it may not have posted) with the same MismatchError.
      ctx.abort(std::current_exception());
    }
  });
}

TEST_F(ShmTest, SharedAreaWaitTimesOutNamingTheMissingRank) {
  run(2, ShmOptions{}, [](shm::ShmContext& ctx, Store& store, int rank, int) {
    if (rank == 1) {
      await(store, "timed_out");  // never posts
      return;
    }
    SharedArea& area = *ctx.shared_area();
    area.start(1, area_op(4), Clock::now() + 300ms);
    const uint64_t g = area.begin();
    area.post(Flag::kPosted, g);
    try {
      area.wait(1, Flag::kPosted, g);
      ADD_FAILURE() << "the wait returned without rank 1";
    } catch (const TimeoutError& e) {
      EXPECT_THAT(e.what(), HasSubstr("waiting for rank 1"));
    }
    signal(store, "timed_out");
  });
}

TEST_F(ShmTest, SharedAreaWaitFailsSoonWhenThePeerDies) {
  const auto results =
      try_run(2, ShmOptions{}, [](shm::ShmContext& ctx, Store& store, int rank, int) {
        if (rank == 1) {
          await(store, "waiting");
          ::raise(SIGKILL);
        }
        SharedArea& area = *ctx.shared_area();
        area.start(1, area_op(4), Clock::now() + 20s);
        const uint64_t g = area.begin();
        area.post(Flag::kPosted, g);
        signal(store, "waiting");
        const auto start = Clock::now();
        try {
          area.wait(1, Flag::kPosted, g);
          ADD_FAILURE() << "the wait returned without rank 1";
        } catch (const ConnectionError& e) {
          EXPECT_THAT(e.what(), HasSubstr("rank 1"));
          EXPECT_THAT(e.what(), HasSubstr("died"));
        }
        EXPECT_LT(Clock::now() - start, 5s);
        store.set("end/1", std::string_view("dead"));
      });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok) << results[0].what;
  EXPECT_THAT(results[1].what, HasSubstr("signal 9"));
}

TEST_F(ShmTest, SharedAreaWaitEndsWithThePeersAbortReason) {
  run(2, ShmOptions{}, [](shm::ShmContext& ctx, Store& store, int rank, int) {
    if (rank == 1) {
      await(store, "waiting");
      ctx.abort(std::make_exception_ptr(InvalidArgument("rank 1 gave up on purpose")));
      return;
    }
    SharedArea& area = *ctx.shared_area();
    area.start(1, area_op(4), Clock::now() + 20s);
    const uint64_t g = area.begin();
    area.post(Flag::kPosted, g);
    signal(store, "waiting");
    try {
      area.wait(1, Flag::kPosted, g);
      ADD_FAILURE() << "the wait returned without rank 1";
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("gave up on purpose"));
      EXPECT_THAT(e.what(), HasSubstr("rank 1 aborted the group"));
    }
  });
}

shm::ShmArea::Hooks checking(std::function<void(int)> check) {
  shm::ShmArea::Hooks hooks;
  hooks.check = std::move(check);
  return hooks;
}

// The areas of two ranks on one segment in this process; the waiter's check
// hook plays the progress thread's verdict on the peer.
struct TwoAreas {
  explicit TwoAreas(std::function<void(int)> check)
      : segment(shm::Segment::create("/baton-test-area-" + std::to_string(::getpid()), 2, 4096,
                                     shm::area_bytes_for(4096))),
        peer(segment, {0, 1}, 1, checking([](int) {})),
        waiter(segment, {0, 1}, 0, checking(std::move(check))) {}
  shm::Segment segment;
  shm::ShmArea peer;
  shm::ShmArea waiter;
};

// A peer that posts, finishes the collective and closes between the waiter's
// look at its flag and the waiter's check of it did its part: the wait
// returns. (Under load the progress thread judged such a peer closed first,
// and a pair's all_reduce failed on the slower rank: ErrorsTest's
// NewGroupWithDisagreeingListsIsAMismatch under ASan.)
TEST(ShmAreaTest, PeerThatPostedBeforeItClosedCompletesTheWait) {
  bool armed = false, closed = false;
  uint64_t g = 0;
  shm::ShmArea* peer = nullptr;
  TwoAreas areas([&](int) {
    if (!armed) return;
    if (!closed) {
      closed = true;
      peer->post(Flag::kPosted, g);
    }
    throw ConnectionError("rank 1 closed its connection");
  });
  peer = &areas.peer;
  for (shm::ShmArea* a : {&areas.waiter, &areas.peer}) a->start(1, area_op(4), Clock::now() + 10s);
  g = areas.waiter.begin();
  EXPECT_EQ(areas.peer.begin(), g);
  areas.waiter.post(Flag::kPosted, g);
  armed = true;
  EXPECT_NO_THROW(areas.waiter.wait(1, Flag::kPosted, g));
  EXPECT_TRUE(closed);
}

// The same peer closing without posting still ends the wait with its error.
TEST(ShmAreaTest, PeerThatClosedBeforePostingFailsTheWait) {
  bool armed = false;
  TwoAreas areas([&](int) {
    if (armed) throw ConnectionError("rank 1 closed its connection");
  });
  for (shm::ShmArea* a : {&areas.waiter, &areas.peer}) a->start(1, area_op(4), Clock::now() + 10s);
  const uint64_t g = areas.waiter.begin();
  areas.waiter.post(Flag::kPosted, g);
  armed = true;
  try {
    areas.waiter.wait(1, Flag::kPosted, g);
    ADD_FAILURE() << "the wait returned without rank 1's data";
  } catch (const ConnectionError& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank 1 closed"));
  }
}

TEST(ShmSegmentTest, SegmentTooLargeForDevShmIsAnIoErrorNamingIt) {
  try {
    shm::Segment::create("/baton-test-too-large-" + std::to_string(::getpid()), 2, size_t{1} << 42);
    FAIL() << "a 4 TiB ring was accepted";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/dev/shm"));
  }
  EXPECT_FALSE(
      std::filesystem::exists("/dev/shm/baton-test-too-large-" + std::to_string(::getpid())));
}

}  // namespace
}  // namespace baton::transport::testing
