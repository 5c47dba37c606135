// The API a second front end needs (torch's ProcessGroup, through
// python/baton_torch), across forked ranks: groups made from a store,
// completion callbacks and what pending operations keep alive, the tensor
// forms torch uses, monitored_barrier and batch_isend_irecv. Every value
// checked is a closed form of the ranks' inputs that a wrong result cannot
// produce.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "baton/baton.hpp"
#include "baton/distributed.hpp"
#include "baton/file_store.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::shared_ptr<Store> file_store(const JobDir& dir, const std::string& name) {
  return std::make_shared<FileStore>(dir.path() + "/" + name);
}

GroupOptions named(const std::string& name, std::vector<int> world_ranks = {},
                   milliseconds timeout = seconds(30)) {
  GroupOptions o;
  o.name = name;
  o.world_ranks = std::move(world_ranks);
  o.timeout = timeout;
  return o;
}

// Two store groups that overlap in rank 1 (world ranks {0, 1} and {1, 2}),
// beside a default group, each reducing its own values: none sees another's
// traffic, and each shuts down on its own.
TEST(StoreGroupTest, GroupsFromStoresAreIndependent) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    InitOptions init;
    init.init_method = dir.init_method();
    init.rank = rank;
    init.world_size = n;
    init_process_group(init);
    Group a, b;
    if (rank <= 1) a = new_group(file_store(dir, "a"), rank, 2, named("a", {0, 1}));
    if (rank >= 1) b = new_group(file_store(dir, "b"), rank - 1, 2, named("b", {1, 2}));
    for (int round = 0; round < 3; ++round) {
      Tensor w = Tensor::full({5}, rank + 1);
      all_reduce(w);
      EXPECT_EQ(w.item(4), 6.0);
      if (a.is_member()) {
        Tensor t = Tensor::full({1000}, 10 * (rank + 1) + round);
        all_reduce(t, ReduceOp::SUM, a);
        EXPECT_EQ(t.item(999), 30.0 + 2 * round);
      }
      if (b.is_member()) {
        Tensor t = Tensor::full({7}, 100 * (rank + 1), DType::Int64);
        all_reduce(t, ReduceOp::MAX, b);
        EXPECT_EQ(t.item(0), 300.0);
      }
    }
    if (a.is_member()) {
      EXPECT_EQ(a.size(), 2);
      EXPECT_EQ(a.world_ranks(), (std::vector<int>{0, 1}));
    }
    if (b.is_member()) {
      EXPECT_EQ(b.world_ranks(), (std::vector<int>{1, 2}));
    }
    if (b.is_member()) {
      destroy_group(b);
      destroy_group(b);  // idempotent
      Tensor t = Tensor::ones({1});
      const std::string m = message_of<InvalidArgument>([&] { all_reduce(t, ReduceOp::SUM, b); });
      EXPECT_TRUE(contains(m, "b was destroyed")) << m;
    }
    if (a.is_member()) {  // a still works after b went away
      Tensor t = Tensor::full({3}, rank);
      all_reduce(t, ReduceOp::SUM, a);
      EXPECT_EQ(t.item(2), 1.0);
    }
    EXPECT_THROW(destroy_group(world()), InvalidArgument);
    destroy_process_group();
  });
}

TEST(StoreGroupTest, WorksWithoutDefaultGroupAndChecksArguments) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    EXPECT_THROW(new_group(nullptr, 0, 2), InvalidArgument);
    EXPECT_THROW(new_group(file_store(dir, "x"), 2, 2), InvalidArgument);
    EXPECT_THROW(new_group(file_store(dir, "x"), 0, 2, named("x", {0})), InvalidArgument);
    Group g = new_group(file_store(dir, "s"), rank, n, named("s", {5, 7}));
    EXPECT_FALSE(is_initialized());
    Tensor t = Tensor::full({4}, rank + 1);
    broadcast(t, 1, g);
    EXPECT_EQ(t.item(0), 2.0);
    // A peer that times out names the members by the world ranks given.
    Tensor late = Tensor::ones({2});
    if (rank == 0) {
      Group short_lived =
          new_group(file_store(dir, "t"), rank, n, named("t", {5, 7}, milliseconds(800)));
      const std::string m =
          message_of<TimeoutError>([&] { all_reduce(late, ReduceOp::SUM, short_lived); });
      EXPECT_TRUE(contains(m, "all_reduce")) << m;
    } else {
      Group short_lived =
          new_group(file_store(dir, "t"), rank, n, named("t", {5, 7}, milliseconds(800)));
      std::this_thread::sleep_for(milliseconds(1500));
    }
    destroy_group(g);
  });
}

