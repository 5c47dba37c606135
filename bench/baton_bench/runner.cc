// run_point: warm-up, timed loop and correctness check of one collective.
#include "runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <vector>

#include "baton/distributed.hpp"
#include "baton/tensor.hpp"

namespace baton::bench {
namespace {

using Clock = std::chrono::steady_clock;

template <class T>
inline constexpr bool kIsHalfLike = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <class T>
T to_element(double value) {
  if constexpr (kIsHalfLike<T>) {
    return T(static_cast<float>(value));
  } else {
    return static_cast<T>(value);
  }
}

template <class T>
double to_double(T value) {
  if constexpr (kIsHalfLike<T>) {
    return static_cast<double>(static_cast<float>(value));
  } else {
    return static_cast<double>(value);
  }
}

// Rank r's input at flat index i: small integers, exact in every dtype. For
// PRODUCT exactly one rank holds a 2 at each index, so the product stays 2.
double input_value(int rank, int64_t index, int ranks, ReduceOp op) {
  const int64_t k = index + rank;
  if (op == ReduceOp::PRODUCT) return (k % ranks == 0) ? 2.0 : 1.0;
  return 1.0 + static_cast<double>(k % 3);
}

// The reduction of input_value over every rank at index i, before rounding to the dtype.
double reduced_value(int64_t index, int ranks, ReduceOp op, DType dtype) {
  double acc = input_value(0, index, ranks, op);
  for (int r = 1; r < ranks; ++r) {
    const double v = input_value(r, index, ranks, op);
    switch (op) {
      case ReduceOp::SUM:
      case ReduceOp::AVG: acc += v; break;
      case ReduceOp::PRODUCT: acc *= v; break;
      case ReduceOp::MIN: acc = std::min(acc, v); break;
      case ReduceOp::MAX: acc = std::max(acc, v); break;
      default: break;  // bitwise ops are rejected by parse_reduce_op
    }
  }
  if (op == ReduceOp::AVG) {
    acc /= ranks;
    if (!is_floating_point(dtype)) acc = std::trunc(acc);
  }
  return acc;
}

// Sets element i of tensor to input_value(rank, offset + i).
void fill_input(const Tensor& tensor, int rank, int64_t offset, int ranks, ReduceOp op) {
  visit_dtype(tensor.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<T> data = tensor.data<T>();
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = to_element<T>(input_value(rank, offset + static_cast<int64_t>(i), ranks, op));
    }
  });
}

// Compares every element of tensor with expected(offset + i) rounded to the
// dtype; prints the first mismatch. Returns whether all matched.
template <class Expected>
bool check_tensor(const Tensor& tensor, int64_t offset, Expected expected, const char* what,
                  int rank) {
  return visit_dtype(tensor.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<T> data = tensor.data<T>();
    const double tolerance = !is_floating_point(tensor.dtype()) ? 0.0
                             : kIsHalfLike<T>                  ? 1e-2
                                                               : 1e-6;
    for (size_t i = 0; i < data.size(); ++i) {
      const int64_t index = offset + static_cast<int64_t>(i);
      const double want = to_double(to_element<T>(expected(index)));
      const double got = to_double(data[i]);
      if (std::abs(got - want) > tolerance * std::max(1.0, std::abs(want))) {
        std::fprintf(stderr, "baton-bench: %s check FAILED on rank %d at element %lld: expected %g, got %g\n",
                     what, rank, static_cast<long long>(index), want, got);
        return false;
      }
    }
    return true;
  });
}

Tensor make(int64_t count, DType dtype) { return Tensor::zeros({count}, dtype); }

