// The conformance suite's test bodies (see suite_bodies.hpp).
#include "tests/backends/suite_bodies.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <set>
#include <thread>

#include "tests/backends/suite_support.hpp"

namespace baton::testing {
namespace {

std::string where(int rank, int n, const std::string& what) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(n) + ", " + what;
}

std::vector<Tensor> tensor_list(int n, int64_t count, DType dtype,
                                const std::function<double(int j, int64_t i)>& f) {
  std::vector<Tensor> list;
  for (int j = 0; j < n; ++j)
    list.push_back(make_tensor(count, dtype, [&](int64_t i) { return f(j, i); }));
  return list;
}

// Runs every collective once on `count` elements per rank, blocking or
// async (issued back to back, then waited on), and checks every result.
void check_every_collective(int rank, int n, int64_t count, bool async) {
  const AsyncOp mode = async ? async_op : AsyncOp{};
  const std::string label = "count " + std::to_string(count) + (async ? ", async" : ", blocking");
  std::vector<Work> works;
  auto issued = [&](Work work) {
    if (async) {
      works.push_back(std::move(work));
    } else {
      EXPECT_TRUE(work.is_completed()) << where(rank, n, label);
    }
  };
  const auto c = count;

  const int bcast_root = static_cast<int>(count % n);
  Tensor bcast = make_tensor(c, DType::Float32, [&](int64_t i) {
    return rank == bcast_root ? pattern_value(bcast_root, i) : -1.0;
  });
  issued(broadcast(bcast, bcast_root, world(), mode));

  Tensor allred = make_tensor(c, DType::Float32, [&](int64_t i) { return pattern_value(rank, i); });
  issued(all_reduce(allred, ReduceOp::SUM, world(), mode));

  const int reduce_root = static_cast<int>((count + 1) % n);
  Tensor red = make_tensor(c, DType::Int32, [&](int64_t i) { return pattern_value(rank, i); });
  issued(reduce(red, reduce_root, ReduceOp::MAX, world(), mode));

  Tensor ag_in = make_tensor(c, DType::Float32, [&](int64_t i) { return pattern_value(rank, i); });
  std::vector<Tensor> ag_out = tensor_list(n, c, DType::Float32, [](int, int64_t) { return -1.0; });
  issued(all_gather(ag_out, ag_in, world(), mode));

  const int gather_root = static_cast<int>((count + 2) % n);
  Tensor g_in = make_tensor(c, DType::Int64,
                            [&](int64_t i) { return 1000.0 * rank + static_cast<double>(i); });
  std::vector<Tensor> g_out;
  if (rank == gather_root)
    g_out = tensor_list(n, c, DType::Int64, [](int, int64_t) { return -1.0; });
  issued(gather(g_in, g_out, gather_root, world(), mode));

  const int scatter_root = static_cast<int>((count + 3) % n);
  std::vector<Tensor> s_in;
  if (rank == scatter_root) {
    s_in = tensor_list(n, c, DType::Int32,
                       [](int j, int64_t i) { return 7.0 * j + static_cast<double>(i % 100); });
  }
  Tensor s_out = make_tensor(c, DType::Int32, [](int64_t) { return -1.0; });
  issued(scatter(s_out, s_in, scatter_root, world(), mode));

  std::vector<Tensor> rs_in = tensor_list(
      n, c, DType::Float32, [&](int j, int64_t i) { return pattern_value(rank, i + j * c); });
  Tensor rs_out = make_tensor(c, DType::Float32, [](int64_t) { return -1.0; });
  issued(reduce_scatter(rs_out, rs_in, ReduceOp::SUM, world(), mode));

  // Sizes differ per pair: rank i sends count + (i + j) % 2 elements to rank j.
  auto pair_count = [&](int from, int to) { return c + (c > 0 ? (from + to) % 2 : 0); };
  std::vector<Tensor> a2a_in, a2a_out;
  for (int j = 0; j < n; ++j) {
    a2a_in.push_back(make_tensor(pair_count(rank, j), DType::Int32, [&](int64_t i) {
      return 100.0 * rank + j + static_cast<double>(i % 1000) * 1000.0;
    }));
    a2a_out.push_back(make_tensor(pair_count(j, rank), DType::Int32, [](int64_t) { return -1.0; }));
  }
  issued(all_to_all(a2a_out, a2a_in, world(), mode));

  issued(barrier(world(), mode));

  for (auto& work : works) {
    work.wait();
    EXPECT_TRUE(work.is_completed());
    EXPECT_TRUE(work.is_success());
  }

  expect_tensor(
      bcast, [&](int64_t i) { return pattern_value(bcast_root, i); },
      where(rank, n, "broadcast, " + label));
  expect_tensor(
      allred,
      [&](int64_t i) {
        return fold(ReduceOp::SUM, DType::Float32, n, [&](int r) { return pattern_value(r, i); });
      },
      where(rank, n, "all_reduce, " + label));
  if (rank == reduce_root) {
    expect_tensor(
        red,
        [&](int64_t i) {
          return fold(ReduceOp::MAX, DType::Int32, n, [&](int r) { return pattern_value(r, i); });
        },
        where(rank, n, "reduce, " + label));
  }
  for (int j = 0; j < n; ++j) {
    expect_tensor(
        ag_out[static_cast<size_t>(j)], [&](int64_t i) { return pattern_value(j, i); },
        where(rank, n, "all_gather outputs[" + std::to_string(j) + "], " + label));
  }
  if (rank == gather_root) {
    for (int j = 0; j < n; ++j) {
      expect_tensor(
          g_out[static_cast<size_t>(j)],
          [&](int64_t i) { return 1000.0 * j + static_cast<double>(i); },
          where(rank, n, "gather gather_list[" + std::to_string(j) + "], " + label));
    }
  }
  expect_tensor(
      s_out, [&](int64_t i) { return 7.0 * rank + static_cast<double>(i % 100); },
      where(rank, n, "scatter, " + label));
  expect_tensor(
      rs_out,
      [&](int64_t i) {
        return fold(ReduceOp::SUM, DType::Float32, n,
                    [&](int r) { return pattern_value(r, i + rank * c); });
      },
      where(rank, n, "reduce_scatter, " + label));
  for (int j = 0; j < n; ++j) {
    expect_tensor(
        a2a_out[static_cast<size_t>(j)],
        [&](int64_t i) { return 100.0 * j + rank + static_cast<double>(i % 1000) * 1000.0; },
        where(rank, n, "all_to_all outputs[" + std::to_string(j) + "], " + label));
  }
}

}  // namespace

