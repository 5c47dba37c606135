// The transport conformance suite: every rule of transport.hpp, written once.
//
// A transport is done when its one instantiation passes:
//
//   TransportFactory tcp{"tcp", [](Store& s, const std::string& key, int rank, int size,
//                                  const SuiteOptions& o) { return make_tcp_context(...); }};
//   INSTANTIATE_TEST_SUITE_P(Tcp, TransportTest, ::testing::Values(tcp), factory_name);
//
// Ranks run as forked processes (tests/support/rank_runner.hpp) that meet
// through a FileStore in a fresh temporary directory; each test gives every
// rank its own Context of one group. Instantiations must pass
// suite_describe_op as the transport's OpFormatter (the mismatch test checks
// its output). Tests synchronise through store keys, never through sleeps.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/error.hpp"
#include "baton/file_store.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/transport/transport_test_util.hpp"
#include "transport/transport.hpp"

namespace baton::transport::testing {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

struct SuiteOptions {
  std::chrono::milliseconds setup_timeout{30s};
  size_t unexpected_bytes = 0;  // 0: the transport's default
};

struct TransportFactory {
  std::string name;
  std::function<std::unique_ptr<Context>(Store& store, const std::string& group_key, int rank,
                                         int size, const SuiteOptions& options)>
      make;
};

// Test names and ctest listings show the transport's name, not raw bytes.
inline void PrintTo(const TransportFactory& factory, std::ostream* os) {
  *os << factory.name;
}

inline std::string factory_name(const ::testing::TestParamInfo<TransportFactory>& info) {
  return info.param.name;
}

// The OpFormatter instantiations pass: "op<kind> #<seq> (<count> elements)".
inline std::string suite_describe_op(const OpDesc& op, uint64_t seq) {
  return "op" + std::to_string(op.kind) + " #" + std::to_string(seq) + " (" +
         std::to_string(op.count) + " elements)";
}

// ---------------------------------------------------------------- fixture

class TransportTest : public ::testing::TestWithParam<TransportFactory> {
 protected:
  using Body = std::function<void(Context& context, Store& store, int rank, int size)>;

  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton-transport-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Bodies that may destroy their context (reset the pointer) take it by reference.
  using OwningBody =
      std::function<void(std::unique_ptr<Context>& context, Store& store, int rank, int size)>;

  // The outcome of every rank; the body runs in forked processes. Each call
  // uses a fresh store file, so the same group key can be set up again.
  std::vector<baton::testing::RankResult> try_run_owning(int size, const OwningBody& body,
                                                         SuiteOptions options = {},
                                                         std::chrono::milliseconds timeout = 60s) {
    const std::string path = dir_ + "/store" + std::to_string(runs_++);
    const TransportFactory factory = GetParam();
    return baton::testing::try_run_ranks(
        size,
        [&](int rank, int world) {
          FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "suite"});
          std::unique_ptr<Context> context = factory.make(store, "g", rank, world, options);
          ASSERT_EQ(context->rank(), rank);
          ASSERT_EQ(context->size(), world);
          // Every rank has finished setting up before any body runs (a body
          // that kills its rank must not break another rank's setup).
          store_barrier(store, "ready", rank, world);
          body(context, store, rank, world);
          // Nobody closes before everyone is done with everyone.
          store_barrier(store, "end", rank, world);
        },
        {.mode = baton::testing::RankMode::kProcesses, .timeout = timeout});
  }
  std::vector<baton::testing::RankResult> try_run(int size, const Body& body,
                                                  SuiteOptions options = {},
                                                  std::chrono::milliseconds timeout = 60s) {
    return try_run_owning(
        size,
        [&](std::unique_ptr<Context>& context, Store& store, int rank, int world) {
          body(*context, store, rank, world);
        },
        options, timeout);
  }
  void expect_all_ok(const std::vector<baton::testing::RankResult>& results) {
    for (const auto& r : results) EXPECT_TRUE(r.ok) << "rank " << r.rank << ": " << r.what;
  }
  void run(int size, const Body& body, SuiteOptions options = {},
           std::chrono::milliseconds timeout = 60s) {
    expect_all_ok(try_run(size, body, options, timeout));
  }

  int runs_ = 0;
  std::string dir_;
};