// Runs body(iteration) warmup times, then iters times between a barrier and
// the clock; returns this rank's seconds for the timed loop.
template <class Body>
double time_loop(int warmup, int iters, const Group& group, Body body) {
  for (int i = 0; i < warmup; ++i) body();
  barrier(group);
  const auto start = Clock::now();
  for (int i = 0; i < iters; ++i) body();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Measured {
  int64_t count = 0;
  uint64_t bytes = 0;
  double seconds = 0;  // this rank's timed loop
  bool ok = true;
};

Measured bench_all_reduce(uint64_t bytes, const BenchOptions& o, int warmup, int iters,
                          const Group& g) {
  const int rank = g.rank();
  const int n = g.size();
  Measured m;
  m.count = std::max<int64_t>(1, static_cast<int64_t>(bytes / element_size(o.dtype)));
  m.bytes = static_cast<uint64_t>(m.count) * element_size(o.dtype);
  Tensor t = make(m.count, o.dtype);
  fill_input(t, rank, 0, n, o.reduce_op);
  m.seconds = time_loop(warmup, iters, g, [&] { all_reduce(t, o.reduce_op, g); });
  fill_input(t, rank, 0, n, o.reduce_op);
  all_reduce(t, o.reduce_op, g);
  m.ok = check_tensor(
      t, 0, [&](int64_t i) { return reduced_value(i, n, o.reduce_op, o.dtype); }, "all_reduce",
      rank);
  return m;
}

Measured bench_broadcast(uint64_t bytes, const BenchOptions& o, int warmup, int iters,
                         const Group& g) {
  const int rank = g.rank();
  const int n = g.size();
  Measured m;
  m.count = std::max<int64_t>(1, static_cast<int64_t>(bytes / element_size(o.dtype)));
  m.bytes = static_cast<uint64_t>(m.count) * element_size(o.dtype);
  Tensor t = make(m.count, o.dtype);
  fill_input(t, rank, 0, n, o.reduce_op);
  m.seconds = time_loop(warmup, iters, g, [&] { broadcast(t, 0, g); });
  fill_input(t, rank, 0, n, o.reduce_op);  // non-roots hold their own values until it lands
  broadcast(t, 0, g);
  m.ok = check_tensor(
      t, 0, [&](int64_t i) { return input_value(0, i, n, o.reduce_op); }, "broadcast", rank);
  return m;
}

Measured bench_all_gather(uint64_t bytes, const BenchOptions& o, int warmup, int iters,
                          const Group& g) {
  const int rank = g.rank();
  const int n = g.size();
  const uint64_t total = bytes / element_size(o.dtype);
  Measured m;
  m.count = std::max<int64_t>(1, static_cast<int64_t>(total / static_cast<uint64_t>(n)));
  m.bytes = static_cast<uint64_t>(m.count) * element_size(o.dtype) * static_cast<uint64_t>(n);
  Tensor input = make(m.count, o.dtype);
  fill_input(input, rank, 0, n, o.reduce_op);
  std::vector<Tensor> outputs;
  for (int r = 0; r < n; ++r) outputs.push_back(make(m.count, o.dtype));
  m.seconds = time_loop(warmup, iters, g, [&] { all_gather(outputs, input, g); });
  for (Tensor& out : outputs) out.fill_(0);
  all_gather(outputs, input, g);
  for (int r = 0; r < n && m.ok; ++r) {
    m.ok = check_tensor(
        outputs[static_cast<size_t>(r)], 0,
        [&](int64_t i) { return input_value(r, i, n, o.reduce_op); }, "all_gather", rank);
  }
  return m;
}

Measured bench_reduce_scatter(uint64_t bytes, const BenchOptions& o, int warmup, int iters,
                              const Group& g) {
  const int rank = g.rank();
  const int n = g.size();
  const uint64_t total = bytes / element_size(o.dtype);
  Measured m;
  m.count = std::max<int64_t>(1, static_cast<int64_t>(total / static_cast<uint64_t>(n)));
  m.bytes = static_cast<uint64_t>(m.count) * element_size(o.dtype) * static_cast<uint64_t>(n);
  // inputs[j] holds elements [j * count, (j + 1) * count) of this rank's
  // virtual input; rank j's output is their reduction over ranks.
  std::vector<Tensor> inputs;
  for (int j = 0; j < n; ++j) {
    inputs.push_back(make(m.count, o.dtype));
    fill_input(inputs.back(), rank, j * m.count, n, o.reduce_op);
  }
  Tensor output = make(m.count, o.dtype);
  m.seconds = time_loop(warmup, iters, g, [&] { reduce_scatter(output, inputs, o.reduce_op, g); });
  output.fill_(0);
  reduce_scatter(output, inputs, o.reduce_op, g);
  m.ok = check_tensor(
      output, rank * m.count, [&](int64_t i) { return reduced_value(i, n, o.reduce_op, o.dtype); },
      "reduce_scatter", rank);
  return m;
}

// Ping-pong between ranks 0 and 1; other ranks only join the barriers.
Measured bench_send_recv(uint64_t bytes, const BenchOptions& o, int warmup, int iters,
                         const Group& g) {
  const int rank = g.rank();
  const int n = g.size();
  Measured m;
  m.count = std::max<int64_t>(1, static_cast<int64_t>(bytes / element_size(o.dtype)));
  m.bytes = static_cast<uint64_t>(m.count) * element_size(o.dtype);
  Tensor t = make(m.count, o.dtype);
  auto ping_pong = [&] {
    if (rank == 0) {
      send(t, 1, g);
      recv(t, 1, g);
    } else if (rank == 1) {
      recv(t, 0, g);
      send(t, 0, g);
    }
  };
  m.seconds = time_loop(warmup, iters, g, ping_pong) / 2.0;  // one way
  // Check: rank 0's values go to rank 1 and come back.
  if (rank == 0) {
    fill_input(t, 0, 0, n, o.reduce_op);
    send(t, 1, g);
    t.fill_(0);
    recv(t, 1, g);
  } else if (rank == 1) {
    t.fill_(0);
    recv(t, 0, g);
    m.ok = check_tensor(
        t, 0, [&](int64_t i) { return input_value(0, i, n, o.reduce_op); }, "send_recv", rank);
    send(t, 0, g);
  }
  if (rank == 0) {
    m.ok = check_tensor(
        t, 0, [&](int64_t i) { return input_value(0, i, n, o.reduce_op); }, "send_recv", rank);
  }
  return m;
}

}  // namespace

