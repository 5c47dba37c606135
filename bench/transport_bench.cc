// baton-transport-bench: latency and throughput of the TCP transport between
// two processes on this host (loopback), below any collective.
//
//   baton-transport-bench [--iters N] [--reps R] [--sizes 8,1024,...]
//
// Forks two ranks that meet through a FileStore in a temporary directory.
// For each size: a ping-pong (rank 0 sends, rank 1 answers with the same
// size; one-way time = round trip / 2, receives always posted before the
// send they wait for) and a stream (rank 0 sends R messages back to back,
// rank 1 keeps two receives posted so payloads land in place; throughput =
// R * size / time until rank 1 acknowledges the last one). Rank 0 prints one
// line per size.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "baton/file_store.hpp"
#include "transport/tcp/factory.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using baton::transport::Context;
using baton::transport::Envelope;
using baton::transport::RequestPtr;

void wait(const RequestPtr& r) {
  if (!r->wait_until(Clock::now() + std::chrono::seconds(60))) {
    std::fprintf(stderr, "transport bench: a request timed out\n");
    std::exit(2);
  }
  if (auto e = r->error()) std::rethrow_exception(e);
}

Envelope tag(int64_t t) {
  Envelope e;
  e.tag = t;
  return e;
}

double ping_pong_us(Context& ctx, size_t bytes, int iters) {
  std::vector<std::byte> out(bytes, std::byte{1}), in(bytes);
  const int peer = 1 - ctx.rank();
  auto round = [&] {
    if (ctx.rank() == 0) {
      auto r = ctx.irecv(peer, tag(1), in);
      wait(ctx.isend(peer, tag(1), out));
      wait(r);
    } else {
      auto r = ctx.irecv(peer, tag(1), in);
      wait(r);
      wait(ctx.isend(peer, tag(1), out));
    }
  };
  for (int i = 0; i < std::max(10, iters / 10); ++i) round();  // warm-up
  const auto start = Clock::now();
  for (int i = 0; i < iters; ++i) round();
  const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
  return elapsed.count() / iters / 2;
}

double stream_gbps(Context& ctx, size_t bytes, int reps) {
  const int peer = 1 - ctx.rank();
  std::vector<std::byte> ack(1);
  if (ctx.rank() == 0) {
    std::vector<std::byte> out(bytes, std::byte{2});
    wait(ctx.isend(peer, tag(3), ack));  // rank 1 has posted its first receives
    const auto start = Clock::now();
    for (int i = 0; i < reps; ++i) wait(ctx.isend(peer, tag(2), out));
    wait(ctx.irecv(peer, tag(4), ack));
    const std::chrono::duration<double> elapsed = Clock::now() - start;
    return static_cast<double>(bytes) * reps / elapsed.count() / 1e9;
  }
  std::vector<std::byte> a(bytes), b(bytes);
  RequestPtr pending[2] = {ctx.irecv(peer, tag(2), a),
                           reps > 1 ? ctx.irecv(peer, tag(2), b) : nullptr};
  wait(ctx.irecv(peer, tag(3), ack));
  for (int i = 0; i < reps; ++i) {
    wait(pending[i % 2]);
    if (i + 2 < reps) pending[i % 2] = ctx.irecv(peer, tag(2), i % 2 == 0 ? a : b);
  }
  wait(ctx.isend(peer, tag(4), ack));
  return 0;
}

std::vector<size_t> parse_sizes(const std::string& text) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(pos, end - pos);
    size_t scale = 1;
    if (!item.empty() && (item.back() == 'K' || item.back() == 'k')) scale = 1024;
    if (!item.empty() && (item.back() == 'M' || item.back() == 'm')) scale = 1024 * 1024;
    if (scale != 1) item.pop_back();
    out.push_back(std::stoull(item) * scale);
    pos = end + 1;
  }
  return out;
}

void run_rank(int rank, const std::string& path, int iters, int reps,
              const std::vector<size_t>& sizes) {
  baton::FileStore store(path, baton::FileStoreOptions{.job_id = "transport-bench"});
  auto ctx = baton::transport::make_tcp_context(store, "bench", rank, 2);
  if (rank == 0) {
    std::printf(
        "# transport %s, 2 processes, loopback; ping-pong %d round trips, stream %d messages\n",
        ctx->name().c_str(), iters, reps);
    std::printf("%12s %14s %14s %14s\n", "bytes", "one_way_us", "pingpong_GBps", "stream_GBps");
  }
  for (const size_t bytes : sizes) {
    const int n = bytes >= (1u << 20) ? std::max(4, iters / 100) : iters;
    const double us = ping_pong_us(*ctx, bytes, n);
    const int r = bytes >= (1u << 20) ? reps : reps * 20;
    const double gbps = stream_gbps(*ctx, bytes, r);
    if (rank == 0) {
      std::printf("%12zu %14.2f %14.3f %14.3f\n", bytes, us, static_cast<double>(bytes) / us / 1e3,
                  gbps);
      std::fflush(stdout);
    }
  }
  // Both ranks finish together: nobody closes while the other still reads.
  std::vector<std::byte> done(1);
  auto r = ctx->irecv(1 - rank, tag(9), done);
  wait(ctx->isend(1 - rank, tag(9), done));
  wait(r);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 20000;
  int reps = 20;
  std::vector<size_t> sizes = {8, 1024, 64 * 1024, 1 << 20, 16 << 20, 64 << 20};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--iters") {
      iters = std::atoi(argv[i + 1]);
    } else if (flag == "--reps") {
      reps = std::atoi(argv[i + 1]);
    } else if (flag == "--sizes") {
      sizes = parse_sizes(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--iters N] [--reps R] [--sizes 8,1K,64M]\n", argv[0]);
      return 2;
    }
  }
  std::string dir = (std::filesystem::temp_directory_path() / "baton-tbench-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) return 2;
  const std::string path = dir + "/store";
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      run_rank(1, path, iters, reps, sizes);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rank 1: %s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  int rc = 0;
  try {
    run_rank(0, path, iters, reps, sizes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank 0: %s\n", e.what());
    rc = 1;
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  std::filesystem::remove_all(dir);
  return rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ? 1 : 0;
}
