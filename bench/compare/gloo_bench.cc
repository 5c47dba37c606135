// gloo_bench: Gloo's collectives (Debian's libgloo, TCP transport) measured
// the way baton-bench measures Baton's (compare_common.hpp), for
// bench/compare.sh.
//
//   RANK=0 WORLD_SIZE=2 GLOO_STORE_DIR=/tmp/s ./gloo_bench --ops all_reduce --sizes 8,1M --header &
//   RANK=1 WORLD_SIZE=2 GLOO_STORE_DIR=/tmp/s ./gloo_bench --ops all_reduce --sizes 8,1M
//
// The ranks meet through a gloo::rendezvous::FileStore in GLOO_STORE_DIR (an
// empty directory per job) and connect a full mesh over TCP on
// GLOO_HOSTNAME (default 127.0.0.1). Each collective builds its options per
// call, as torch's ProcessGroupGloo does: all_reduce is gloo::allreduce with
// --algorithm default (Gloo's own choice: the ring), ring or bcube; broadcast is
// gloo::broadcast from rank 0; all_gather is gloo::allgather; send_recv is a
// ping-pong between ranks 0 and 1 through one unbound buffer per rank,
// registered once (time one way). Rank 0 prints CSV rows; exit status 1
// when a result check fails, 2 on a bad command line or environment.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <vector>

#include "compare_common.hpp"

namespace {

using compare::Op;
using Clock = std::chrono::steady_clock;
using ContextPtr = std::shared_ptr<gloo::Context>;

void barrier(const ContextPtr& context) {
  gloo::BarrierOptions options(context);
  gloo::barrier(options);
}

// warmup untimed runs, a barrier, then iters timed runs; seconds per iteration.
template <class Body>
double time_loop(const ContextPtr& context, int warmup, int iters, Body body) {
  for (int i = 0; i < warmup; ++i) body();
  barrier(context);
  const auto start = Clock::now();
  for (int i = 0; i < iters; ++i) body();
  return std::chrono::duration<double>(Clock::now() - start).count() / iters;
}

gloo::AllreduceOptions::Algorithm parse_algorithm(const std::string& name) {
  if (name == "default") return gloo::AllreduceOptions::Algorithm::UNSPECIFIED;
  if (name == "ring") return gloo::AllreduceOptions::Algorithm::RING;
  if (name == "bcube") return gloo::AllreduceOptions::Algorithm::BCUBE;
  throw std::invalid_argument("unknown --algorithm '" + name + "'; expected default, ring or bcube");
}

template <class T>
void all_reduce(const ContextPtr& context, T* data, size_t count,
                gloo::AllreduceOptions::Algorithm algorithm,
                void (*reduce)(void*, const void*, const void*, size_t)) {
  gloo::AllreduceOptions options(context);
  options.setAlgorithm(algorithm);
  options.setOutput(data, count);
  options.setReduceFunction(reduce);
  gloo::allreduce(options);
}

struct Point {
  uint64_t bytes = 0;
  double seconds = 0;  // this rank, per iteration
  bool ok = true;
};

Point run(const ContextPtr& context, Op op, uint64_t bytes, int warmup, int iters,
          const compare::Options& o) {
  const int rank = context->rank;
  const int ranks = context->size;
  Point p;
  const size_t count = std::max<size_t>(1, bytes / sizeof(float));
  p.bytes = count * sizeof(float);
  std::vector<float> data(count);
  compare::fill(data, rank);
  switch (op) {
    case Op::kAllReduce: {
      const auto algorithm = parse_algorithm(o.algorithm);
      auto body = [&] { all_reduce(context, data.data(), count, algorithm, &gloo::sum<float>); };
      p.seconds = time_loop(context, warmup, iters, body);
      compare::fill(data, rank);
      body();
      p.ok = compare::check(
          data, [&](size_t i) { return compare::summed_value(ranks, i); }, "all_reduce", rank);
      break;
    }
    case Op::kBroadcast: {
      auto body = [&] {
        gloo::BroadcastOptions options(context);
        options.setOutput(data.data(), count);
        options.setRoot(0);
        gloo::broadcast(options);
      };
      p.seconds = time_loop(context, warmup, iters, body);
      compare::fill(data, rank);
      body();
      p.ok = compare::check(
          data, [](size_t i) { return compare::input_value(0, i); }, "broadcast", rank);
      break;
    }
    case Op::kAllGather: {
      const size_t per_rank = std::max<size_t>(1, count / static_cast<size_t>(ranks));
      p.bytes = per_rank * sizeof(float) * static_cast<size_t>(ranks);
      std::vector<float> input(per_rank);
      compare::fill(input, rank);
      std::vector<float> output(per_rank * static_cast<size_t>(ranks));
      auto body = [&] {
        gloo::AllgatherOptions options(context);
        options.setInput(input.data(), per_rank);
        options.setOutput(output.data(), output.size());
        gloo::allgather(options);
      };
      p.seconds = time_loop(context, warmup, iters, body);
      std::fill(output.begin(), output.end(), 0.0f);
      body();
      p.ok = compare::check(
          output,
          [&](size_t i) { return compare::input_value(static_cast<int>(i / per_rank), i % per_rank); },
          "all_gather", rank);
      break;
    }
    case Op::kSendRecv: {
      auto buffer = context->createUnboundBuffer(data.data(), p.bytes);
      constexpr uint64_t kSlot = 7;
      auto body = [&] {
        if (rank == 0) {
          buffer->send(1, kSlot);
          buffer->waitSend();
          buffer->recv(1, kSlot);
          buffer->waitRecv();
        } else if (rank == 1) {
          buffer->recv(0, kSlot);
          buffer->waitRecv();
          buffer->send(0, kSlot);
          buffer->waitSend();
        }
      };
      p.seconds = time_loop(context, warmup, iters, body) / 2.0;  // one way
      compare::fill(data, 0);
      if (rank != 0) std::fill(data.begin(), data.end(), 0.0f);
      body();  // rank 0's values travel to rank 1 and back
      if (rank <= 1) {
        p.ok = compare::check(
            data, [](size_t i) { return compare::input_value(0, i); }, "send_recv", rank);
      }
      break;
    }
  }
  return p;
}

int env_int(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) throw std::invalid_argument(std::string(name) + " is not set");
  return std::atoi(value);
}

}  // namespace