// ---------------------------------------------------------------- tests

constexpr size_t kSizes[] = {0, 1, 1000, 4u << 20, 64u << 20};

TEST_P(TransportTest, SizesWithReceivePostedFirst) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    for (size_t i = 0; i < std::size(kSizes); ++i) {
      const size_t n = kSizes[i];
      const std::string key = "posted/" + std::to_string(i);
      if (rank == 1) {
        std::vector<std::byte> buffer(n);
        auto r = ctx.irecv(0, p2p(7), buffer);
        signal(store, key);
        wait_ok(r);
        EXPECT_EQ(r->bytes(), n);
        EXPECT_EQ(r->source(), 0);
        expect_pattern(buffer, n, i);
      } else {
        const auto payload = pattern(n, i);
        await(store, key);
        auto s = ctx.isend(1, p2p(7), payload);
        wait_ok(s);
        EXPECT_EQ(s->bytes(), n);
      }
    }
  });
}

TEST_P(TransportTest, SizesWithMessageArrivingFirst) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    for (size_t i = 0; i < std::size(kSizes); ++i) {
      const size_t n = kSizes[i];
      const std::string key = "sent/" + std::to_string(i);
      if (rank == 0) {
        const auto payload = pattern(n, i);
        wait_ok(ctx.isend(1, p2p(8), payload));
        signal(store, key);
      } else {
        await(store, key);
        std::vector<std::byte> buffer(n + 16);  // larger than the message: fine
        auto r = ctx.irecv(0, p2p(8), buffer);
        wait_ok(r);
        EXPECT_EQ(r->bytes(), n);
        expect_pattern(buffer, n, i);
      }
    }
  });
}

TEST_P(TransportTest, HundredMessagesWithOneTagArriveInOrder) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    constexpr int kCount = 100;
    auto size_of = [](int i) { return static_cast<size_t>(1 + (i * 997) % 5000); };
    if (rank == 0) {
      std::vector<std::vector<std::byte>> payloads;
      for (int i = 0; i < kCount; ++i) payloads.push_back(pattern(size_of(i), i));
      await(store, "half-posted");
      std::vector<RequestPtr> sends;
      for (int i = 0; i < kCount; ++i) sends.push_back(ctx.isend(1, p2p(5), payloads[i]));
      for (auto& s : sends) wait_ok(s);
      signal(store, "all-sent");
    } else {
      // The first half is posted before anything is sent, the rest after.
      std::vector<std::vector<std::byte>> buffers(kCount, std::vector<std::byte>(5000));
      std::vector<RequestPtr> recvs;
      for (int i = 0; i < kCount / 2; ++i) recvs.push_back(ctx.irecv(0, p2p(5), buffers[i]));
      signal(store, "half-posted");
      await(store, "all-sent");
      for (int i = kCount / 2; i < kCount; ++i) recvs.push_back(ctx.irecv(0, p2p(5), buffers[i]));
      for (int i = 0; i < kCount; ++i) {
        wait_ok(recvs[i]);
        ASSERT_EQ(recvs[i]->bytes(), size_of(i)) << "message " << i << " out of order";
        expect_pattern(buffers[i], size_of(i), i);
      }
    }
  });
}

TEST_P(TransportTest, TagsInterleavedKeepTheirOwnOrder) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    constexpr int kCount = 20;
    if (rank == 0) {
      std::vector<std::vector<std::byte>> payloads;
      for (int i = 0; i < kCount; ++i) payloads.push_back(pattern(64, i));
      std::vector<RequestPtr> sends;
      for (int i = 0; i < kCount; ++i) sends.push_back(ctx.isend(1, p2p(1 + i % 2), payloads[i]));
      for (auto& s : sends) wait_ok(s);
      signal(store, "sent");
    } else {
      // Tag 2 first (messages 1, 3, 5, ...), half of them posted before the sends.
      std::vector<std::vector<std::byte>> buffers(kCount, std::vector<std::byte>(64));
      std::vector<RequestPtr> tag2;
      for (int i = 1; i < kCount; i += 2) tag2.push_back(ctx.irecv(0, p2p(2), buffers[i]));
      await(store, "sent");
      for (size_t k = 0; k < tag2.size(); ++k) {
        wait_ok(tag2[k]);
        expect_pattern(buffers[2 * k + 1], 64, 2 * k + 1);
      }
      for (int i = 0; i < kCount; i += 2) {
        auto r = ctx.irecv(0, p2p(1), buffers[i]);
        wait_ok(r);
        expect_pattern(buffers[i], 64, i);
      }
    }
  });
}