// Callbacks run exactly once, on completion, and at once when added late;
// a receive's callback fires without anyone waiting on its Work.
TEST(WorkCallbackTest, RunOnceOnCompletion) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s"));
    Tensor t = Tensor::full({100000}, rank + 1);
    std::atomic<int> calls{0};
    Work w = all_reduce(t, ReduceOp::SUM, g, async_op);
    w.add_done_callback([&](std::exception_ptr e) {
      EXPECT_EQ(e, nullptr);
      EXPECT_EQ(t.item(99999), 3.0);  // the result is in place when it runs
      calls++;
    });
    w.wait();
    const auto until = Clock::now() + seconds(10);
    while (calls.load() == 0 && Clock::now() < until) std::this_thread::yield();
    EXPECT_EQ(calls.load(), 1);
    w.add_done_callback([&](std::exception_ptr) { calls++; });
    EXPECT_EQ(calls.load(), 2);
    Work().add_done_callback([&](std::exception_ptr e) { calls += e ? 100 : 1; });
    EXPECT_EQ(calls.load(), 3);

    std::atomic<int> source{-2};
    Tensor box = Tensor::zeros({3}, DType::Int32);
    if (rank == 0) {
      Work r = irecv(box, ANY_SOURCE, g, 4);
      r.add_done_callback([&, r](std::exception_ptr e) {
        EXPECT_EQ(e, nullptr);
        source = r.source_rank();
      });
      const auto deadline = Clock::now() + seconds(10);
      while (source.load() == -2 && Clock::now() < deadline) std::this_thread::yield();
      EXPECT_EQ(source.load(), 1);
      EXPECT_EQ(box.item(2), 42.0);
    } else {
      Tensor v = Tensor::full({3}, 42, DType::Int32);
      send(v, 0, g, 4);
    }
    // A failed operation passes its error.
    std::atomic<bool> failed{false};
    Tensor wrong = Tensor::ones({rank == 0 ? 3 : 5});
    Work bad = all_reduce(wrong, ReduceOp::SUM, g, async_op);
    bad.add_done_callback([&](std::exception_ptr e) { failed = e != nullptr; });
    EXPECT_THROW(bad.wait(), MismatchError);
    // wait() may return before the completing thread has run the callbacks.
    const auto later = Clock::now() + seconds(10);
    while (!failed.load() && Clock::now() < later) std::this_thread::yield();
    EXPECT_TRUE(failed.load());
  });
}

// A pending receive whose Work and tensor handle the caller dropped keeps
// its memory: the owner of a from_blob tensor is released only after the
// message has landed.
TEST(WorkCallbackTest, PendingOperationKeepsItsMemory) {
  JobDir dir;
  run_ranks(2, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s"));
    if (rank == 0) {
      auto released = std::make_shared<std::atomic<bool>>(false);
      auto* memory = new std::vector<float>(1 << 16, 0.0f);
      std::shared_ptr<const void> owner(memory, [released](const void* p) {
        delete static_cast<const std::vector<float>*>(p);
        *released = true;
      });
      {
        Tensor view = Tensor::from_blob(memory->data(), {1 << 16}, DType::Float32, Device::cpu(),
                                        std::move(owner));
        irecv(view, 1, g);  // Work and tensor dropped at once
      }
      EXPECT_FALSE(released->load());
      Tensor go = Tensor::ones({1});
      send(go, 1, g, 1);  // now rank 1 sends the big message
      const auto until = Clock::now() + seconds(10);
      while (!released->load() && Clock::now() < until)
        std::this_thread::sleep_for(milliseconds(2));
      EXPECT_TRUE(released->load());
      Tensor done = Tensor::ones({1});
      send(done, 1, g, 2);
    } else {
      Tensor go = Tensor::zeros({1});
      recv(go, 0, g, 1);
      Tensor big = Tensor::full({1 << 16}, 7);
      send(big, 0, g);
      Tensor done = Tensor::zeros({1});
      recv(done, 0, g, 2);
    }
    destroy_group(g);
  });
}