void every_collective_small_counts(int rank, int n) {
  for (int64_t count : {0, 1, 3, 1000}) {
    check_every_collective(rank, n, count, false);
    check_every_collective(rank, n, count, true);
  }
}

void every_collective_large_count(int rank, int n) {
  const int64_t count = (int64_t{1} << 20) + 3;
  check_every_collective(rank, n, count, n == 3);
}

void every_dtype_and_reduce_op(int rank, int n, const std::string& algo) {
  for (DType dtype : kAllDTypes) {
    for (ReduceOp op : kAllReduceOps) {
      if (!supports(op, dtype)) continue;
      const auto value = values_for(op, dtype);
      const std::string label = std::string(dtype_name(dtype)) + " " +
                                std::string(reduce_op_name(op)) + " (" + algo + ")";
      for (int64_t count : {3, 1000}) {
        Tensor t = make_tensor(count, dtype, [&](int64_t i) { return value(rank, i); });
        all_reduce(t, op);
        expect_tensor(
            t, [&](int64_t i) { return fold(op, dtype, n, [&](int r) { return value(r, i); }); },
            where(rank, n, "all_reduce " + label + " count " + std::to_string(count)));
      }
      if (algo != "auto") continue;  // the rest does not depend on it

      Tensor r = make_tensor(1000, dtype, [&](int64_t i) { return value(rank, i); });
      const int root = n - 1;
      reduce(r, root, op);
      if (rank == root) {
        expect_tensor(
            r, [&](int64_t i) { return fold(op, dtype, n, [&](int q) { return value(q, i); }); },
            where(rank, n, "reduce " + label));
      }

      std::vector<Tensor> inputs;
      for (int j = 0; j < n; ++j) {
        inputs.push_back(make_tensor(5, dtype, [&](int64_t i) { return value(rank, i + 5 * j); }));
      }
      Tensor out = Tensor::zeros({5}, dtype);
      reduce_scatter(out, inputs, op);
      expect_tensor(
          out,
          [&](int64_t i) {
            return fold(op, dtype, n, [&](int q) { return value(q, i + 5 * rank); });
          },
          where(rank, n, "reduce_scatter " + label));
    }

    if (algo != "auto") continue;
    const std::string label = std::string(dtype_name(dtype));
    auto mine = [&](int r, int64_t i) {
      return dtype == DType::Bool ? bool_value(r, i) : pattern_value(r, i);
    };
    Tensor b = make_tensor(3, dtype, [&](int64_t i) { return rank == 0 ? mine(0, i) : 0.0; });
    broadcast(b, 0);
    expect_tensor(
        b, [&](int64_t i) { return mine(0, i); }, where(rank, n, "broadcast " + label));

    Tensor in = make_tensor(3, dtype, [&](int64_t i) { return mine(rank, i); });
    std::vector<Tensor> outs;
    for (int j = 0; j < n; ++j) outs.push_back(Tensor::zeros({3}, dtype));
    all_gather(outs, in);
    for (int j = 0; j < n; ++j) {
      expect_tensor(
          outs[static_cast<size_t>(j)], [&](int64_t i) { return mine(j, i); },
          where(rank, n, "all_gather " + label));
    }
    std::vector<Tensor> a2a_in, a2a_out;
    for (int j = 0; j < n; ++j) {
      a2a_in.push_back(make_tensor(3, dtype, [&](int64_t i) { return mine(rank, i + j); }));
      a2a_out.push_back(Tensor::zeros({3}, dtype));
    }
    all_to_all(a2a_out, a2a_in);
    for (int j = 0; j < n; ++j) {
      expect_tensor(
          a2a_out[static_cast<size_t>(j)], [&](int64_t i) { return mine(j, i + rank); },
          where(rank, n, "all_to_all " + label));
    }
  }
}