TEST_P(TransportTest, AnySourceReportsTheSource) {
  run(3, [](Context& ctx, Store& store, int rank, int) {
    if (rank == 0) {
      // Posted before the messages exist.
      std::vector<std::vector<std::byte>> buffers(2, std::vector<std::byte>(100));
      auto a = ctx.irecv(kAnySource, p2p(9), buffers[0]);
      auto b = ctx.irecv(kAnySource, p2p(9), buffers[1]);
      signal(store, "posted");
      wait_ok(a);
      wait_ok(b);
      EXPECT_NE(a->source(), b->source());
      expect_pattern(buffers[0], 100, static_cast<uint64_t>(a->source()));
      expect_pattern(buffers[1], 100, static_cast<uint64_t>(b->source()));
      // Posted after the messages arrived.
      await(store, "sent2/1");
      await(store, "sent2/2");
      std::vector<int> sources;
      for (int k = 0; k < 2; ++k) {
        std::vector<std::byte> buffer(100);
        auto r = ctx.irecv(kAnySource, p2p(10), buffer);
        wait_ok(r);
        sources.push_back(r->source());
        expect_pattern(buffer, 100, 10 + static_cast<uint64_t>(r->source()));
      }
      EXPECT_THAT(sources, ::testing::UnorderedElementsAre(1, 2));
    } else {
      const auto first = pattern(100, static_cast<uint64_t>(rank));
      const auto second = pattern(100, 10 + static_cast<uint64_t>(rank));
      await(store, "posted");
      wait_ok(ctx.isend(0, p2p(9), first));
      wait_ok(ctx.isend(0, p2p(10), second));
      signal(store, "sent2/" + std::to_string(rank));
    }
  });
}

TEST_P(TransportTest, MessageLongerThanTheBufferFailsNamingBothSizes) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    if (rank == 0) {
      const auto big = pattern(4000, 1), after = pattern(100, 2);
      await(store, "posted");
      wait_ok(ctx.isend(1, p2p(3), big));
      wait_ok(ctx.isend(1, p2p(3), after));
    } else {
      std::vector<std::byte> small(1000);
      auto r = ctx.irecv(0, p2p(3), small);
      signal(store, "posted");
      const std::string what = wait_error<MismatchError>(r);
      EXPECT_THAT(what, HasSubstr("4000 bytes"));
      EXPECT_THAT(what, HasSubstr("1000 bytes"));
      // The stream stays in step: the next message arrives intact.
      auto next = ctx.irecv(0, p2p(3), small);
      wait_ok(next);
      EXPECT_EQ(next->bytes(), 100u);
      expect_pattern(small, 100, 2);
    }
  });
}

TEST_P(TransportTest, CollectivesMatchBySeqAndTag) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    if (rank == 0) {
      const auto a = pattern(40, 1), b = pattern(40, 2), c = pattern(40, 3);
      wait_ok(ctx.isend(1, coll(6, 0, 2, 10), c));
      wait_ok(ctx.isend(1, coll(5, 1, 2, 10), b));
      wait_ok(ctx.isend(1, coll(5, 0, 2, 10), a));
      signal(store, "sent");
    } else {
      std::vector<std::byte> a(40), b(40), c(40);
      auto ra = ctx.irecv(0, coll(5, 0, 2, 10), a);  // posted before: matched on arrival
      await(store, "sent");
      auto rc = ctx.irecv(0, coll(6, 0, 2, 10), c);
      auto rb = ctx.irecv(0, coll(5, 1, 2, 10), b);
      wait_ok(ra);
      wait_ok(rb);
      wait_ok(rc);
      expect_pattern(a, 40, 1);
      expect_pattern(b, 40, 2);
      expect_pattern(c, 40, 3);
    }
  });
}