TEST(TensorFormsTest, GatherScatterAndAllToAllSingle) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s"));
    // all_gather_into_tensor: rank r contributes 4 values 10r + i.
    Tensor in = Tensor::empty({4}, DType::Int32);
    for (int i = 0; i < 4; ++i) in.data<int32_t>()[static_cast<size_t>(i)] = 10 * rank + i;
    Tensor out = Tensor::zeros({3, 4}, DType::Int32);
    all_gather_into_tensor(out, in, g);
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 4; ++i) EXPECT_EQ(out.item(4 * r + i), 10 * r + i);
    Tensor wrong = Tensor::zeros({11}, DType::Int32);
    EXPECT_THROW(all_gather_into_tensor(wrong, in, g), InvalidArgument);

    // reduce_scatter_tensor: block b of rank r holds (r + 1) * (b + 1).
    Tensor big = Tensor::empty({6});
    for (int b = 0; b < 3; ++b)
      for (int i = 0; i < 2; ++i)
        big.data<float>()[static_cast<size_t>(2 * b + i)] =
            static_cast<float>((rank + 1) * (b + 1));
    Tensor mine = Tensor::zeros({2});
    Work w = reduce_scatter_tensor(mine, big, ReduceOp::SUM, g, async_op);
    w.wait();
    EXPECT_EQ(mine.item(1), 6.0 * (rank + 1));

    // all_to_all_single, uneven: rank r sends r + i + 1 rows of 2 to rank i,
    // each row holding 100 r + i.
    std::vector<int64_t> in_splits, out_splits;
    int64_t in_rows = 0, out_rows = 0;
    for (int i = 0; i < 3; ++i) {
      in_splits.push_back(rank + i + 1);
      out_splits.push_back(i + rank + 1);
      in_rows += rank + i + 1;
      out_rows += i + rank + 1;
    }
    Tensor send_rows = Tensor::empty({in_rows, 2}, DType::Int64);
    int64_t at = 0;
    for (int i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 2 * in_splits[static_cast<size_t>(i)]; ++k)
        send_rows.data<int64_t>()[static_cast<size_t>(at++)] = 100 * rank + i;
    Tensor recv_rows = Tensor::full({out_rows, 2}, -1, DType::Int64);
    all_to_all_single(recv_rows, send_rows, out_splits, in_splits, g);
    at = 0;
    for (int i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 2 * out_splits[static_cast<size_t>(i)]; ++k)
        EXPECT_EQ(recv_rows.item(at++), 100 * i + rank) << "from " << i;
    // Equal splits by default.
    Tensor eq_in = Tensor::full({3, 2}, rank);
    Tensor eq_out = Tensor::zeros({3, 2});
    all_to_all_single(eq_out, eq_in, {}, {}, g);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(eq_out.item(2 * i + 1), i);
    const std::string m = message_of<InvalidArgument>([&] {
      all_to_all_single(eq_out, eq_in, {1, 1, 2}, {}, g);
    });
    EXPECT_TRUE(contains(m, "output_split_sizes add up to 4 rows")) << m;
    Tensor odd = Tensor::zeros({4, 2});
    EXPECT_THROW(all_to_all_single(odd, odd, {}, {}, g), InvalidArgument);
    destroy_group(g);
  });
}

TEST(TensorFormsTest, AllReduceCoalescedMixedDTypes) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s"));
    for (bool async : {false, true}) {
      std::vector<Tensor> list = {Tensor::full({3}, rank + 1),
                                  Tensor::full({5}, 10 * (rank + 1), DType::Int64),
                                  Tensor::full({2, 2}, 0.5 * (rank + 1)), Tensor::empty({0})};
      Work w = async ? all_reduce_coalesced(list, ReduceOp::SUM, g, async_op)
                     : all_reduce_coalesced(list, ReduceOp::SUM, g);
      w.wait();
      EXPECT_TRUE(w.is_success());
      EXPECT_EQ(list[0].item(2), 6.0);
      EXPECT_EQ(list[1].item(4), 60.0);
      EXPECT_EQ(list[2].item(3), 3.0);
    }
    std::vector<Tensor> bits = {Tensor::full({2}, 1 << rank, DType::Int32), Tensor::full({1}, 1.0)};
    EXPECT_THROW(all_reduce_coalesced(bits, ReduceOp::BOR, g), InvalidArgument);  // BOR on float
    bits.pop_back();
    all_reduce_coalesced(bits, ReduceOp::BOR, g);
    EXPECT_EQ(bits[0].item(1), 7.0);
    destroy_group(g);
  });
}

TEST(MonitoredBarrierTest, PassesAndNamesTheMissingRanks) {
  JobDir dir;
  run_ranks(4, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s", {10, 11, 12, 13}));
    monitored_barrier(g);
    monitored_barrier(g, seconds(5));
    // Ranks 2 and 3 are late for the third one.
    if (rank == 0) {
      const std::string m =
          message_of<TimeoutError>([&] { monitored_barrier(g, milliseconds(500), true); });
      EXPECT_TRUE(contains(m, "ranks 2, 3 of 4")) << m;
      EXPECT_TRUE(contains(m, "world ranks 12, 13")) << m;
    } else if (rank == 1) {
      const std::string m =
          message_of<TimeoutError>([&] { monitored_barrier(g, milliseconds(1500)); });
      EXPECT_TRUE(contains(m, "rank 0")) << m;
    } else {
      std::this_thread::sleep_for(milliseconds(2000));
    }
  });
}

TEST(BatchP2PTest, RingExchangeAndChecks) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    Group g = new_group(file_store(dir, "s"), rank, n, named("s"));
    const int right = (rank + 1) % n, left = (rank + n - 1) % n;
    Tensor out = Tensor::full({1000}, rank * 3 + 1);
    Tensor in = Tensor::zeros({1000});
    std::vector<Work> works =
        batch_isend_irecv({{.op = P2POp::Kind::irecv, .tensor = in, .peer = left, .group = g},
                           {.op = P2POp::Kind::isend, .tensor = out, .peer = right, .group = g}});
    ASSERT_EQ(works.size(), 2u);
    for (auto& w : works) w.wait();
    EXPECT_EQ(in.item(999), left * 3 + 1);
    const std::string m = message_of<InvalidArgument>([&] {
      batch_isend_irecv({{.op = P2POp::Kind::isend, .tensor = out, .peer = right, .group = g},
                         {.op = P2POp::Kind::irecv, .tensor = in, .peer = 9, .group = g}});
    });
    EXPECT_TRUE(contains(m, "ops[1] (irecv)")) << m;
    destroy_group(g);
  });
}

}  // namespace
}  // namespace baton::testing