void point_to_point(int rank, int n) {
  // A ring with blocking calls: even ranks send first, odd ranks receive first.
  const int next = (rank + 1) % n, prev = (rank + n - 1) % n;
  Tensor out = Tensor::full({4}, rank, DType::Int32);
  Tensor in = Tensor::zeros({4}, DType::Int32);
  if (rank % 2 == 0) {
    send(out, next);
    recv(in, prev);
  } else {
    recv(in, prev);
    send(out, next);
  }
  expect_tensor(
      in, [&](int64_t) { return prev; }, where(rank, n, "ring recv"));

  // Tags: rank 0 sends tag 5 then tag 7 to rank 1; rank 1 receives 7 first.
  if (rank == 0) {
    Tensor five = Tensor::full({2}, 5, DType::Float64);
    Tensor seven = Tensor::full({3}, 7, DType::Float64);
    Work a = isend(five, 1, world(), 5);
    Work b = isend(seven, 1, world(), 7);
    a.wait();
    b.wait();
  } else if (rank == 1) {
    Tensor seven = Tensor::zeros({3}, DType::Float64);
    Tensor five = Tensor::zeros({2}, DType::Float64);
    Work b = irecv(seven, 0, world(), 7);
    Work a = irecv(five, 0, world(), 5);
    b.wait();
    a.wait();
    EXPECT_EQ(b.source_rank(), 0);
    expect_tensor(
        seven, [](int64_t) { return 7.0; }, "tag 7");
    expect_tensor(
        five, [](int64_t) { return 5.0; }, "tag 5");
  }

  // Non-overtaking: 50 messages with one tag arrive in the order sent.
  constexpr int kMessages = 50;
  if (rank == n - 1) {
    std::vector<Tensor> msgs;
    std::vector<Work> works;
    for (int k = 0; k < kMessages; ++k) {
      msgs.push_back(Tensor::full({k % 7}, k, DType::Int64));
      works.push_back(isend(msgs.back(), 0, world(), 3));
    }
    for (auto& w : works) w.wait();
  } else if (rank == 0) {
    for (int k = 0; k < kMessages; ++k) {
      Tensor t = Tensor::full({k % 7}, -1, DType::Int64);
      recv(t, n - 1, world(), 3);
      expect_tensor(
          t, [&](int64_t) { return k; }, "message " + std::to_string(k));
    }
  }

  // ANY_SOURCE: every other rank sends its rank to rank 0.
  if (rank == 0) {
    std::set<int> sources;
    for (int k = 1; k < n; ++k) {
      Tensor t = Tensor::zeros({1}, DType::Int32);
      Work w = recv(t, ANY_SOURCE, world(), 9);
      EXPECT_EQ(t.item(0), w.source_rank());
      sources.insert(w.source_rank());
    }
    EXPECT_EQ(sources.size(), static_cast<size_t>(n - 1));
    EXPECT_EQ(*sources.begin(), 1);
  } else {
    send(Tensor::full({1}, rank, DType::Int32), 0, world(), 9);
  }

  // Empty and large (> 1 Mi elements) messages, posted before the data arrives.
  if (rank == 0) {
    Tensor empty = Tensor::empty({0}, DType::Float32);
    Tensor big = Tensor::empty({(1 << 20) + 5}, DType::Float32);
    Work e = irecv(empty, 1, world(), 11);
    Work b = irecv(big, 1, world(), 12);
    e.wait();
    b.wait();
    expect_tensor(
        big, [](int64_t i) { return static_cast<double>(i % 1000); }, "large message");
  } else if (rank == 1) {
    send(Tensor::empty({0}, DType::Float32), 0, world(), 11);
    Tensor big = make_tensor((1 << 20) + 5, DType::Float32,
                             [](int64_t i) { return static_cast<double>(i % 1000); });
    send(big, 0, world(), 12);
  }

  // A receive takes a message of exactly its size: a longer and a shorter
  // message each fail it with MismatchError naming the sender; the sends
  // succeed and the group stays usable (the next message arrives intact).
  if (rank == 0) {
    send(Tensor::full({8}, 1, DType::Int32), 1, world(), 21);
    send(Tensor::full({2}, 2, DType::Int32), 1, world(), 22);
    send(Tensor::full({4}, 3, DType::Int32), 1, world(), 23);
  } else if (rank == 1) {
    for (int tag : {21, 22}) {
      Tensor four = Tensor::zeros({4}, DType::Int32);
      try {
        recv(four, 0, world(), tag);
        ADD_FAILURE() << where(rank, n, "recv of a message of another size (tag ") << tag
                      << ") succeeded";
      } catch (const MismatchError& e) {
        EXPECT_NE(std::string(e.what()).find("rank 0"), std::string::npos) << e.what();
      }
    }
    Tensor four = Tensor::zeros({4}, DType::Int32);
    recv(four, 0, world(), 23);
    expect_tensor(
        four, [](int64_t) { return 3.0; }, where(rank, n, "recv after the size mismatches"));
  }
  barrier();
}