TEST_P(TransportTest, CollectiveMismatchNamesBothRanksAndOperations) {
  run(2, [](Context& ctx, Store& store, int rank, int) {
    const auto payload = pattern(4000, 0);
    if (rank == 1) {
      await(store, "posted");
      wait_ok(ctx.isend(0, coll(3, 0, /*kind=*/1, 1000, /*root=*/0), payload));
      wait_ok(ctx.isend(0, coll(4, 0, /*kind=*/2, 999), payload));
      signal(store, "sent");
    } else {
      std::vector<std::byte> buffer(4000);
      // Receive first, then the disagreeing message.
      auto r = ctx.irecv(1, coll(3, 0, /*kind=*/2, 1000), buffer);
      signal(store, "posted");
      EXPECT_EQ(wait_error<MismatchError>(r),
                "rank 0 runs op2 #3 (1000 elements) but rank 1 sent op1 #3 (1000 elements)");
      // Message first, then the disagreeing receive.
      await(store, "sent");
      auto late = ctx.irecv(1, coll(4, 0, /*kind=*/2, 1000), buffer);
      EXPECT_EQ(wait_error<MismatchError>(late),
                "rank 0 runs op2 #4 (1000 elements) but rank 1 sent op2 #4 (999 elements)");
    }
  });
}

TEST_P(TransportTest, InvalidPeersFailAtOnce) {
  run(2, [](Context& ctx, Store&, int rank, int) {
    std::vector<std::byte> buffer(4);
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.isend(rank, p2p(0), buffer)), HasSubstr("itself"));
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.isend(2, p2p(0), buffer)), HasSubstr("rank 2"));
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.irecv(-5, p2p(0), buffer)), HasSubstr("rank -5"));
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.irecv(kAnySource, coll(1, 0, 2, 1), buffer)),
                HasSubstr("must name its peer"));
    Envelope bad = p2p(0);
    bad.seq = 3;
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.isend(1 - rank, bad, buffer)),
                HasSubstr("sequence number 3"));
  });
}

TEST_P(TransportTest, AllPairsExchangeForWorldSizes) {
  for (const int world : {2, 3, 5, 8}) {
    SCOPED_TRACE("world size " + std::to_string(world));
    run(world, [](Context& ctx, Store&, int rank, int size) {
      constexpr size_t kBytes = 3000;
      std::vector<std::vector<std::byte>> out,
          in(static_cast<size_t>(size), std::vector<std::byte>(kBytes));
      for (int p = 0; p < size; ++p)
        out.push_back(pattern(kBytes, static_cast<uint64_t>(rank * 100 + p)));
      std::vector<RequestPtr> requests, recvs(static_cast<size_t>(size));
      for (int p = 0; p < size; ++p) {
        if (p == rank) continue;
        recvs[static_cast<size_t>(p)] = ctx.irecv(p, p2p(p), in[static_cast<size_t>(p)]);
        requests.push_back(ctx.isend(p, p2p(rank), out[static_cast<size_t>(p)]));
      }
      for (auto& r : requests) wait_ok(r);
      for (int p = 0; p < size; ++p) {
        if (p == rank) continue;
        wait_ok(recvs[static_cast<size_t>(p)]);
        EXPECT_EQ(recvs[static_cast<size_t>(p)]->source(), p);
        expect_pattern(in[static_cast<size_t>(p)], kBytes, static_cast<uint64_t>(p * 100 + rank));
      }
    });
  }
}