double bus_factor(BenchOp op, int ranks) {
  const double n = ranks;
  switch (op) {
    case BenchOp::kAllReduce: return 2.0 * (n - 1) / n;
    case BenchOp::kAllGather:
    case BenchOp::kReduceScatter: return (n - 1) / n;
    case BenchOp::kBroadcast:
    case BenchOp::kSendRecv: return 1.0;
  }
  return 1.0;
}

bool runnable(BenchOp op, const Group& group) {
  return op != BenchOp::kSendRecv || group.size() >= 2;
}

PointResult run_point(BenchOp op, uint64_t bytes, const BenchOptions& options,
                      const Group& group) {
  const int iters = options.iters > 0 ? options.iters : iters_for(bytes);
  const int warmup = options.warmup >= 0 ? options.warmup : warmup_for(iters);
  Measured m;
  switch (op) {
    case BenchOp::kAllReduce: m = bench_all_reduce(bytes, options, warmup, iters, group); break;
    case BenchOp::kBroadcast: m = bench_broadcast(bytes, options, warmup, iters, group); break;
    case BenchOp::kAllGather: m = bench_all_gather(bytes, options, warmup, iters, group); break;
    case BenchOp::kReduceScatter:
      m = bench_reduce_scatter(bytes, options, warmup, iters, group);
      break;
    case BenchOp::kSendRecv: m = bench_send_recv(bytes, options, warmup, iters, group); break;
  }

  // One all_reduce agrees on the slowest rank's time and on the verdict.
  Tensor summary = Tensor::empty({2}, DType::Float64);
  summary.data<double>()[0] = m.seconds;
  summary.data<double>()[1] = m.ok ? 0.0 : 1.0;
  all_reduce(summary, ReduceOp::MAX, group);

  PointResult result;
  result.op = op;
  result.bytes = m.bytes;
  result.count = m.count;
  result.iters = iters;
  const double seconds = summary.data<double>()[0] / iters;
  result.time_us = seconds * 1e6;
  result.algbw_gbps = seconds > 0 ? static_cast<double>(m.bytes) / seconds / 1e9 : 0.0;
  result.busbw_gbps = result.algbw_gbps * bus_factor(op, group.size());
  result.ok = summary.data<double>()[1] == 0.0;
  return result;
}

}  // namespace baton::bench