void new_group_isolation(int rank, int n) {
  std::vector<int> evens, odds_reversed;
  for (int r = 0; r < n; ++r) (r % 2 == 0 ? evens : odds_reversed).push_back(r);
  std::reverse(odds_reversed.begin(), odds_reversed.end());
  Group even = new_group(evens);
  Group odd = new_group(odds_reversed);
  Group pair = new_group({n - 1, 0});

  Group& mine = rank % 2 == 0 ? even : odd;
  Group& other = rank % 2 == 0 ? odd : even;
  const auto& members = mine.world_ranks();
  ASSERT_TRUE(mine.is_member());
  EXPECT_FALSE(other.is_member());
  EXPECT_EQ(get_rank(other), -1);
  EXPECT_EQ(get_world_size(other), -1);
  EXPECT_EQ(get_world_size(mine), static_cast<int>(members.size()));
  EXPECT_EQ(members[static_cast<size_t>(get_rank(mine))], rank);
  EXPECT_EQ(mine.backend(), world().backend());

  // The world's all_reduce and the subgroup's, in flight at once.
  Tensor w = Tensor::full({1000}, rank + 1, DType::Int64);
  Tensor g = Tensor::full({1000}, rank + 1, DType::Int64);
  Work ww = all_reduce(w, ReduceOp::SUM, world(), async_op);
  Work gw = all_reduce(g, ReduceOp::SUM, mine, async_op);
  ww.wait();
  gw.wait();
  int64_t group_sum = 0;
  for (int r : members) group_sum += r + 1;
  expect_tensor(
      w, [&](int64_t) { return n * (n + 1) / 2; }, where(rank, n, "world all_reduce"));
  expect_tensor(
      g, [&](int64_t) { return static_cast<double>(group_sum); },
      where(rank, n, "group all_reduce"));

  // Point to point in group ranks: group rank 0 sends to group rank 1.
  if (members.size() >= 2) {
    if (get_rank(mine) == 0) {
      send(Tensor::full({2}, rank, DType::Int32), 1, mine);
    } else if (get_rank(mine) == 1) {
      Tensor t = Tensor::zeros({2}, DType::Int32);
      Work work = recv(t, ANY_SOURCE, mine);
      EXPECT_EQ(work.source_rank(), 0);
      expect_tensor(
          t, [&](int64_t) { return members[0]; }, "group p2p");
    }
  }

  // Broadcast in the {n-1, 0} group: group rank 0 is world rank n-1.
  if (pair.is_member()) {
    Tensor t = Tensor::full({3}, rank, DType::Float32);
    broadcast(t, 0, pair);
    expect_tensor(
        t, [&](int64_t) { return n - 1; }, "pair broadcast");
  } else {
    Tensor t = Tensor::zeros({3});
    EXPECT_THROW(broadcast(t, 0, pair), InvalidArgument);
  }
  barrier();
}