TEST_P(TransportTest, BothDirectionsAtOnceManyMessages) {
  run(2, [](Context& ctx, Store&, int rank, int) {
    constexpr int kCount = 300;
    auto size_of = [](int i) { return static_cast<size_t>((i * 7919) % 70000); };
    const int peer = 1 - rank;
    std::vector<std::vector<std::byte>> out, in;
    for (int i = 0; i < kCount; ++i) {
      out.push_back(pattern(size_of(i), static_cast<uint64_t>(rank * 1000 + i)));
      in.emplace_back(size_of(i));
    }
    std::vector<RequestPtr> sends, recvs;
    for (int i = 0; i < kCount; ++i) {
      sends.push_back(ctx.isend(peer, p2p(i % 3), out[static_cast<size_t>(i)]));
      // Receives trail the sends: some messages arrive first, some after.
      if (i % 2 == 1) {
        for (int j = i - 1; j <= i; ++j)
          recvs.push_back(ctx.irecv(peer, p2p(j % 3), in[static_cast<size_t>(j)]));
      }
    }
    for (auto& s : sends) wait_ok(s);
    for (int i = 0; i < kCount; ++i) {
      wait_ok(recvs[static_cast<size_t>(i)]);
      expect_pattern(in[static_cast<size_t>(i)], size_of(i),
                     static_cast<uint64_t>(peer * 1000 + i));
    }
  });
}

TEST_P(TransportTest, LargeMessagesBothWaysAtOnce) {
  run(2, [](Context& ctx, Store&, int rank, int) {
    constexpr size_t kBytes = 64u << 20;
    const int peer = 1 - rank;
    const auto out = pattern(kBytes, static_cast<uint64_t>(rank));
    std::vector<std::byte> in(kBytes);
    auto s = ctx.isend(peer, p2p(0), out);
    auto r = ctx.irecv(peer, p2p(0), in);
    wait_ok(s);
    wait_ok(r);
    expect_pattern(in, kBytes, static_cast<uint64_t>(peer));
  });
}

TEST_P(TransportTest, UnexpectedBoundStopsReadingUntilReceivesArePosted) {
  SuiteOptions options;
  options.unexpected_bytes = 64 * 1024;
  run(
      2,
      [](Context& ctx, Store& store, int rank, int) {
        const size_t sizes[] = {40 * 1024, 40 * 1024, 1u << 20, 8};
        if (rank == 0) {
          std::vector<std::vector<std::byte>> payloads;
          for (int i = 0; i < 4; ++i) payloads.push_back(pattern(sizes[i], i));
          std::vector<RequestPtr> sends;
          for (int i = 0; i < 4; ++i) sends.push_back(ctx.isend(1, p2p(i), payloads[i]));
          signal(store, "issued");
          for (auto& s : sends) wait_ok(s);
        } else {
          await(store, "issued");
          // Message 0 fits the bound; message 1 does not and waits in the
          // stream. Posting it lets the transport read on; message 2 is
          // larger than the whole bound and waits for its receive too.
          std::vector<std::vector<std::byte>> buffers;
          for (int i = 0; i < 4; ++i) buffers.emplace_back(sizes[i]);
          for (int i : {1, 2, 0, 3}) {
            auto r = ctx.irecv(0, p2p(i), buffers[static_cast<size_t>(i)]);
            wait_ok(r);
            expect_pattern(buffers[static_cast<size_t>(i)], sizes[i], static_cast<uint64_t>(i));
          }
        }
      },
      options);
}

TEST_P(TransportTest, KilledPeerFailsBlockedReceiveWithinTwoSeconds) {
  const auto results = try_run(3, [](Context& ctx, Store& store, int rank, int) {
    if (rank == 1) {
      await(store, "posted");
      ::raise(SIGKILL);
    }
    if (rank == 0) {
      std::vector<std::byte> buffer(8), any(8), from2(8);
      auto r = ctx.irecv(1, p2p(0), buffer);
      auto r_any = ctx.irecv(kAnySource, p2p(4), any);
      signal(store, "posted");
      const auto start = Clock::now();
      const std::string what = wait_error<ConnectionError>(r, 2s);
      EXPECT_THAT(what, HasSubstr("rank 1"));
      EXPECT_LT(Clock::now() - start, 2s);
      EXPECT_THAT(wait_error<ConnectionError>(r_any, 2s), HasSubstr("rank 1"));
      // The dead peer fails sends to it; the live one still works.
      EXPECT_THAT(wait_error<ConnectionError>(ctx.isend(1, p2p(0), buffer), 2s),
                  HasSubstr("rank 1"));
      auto ok = ctx.irecv(2, p2p(5), from2);
      signal(store, "ask2");
      wait_ok(ok);
      expect_pattern(from2, 8, 5);
    }
    if (rank == 2) {
      const auto payload = pattern(8, 5);
      await(store, "ask2");
      wait_ok(ctx.isend(0, p2p(5), payload));
    }
    // rank 1 never reaches the end barrier: skip it.
    store.set("end/1", std::string_view("dead"));
  });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok) << results[0].what;
  EXPECT_FALSE(results[1].ok);
  EXPECT_THAT(results[1].what, HasSubstr("signal 9"));
  EXPECT_TRUE(results[2].ok) << results[2].what;
}

