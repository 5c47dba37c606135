// baton-bench: collective bandwidth and latency, nccl-tests style.
//
//   baton-run --standalone --nproc-per-node 2 baton-bench --ops all_reduce --sizes 8,1M,16M --csv
//
// For each operation and size: warm-up, a timed loop (time per iteration of
// the slowest rank), algbw = bytes / time, busbw = algbw * the operation's
// bus factor, and a check of the result against closed-form expectations.
// Only rank 0 prints. Exit status: 0 when every check passed, 1 when one
// failed or an error was thrown, 2 on a bad command line.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "baton/baton.hpp"
#include "options.hpp"
#include "runner.hpp"

namespace {

using baton::bench::BenchOptions;
using baton::bench::PointResult;

// The rank before init_process_group, from the launcher's environment.
bool is_rank_zero_env() {
  const char* rank = std::getenv("RANK");
  return rank == nullptr || std::string(rank) == "0";
}

// What the group's transports report, e.g. "shm", "tcp", "shm+tcp"; the
// backend's name where it reports nothing else.
std::string transport_of(const baton::Group& world, const std::string& backend) {
  std::vector<std::string> kinds;
  for (const std::string& t : world.transports()) {
    if (t != "self" && std::find(kinds.begin(), kinds.end(), t) == kinds.end()) kinds.push_back(t);
  }
  std::sort(kinds.begin(), kinds.end(), [](const std::string& a, const std::string& b) {
    return (a == "shm") != (b == "shm") ? a == "shm" : a < b;
  });
  std::string out;
  for (const std::string& k : kinds) out += (out.empty() ? "" : "+") + k;
  return out.empty() ? backend : out;
}

void print_header(const BenchOptions& o, const baton::Group& world, const std::string& backend) {
  if (o.csv) {
    std::printf("op,backend,transport,ranks,bytes,iters,time_us,algbw_GBps,busbw_GBps\n");
    return;
  }
  std::printf("# baton-bench: ranks %d, backend %s, transport %s, dtype %s, reduce op %s\n",
              world.size(), backend.c_str(), transport_of(world, backend).c_str(),
              std::string(baton::dtype_name(o.dtype)).c_str(),
              std::string(baton::reduce_op_name(o.reduce_op)).c_str());
  std::printf("# time: per iteration, slowest rank (send_recv: one way); algbw = bytes / time;\n"
              "# busbw = algbw * factor (all_reduce 2(n-1)/n, all_gather and reduce_scatter\n"
              "# (n-1)/n, broadcast and send_recv 1); GB/s = 1e9 bytes/s\n#\n");
  std::printf("# %-14s %10s %12s %6s %12s %11s %11s %6s\n", "op", "size", "count", "iters",
              "time_us", "algbw_GBps", "busbw_GBps", "check");
}

void print_row(const BenchOptions& o, const PointResult& p, int ranks, const std::string& backend,
               const std::string& transport) {
  const std::string op(baton::bench::bench_op_name(p.op));
  if (o.csv) {
    std::printf("%s,%s,%s,%d,%llu,%d,%.3f,%.4f,%.4f\n", op.c_str(), backend.c_str(),
                transport.c_str(), ranks, static_cast<unsigned long long>(p.bytes),
                p.iters, p.time_us, p.algbw_gbps, p.busbw_gbps);
  } else {
    std::printf("  %-14s %10s %12lld %6d %12.2f %11.4f %11.4f %6s\n", op.c_str(),
                baton::bench::format_size(p.bytes).c_str(), static_cast<long long>(p.count),
                p.iters, p.time_us, p.algbw_gbps, p.busbw_gbps, p.ok ? "ok" : "FAIL");
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions options;
  std::string ops = "all_reduce";
  std::string sizes;
  std::string dtype = "float32";
  std::string reduce_op = "sum";

  CLI::App app{"baton-bench: bandwidth and latency of Baton's collectives (nccl-tests style). "
               "Run it under baton-run; rank 0 prints."};
  app.add_option("--ops", ops,
                 "Comma-separated: all_reduce, broadcast, all_gather, reduce_scatter, send_recv")
      ->capture_default_str();
  app.add_option("--sizes", sizes,
                 "Comma-separated bytes with K/M/G suffixes (KiB/MiB/GiB); default 8 B to 256 MiB "
                 "by factors of 4");
  app.add_option("--dtype", dtype, "Element type (float32, float64, float16, bfloat16, int8, ...)")
      ->capture_default_str();
  app.add_option("--op", reduce_op, "Reduce op of all_reduce and reduce_scatter: sum, prod, min, "
                                    "max, avg")
      ->capture_default_str();
  app.add_option("--warmup", options.warmup,
                 "Warm-up iterations per point (default: clamp(iters / 10, 1, 20))")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--iters", options.iters,
                 "Timed iterations per point (default: clamp(1 GiB / bytes, 5, 1000))")
      ->check(CLI::PositiveNumber);
  app.add_flag("--csv", options.csv,
               "Print op,backend,transport,ranks,bytes,iters,time_us,algbw_GBps,busbw_GBps rows");
  app.add_option("--backend", options.backend, "Backend passed to init_process_group "
                                               "(auto, native, mpi, nccl)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (is_rank_zero_env()) return app.exit(e);
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  try {
    options.ops = baton::bench::parse_ops(ops);
    options.sizes =
        sizes.empty() ? baton::bench::default_sizes() : baton::bench::parse_sizes(sizes);
    options.dtype = baton::bench::parse_dtype(dtype);
    options.reduce_op = baton::bench::parse_reduce_op(reduce_op);
    if (!baton::supports(options.reduce_op, options.dtype)) {
      throw baton::InvalidArgument("baton-bench: reduce op " + reduce_op +
                                   " is not defined on dtype " + dtype);
    }
  } catch (const baton::Error& e) {
    if (is_rank_zero_env()) std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }

  bool all_ok = true;
  try {
    baton::InitOptions init;
    init.backend = options.backend;
    baton::init_process_group(init);
    const baton::Group world = baton::world();
    const bool printer = world.rank() == 0;
    const std::string backend = world.backend();
    const std::string transport = transport_of(world, backend);
    if (printer) print_header(options, world, backend);
    for (baton::bench::BenchOp op : options.ops) {
      if (!baton::bench::runnable(op, world)) {
        if (printer) {
          std::fprintf(stderr, "baton-bench: %s needs at least 2 ranks; skipped\n",
                       std::string(baton::bench::bench_op_name(op)).c_str());
        }
        continue;
      }
      for (uint64_t bytes : options.sizes) {
        const PointResult point = baton::bench::run_point(op, bytes, options, world);
        all_ok = all_ok && point.ok;
        if (printer) print_row(options, point, world.size(), backend, transport);
      }
    }
    baton::destroy_process_group();
    if (!all_ok && printer) std::fprintf(stderr, "baton-bench: correctness check FAILED\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton-bench: %s\n", e.what());
    return 1;
  }
  return all_ok ? 0 : 1;
}