void concurrent_groups_from_two_threads(int rank, int n) {
  std::vector<int> forward(static_cast<size_t>(n)), backward;
  std::iota(forward.begin(), forward.end(), 0);
  backward.assign(forward.rbegin(), forward.rend());
  Group a = new_group(forward);
  Group b = new_group(backward);
  constexpr int kRounds = 40;
  auto loop = [&](const Group& group, int salt) {
    for (int k = 0; k < kRounds; ++k) {
      Tensor t = Tensor::full({257}, rank + salt * k, DType::Int64);
      all_reduce(t, ReduceOp::SUM, group);
      const double want = n * (n - 1) / 2.0 + static_cast<double>(n) * salt * k;
      expect_tensor(
          t, [&](int64_t) { return want; },
          where(rank, n, "group salt " + std::to_string(salt) + " round " + std::to_string(k)));
      if (k % 8 == 0) barrier(group);
    }
  };
  std::thread other([&] { loop(b, 3); });
  loop(a, 1);
  other.join();
}

void destroy_then_reinit(int rank, int n, const std::function<InitOptions()>& options) {
  for (int round = 0; round < 2; ++round) {
    EXPECT_FALSE(is_initialized());
    init_process_group(options());
    EXPECT_TRUE(is_initialized());
    EXPECT_EQ(get_rank(), rank);
    EXPECT_EQ(get_world_size(), n);
    Group g = new_group({});
    Tensor t = Tensor::full({5}, round + rank, DType::Int32);
    all_reduce(t, ReduceOp::SUM, g);
    expect_tensor(
        t, [&](int64_t) { return n * round + n * (n - 1) / 2; }, "round " + std::to_string(round));
    Group w = world();
    destroy_process_group();
    EXPECT_FALSE(is_initialized());
    EXPECT_THROW(world(), InvalidArgument);
    try {
      all_reduce(t, ReduceOp::SUM, w);
      ADD_FAILURE() << "an operation on a destroyed group succeeded";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("destroyed"), std::string::npos) << e.what();
    }
    destroy_process_group();  // a second call is harmless
  }
}

}  // namespace baton::testing