int main(int argc, char** argv) {
  compare::Options options;
  ContextPtr context;
  try {
    options = compare::parse_options(argc, argv, "gloo", "tcp");
    parse_algorithm(options.algorithm);
    const int rank = env_int("RANK");
    const int ranks = env_int("WORLD_SIZE");
    const char* store_dir = std::getenv("GLOO_STORE_DIR");
    if (store_dir == nullptr) throw std::invalid_argument("GLOO_STORE_DIR is not set");
    const char* hostname = std::getenv("GLOO_HOSTNAME");
    gloo::transport::tcp::attr attr(hostname != nullptr ? hostname : "127.0.0.1");
    auto device = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(store_dir);
    auto mesh = std::make_shared<gloo::rendezvous::Context>(rank, ranks);
    mesh->setTimeout(std::chrono::seconds(120));
    mesh->connectFullMesh(store, device);
    context = mesh;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gloo_bench: %s\n", e.what());
    return 2;
  }
  if (context->rank == 0 && options.header) compare::print_header();
  bool all_ok = true;
  for (Op op : options.ops) {
    if (op == Op::kSendRecv && context->size < 2) continue;
    for (uint64_t size : options.sizes) {
      const int iters = options.iters > 0 ? options.iters : compare::iters_for(size);
      const Point p = run(context, op, size, compare::warmup_for(iters), iters, options);
      double summary[2] = {p.seconds, p.ok ? 0.0 : 1.0};
      all_reduce(context, summary, 2, gloo::AllreduceOptions::Algorithm::UNSPECIFIED,
                 &gloo::max<double>);
      all_ok = all_ok && summary[1] == 0.0;
      if (context->rank == 0) {
        compare::print_row(options, op, context->size, p.bytes, iters, summary[0]);
      }
    }
  }
  barrier(context);
  return all_ok ? 0 : 1;
}