TEST_P(TransportTest, AbortReachesEveryRankWithItsErrorType) {
  run(3, [](Context& ctx, Store& store, int rank, int size) {
    std::vector<std::byte> buffer(16);
    if (rank == 0) {
      auto mine = ctx.irecv(1, p2p(0), buffer);
      store_barrier(store, "posted", rank, size);
      ctx.abort(std::make_exception_ptr(
          MismatchError("rank 0 runs op2 #3 (5 elements) but rank 1 sent op1 #3 (5 elements)")));
      EXPECT_THAT(wait_error<MismatchError>(mine), HasSubstr("rank 0 runs op2 #3"));
      EXPECT_THAT(wait_error<MismatchError>(ctx.isend(1, p2p(0), buffer)), HasSubstr("op2 #3"));
    } else {
      // Rank 2's receive from rank 1 does not involve rank 0, yet fails too.
      auto from0 = ctx.irecv(0, p2p(0), buffer);
      auto other = ctx.irecv(3 - rank, p2p(0), buffer);
      store_barrier(store, "posted", rank, size);
      for (const auto& r : {from0, other}) {
        const std::string what = wait_error<MismatchError>(r);
        EXPECT_THAT(what, HasSubstr("rank 0 runs op2 #3"));
        EXPECT_THAT(what, HasSubstr("rank 0 aborted the group"));
      }
      EXPECT_THAT(wait_error<MismatchError>(ctx.irecv(0, p2p(1), buffer)), HasSubstr("op2 #3"));
    }
  });
}

TEST_P(TransportTest, ClosedPeerFailsPendingReceive) {
  expect_all_ok(try_run_owning(2, [](std::unique_ptr<Context>& ctx, Store& store, int rank, int) {
    std::vector<std::byte> buffer(16);
    if (rank == 0) {
      auto r = ctx->irecv(1, p2p(0), buffer);
      signal(store, "posted");
      EXPECT_THAT(wait_error<ConnectionError>(r),
                  HasSubstr("rank 1 closed its connection (it shut down its transport context)"));
      EXPECT_THAT(wait_error<ConnectionError>(ctx->isend(1, p2p(0), buffer)), HasSubstr("rank 1"));
    } else {
      await(store, "posted");
      ctx.reset();  // rank 0's receive is still pending
    }
  }));
}

TEST_P(TransportTest, DestroyingTheContextFailsItsPendingRequests) {
  expect_all_ok(
      try_run_owning(2, [](std::unique_ptr<Context>& ctx, Store& store, int rank, int size) {
        std::vector<std::byte> buffer(16);
        auto r = ctx->irecv(1 - rank, p2p(0), buffer);
        store_barrier(store, "posted", rank, size);
        if (rank == 0) {
          ctx.reset();
          EXPECT_THAT(wait_error<ConnectionError>(r, 0s), HasSubstr("destroyed"));
          signal(store, "destroyed");
        } else {
          await(store, "destroyed");
          EXPECT_THAT(wait_error<ConnectionError>(r), HasSubstr("rank 0 closed its connection"));
        }
      }));
}

TEST_P(TransportTest, WorldOfOneRank) {
  run(1, [](Context& ctx, Store&, int, int) {
    std::vector<std::byte> buffer(4);
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.irecv(kAnySource, p2p(0), buffer)),
                HasSubstr("one rank"));
    EXPECT_THAT(wait_error<InvalidArgument>(ctx.isend(0, p2p(0), buffer)), HasSubstr("itself"));
  });
}

}  // namespace baton::transport::testing
