// The rank program of the fault-injection harness (scripts/fault_trials.sh).
//
// Each rank runs it under baton-run. It joins the job (init_process_group,
// env://), prints "READY rank=R pid=P", then runs a loop of operations whose
// results it checks against closed-form values, until the iteration count or
// the duration is reached ("DONE rank=R iters=N", exit 0). The driver kills or
// stops one rank meanwhile; every survivor should then catch a typed error:
//
//   FAULT rank=R elapsed_ms=E type=T op=O bytes=B iter=I t_ms=U what=MESSAGE
//
// E is the time from the start of the failing operation (init_process_group
// during start-up) to the error, U the wall clock (ms since the epoch) when it
// was caught, so the driver can measure the time from the fault. The rank then
// exits with code 3. A wrong value prints "WRONG DATA rank=R op=O ..." and
// exits 4. A rank stopped by baton-run's SIGTERM before it caught an error
// prints "TERMINATED rank=R op=O iter=I elapsed_ms=E" and dies of the signal.
// Only the public API (<baton/baton.hpp>) is used.
//
// Options (each also read from the environment variable in brackets; the
// command line wins):
//   --ops LIST          [FAULT_OPS]  comma-separated from all_reduce, broadcast,
//                       all_gather, reduce_scatter, ring (isend/irecv around the
//                       ring), barrier; or "mixed" (all of them, the default)
//   --iters N           [FAULT_ITERS]  stop after N operations (default 1000000)
//   --duration-ms MS    [FAULT_DURATION_MS]  stop after MS of running (default
//                       5000); the ranks agree on it with a MAX all_reduce every
//                       8 operations, so they stop at the same operation
//   --stall PHASE:MS[:RANK]  [FAULT_STALL]  sleep MS in PHASE, on RANK only
//                       (default every rank): "init" before init_process_group,
//                       "ready" after READY, "iterN" before operation N; the
//                       driver uses it to hold a rank in a phase it wants to hit
//   --inject RANK:SIG:MS  [FAULT_INJECT]  for start-up faults: rank RANK forks,
//                       first thing in main, a helper process that sends signal
//                       SIG (9 or 19) to it MS after it started, prints
//                       "INJECT rank=R pid=P sig=S t_ms=U" and exits. The driver
//                       cannot find and signal a pid within the ~25 ms a job
//                       takes to start on a busy 2-core machine; this can.
//
// Sizes cycle over 8 B, 64 B, 1 KiB, 64 KiB, 1 MiB and 4 MiB (Int32 elements).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "baton/baton.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> ops;
  long iters = 1000000;
  long duration_ms = 5000;
  std::string stall_phase;
  long stall_ms = 0;
  int stall_rank = -1;
  int inject_rank = -1;
  int inject_signal = 0;
  long inject_ms = 0;
};

struct Current {  // what the rank is doing, for the FAULT line
  const char* op = "init_process_group";
  size_t bytes = 0;
  long iter = -1;
  Clock::time_point started = Clock::now();
};

int g_rank = -1;
Current g_now;

const std::vector<std::string> kAllOps = {"all_reduce",     "broadcast", "all_gather",
                                          "reduce_scatter", "ring",      "barrier"};
const size_t kSizes[] = {8, 64, 1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024};
constexpr size_t kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]);

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find(sep, start);
    const std::string part = text.substr(start, end == std::string::npos ? end : end - start);
    if (!part.empty()) out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "fault_rank: %s\n", why.c_str());
  std::exit(2);
}

void set_option(Options& o, const std::string& name, const std::string& value) {
  if (name == "ops") {
    o.ops = value == "mixed" ? kAllOps : split(value, ',');
    for (const auto& op : o.ops) {
      bool known = false;
      for (const auto& k : kAllOps) known = known || k == op;
      if (!known) usage("unknown op '" + op + "'");
    }
    if (o.ops.empty()) usage("no ops");
  } else if (name == "iters") {
    o.iters = std::atol(value.c_str());
  } else if (name == "duration-ms") {
    o.duration_ms = std::atol(value.c_str());
  } else if (name == "stall") {
    const auto parts = split(value, ':');
    if (parts.size() < 2 || parts.size() > 3) usage("--stall wants PHASE:MS[:RANK]");
    o.stall_phase = parts[0];
    o.stall_ms = std::atol(parts[1].c_str());
    if (parts.size() == 3) o.stall_rank = std::atoi(parts[2].c_str());
  } else if (name == "inject") {
    const auto parts = split(value, ':');
    if (parts.size() != 3) usage("--inject wants RANK:SIG:MS");
    o.inject_rank = std::atoi(parts[0].c_str());
    o.inject_signal = std::atoi(parts[1].c_str());
    o.inject_ms = std::atol(parts[2].c_str());
  } else {
    usage("unknown option --" + name);
  }
}

Options parse(int argc, char** argv) {
  Options o;
  o.ops = kAllOps;
  const char* names[][2] = {{"ops", "FAULT_OPS"},
                            {"iters", "FAULT_ITERS"},
                            {"duration-ms", "FAULT_DURATION_MS"},
                            {"stall", "FAULT_STALL"},
                            {"inject", "FAULT_INJECT"}};
  for (const auto& n : names) {
    if (const char* v = std::getenv(n[1]); v != nullptr && *v != '\0') set_option(o, n[0], v);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.starts_with("--") || i + 1 >= argc) usage("bad argument '" + arg + "'");
    set_option(o, arg.substr(2), argv[++i]);
  }
  return o;
}

void stall_if(const Options& o, const std::string& phase) {
  if (o.stall_ms <= 0 || o.stall_phase != phase) return;
  if (o.stall_rank >= 0 && o.stall_rank != g_rank) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(o.stall_ms));
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The error's type name: the most specific public subclass of baton::Error.
const char* type_name(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const baton::TimeoutError&) {
    return "TimeoutError";
  } catch (const baton::ConnectionError&) {
    return "ConnectionError";
  } catch (const baton::MismatchError&) {
    return "MismatchError";
  } catch (const baton::ProtocolError&) {
    return "ProtocolError";
  } catch (const baton::IoError&) {
    return "IoError";
  } catch (const baton::InvalidArgument&) {
    return "InvalidArgument";
  } catch (const baton::UnsupportedError&) {
    return "UnsupportedError";
  } catch (const baton::Error&) {
    return "Error";
  } catch (const std::exception&) {
    return "std::exception";
  } catch (...) {
    return "unknown";
  }
}

[[noreturn]] void report_fault(const std::exception_ptr& error) {
  const double elapsed =
      std::chrono::duration<double, std::milli>(Clock::now() - g_now.started).count();
  const long long wall = wall_ms();
  std::string what;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = one_line(e.what());
  } catch (...) {
    what = "(not a std::exception)";
  }
  std::printf("FAULT rank=%d elapsed_ms=%.1f type=%s op=%s bytes=%zu iter=%ld t_ms=%lld what=%s\n",
              g_rank, elapsed, type_name(error), g_now.op, g_now.bytes, g_now.iter, wall,
              what.c_str());
  std::fflush(stdout);
  // Leave as a program that returns an error code from main would: static
  // destructors run, destroy_process_group is not called.
  std::exit(3);
}

[[noreturn]] void wrong(const char* op, long iter, size_t index, int64_t expected, int64_t got) {
  std::printf("WRONG DATA rank=%d op=%s iter=%ld index=%zu expected=%lld got=%lld\n", g_rank, op,
              iter, index, static_cast<long long>(expected), static_cast<long long>(got));
  std::fflush(stdout);
  std::_Exit(4);
}

baton::Tensor ints(size_t n) {
  return baton::Tensor::empty({static_cast<int64_t>(n)}, baton::DType::Int32);
}

// One operation of iteration `it` on `n` Int32 elements; checks its result.
void run_op(const std::string& op, long it, size_t n, int rank, int world) {
  const auto base = static_cast<int32_t>(it % 1000);
  if (op == "all_reduce") {
    auto t = ints(n);
    auto d = t.data<int32_t>();
    for (size_t i = 0; i < n; ++i) d[i] = (rank + 1) + static_cast<int32_t>(i % 97) + base;
    baton::all_reduce(t, baton::ReduceOp::SUM);
    for (size_t i = 0; i < n; ++i) {
      const int64_t want = world * (world + 1) / 2 + int64_t{world} * (int64_t(i % 97) + base);
      if (d[i] != want) wrong("all_reduce", it, i, want, d[i]);
    }
  } else if (op == "broadcast") {
    const int root = static_cast<int>(it % world);
    auto t = ints(n);
    auto d = t.data<int32_t>();
    auto value = [&](size_t i) { return root * 7 + static_cast<int32_t>(i % 101) + base; };
    for (size_t i = 0; i < n; ++i) d[i] = rank == root ? value(i) : -1;
    baton::broadcast(t, root);
    for (size_t i = 0; i < n; ++i) {
      if (d[i] != value(i)) wrong("broadcast", it, i, value(i), d[i]);
    }
  } else if (op == "all_gather") {
    auto value = [&](int r, size_t i) { return r * 131 + static_cast<int32_t>(i % 89) + base; };
    const size_t m = n / static_cast<size_t>(world) > 0 ? n / static_cast<size_t>(world) : 1;
    auto in = ints(m);
    auto din = in.data<int32_t>();
    for (size_t i = 0; i < m; ++i) din[i] = value(rank, i);
    std::vector<baton::Tensor> out;
    for (int r = 0; r < world; ++r) out.push_back(ints(m));
    baton::all_gather(out, in);
    for (int r = 0; r < world; ++r) {
      auto d = out[static_cast<size_t>(r)].data<int32_t>();
      for (size_t i = 0; i < m; ++i) {
        if (d[i] != value(r, i)) wrong("all_gather", it, i, value(r, i), d[i]);
      }
    }
  } else if (op == "reduce_scatter") {
    const size_t m = n / static_cast<size_t>(world) > 0 ? n / static_cast<size_t>(world) : 1;
    std::vector<baton::Tensor> in;
    for (int j = 0; j < world; ++j) {
      in.push_back(ints(m));
      auto d = in.back().data<int32_t>();
      for (size_t i = 0; i < m; ++i)
        d[i] = (rank + 1) * (j + 1) + static_cast<int32_t>(i % 53) + base;
    }
    auto out = ints(m);
    baton::reduce_scatter(out, in, baton::ReduceOp::SUM);
    auto d = out.data<int32_t>();
    for (size_t i = 0; i < m; ++i) {
      const int64_t want =
          int64_t{rank + 1} * world * (world + 1) / 2 + int64_t{world} * (int64_t(i % 53) + base);
      if (d[i] != want) wrong("reduce_scatter", it, i, want, d[i]);
    }
  } else if (op == "ring") {
    if (world == 1) return;
    const int next = (rank + 1) % world;
    const int prev = (rank + world - 1) % world;
    auto value = [&](int r, size_t i) { return r * 17 + static_cast<int32_t>(i % 61) + base; };
    auto out = ints(n);
    auto dout = out.data<int32_t>();
    for (size_t i = 0; i < n; ++i) dout[i] = value(rank, i);
    auto in = ints(n);
    auto din = in.data<int32_t>();
    for (size_t i = 0; i < n; ++i) din[i] = -1;
    auto r = baton::irecv(in, prev);
    auto s = baton::isend(out, next);
    s.wait();
    r.wait();
    for (size_t i = 0; i < n; ++i) {
      if (din[i] != value(prev, i)) wrong("ring", it, i, value(prev, i), din[i]);
    }
  } else if (op == "barrier") {
    baton::barrier();
  }
}

// --inject: a helper process signals this one after o.inject_ms. Called before
// any thread exists, so fork is safe.
void arm_injection(const Options& o) {
  if (o.inject_signal <= 0 || o.inject_rank != g_rank) return;
  const pid_t target = ::getpid();
  const pid_t helper = ::fork();
  if (helper != 0) return;  // the rank goes on (or fork failed: no fault)
  std::this_thread::sleep_for(std::chrono::milliseconds(o.inject_ms));
  if (::getppid() == target && ::kill(target, o.inject_signal) == 0) {
    std::printf("INJECT rank=%d pid=%d sig=%d t_ms=%lld\n", g_rank, static_cast<int>(target),
                o.inject_signal, wall_ms());
    std::fflush(stdout);
  }
  std::_Exit(0);
}

// SIGTERM from baton-run: say what the rank was waiting in, then die of it.
void on_term(int sig) {
  char line[256];
  const double elapsed =
      std::chrono::duration<double, std::milli>(Clock::now() - g_now.started).count();
  const int n =
      std::snprintf(line, sizeof(line), "TERMINATED rank=%d op=%s iter=%ld elapsed_ms=%.1f\n",
                    g_rank, g_now.op, g_now.iter, elapsed);
  if (n > 0) (void)!::write(STDOUT_FILENO, line, static_cast<size_t>(n));
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  ::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Options opts = parse(argc, argv);
  ::signal(SIGTERM, on_term);
  if (const char* r = std::getenv("RANK")) g_rank = std::atoi(r);
  arm_injection(opts);
  try {
    stall_if(opts, "init");
    g_now.started = Clock::now();
    baton::init_process_group();
    g_rank = baton::get_rank();
    const int world = baton::get_world_size();
    std::printf("READY rank=%d pid=%d\n", g_rank, static_cast<int>(::getpid()));
    stall_if(opts, "ready");
    const auto run_start = Clock::now();
    long it = 0;
    for (; it < opts.iters; ++it) {
      stall_if(opts, "iter" + std::to_string(it));
      const std::string& op = opts.ops[static_cast<size_t>(it) % opts.ops.size()];
      // Walk the sizes at a different pace from the ops, so every op meets every size.
      const size_t bytes =
          kSizes[static_cast<size_t>(it / static_cast<long>(opts.ops.size())) % kNumSizes];
      g_now = {op.c_str(), bytes, it, Clock::now()};
      run_op(op, it, bytes / sizeof(int32_t), g_rank, world);
      if (it % 8 == 7) {  // agree on stopping, so every rank stops at the same operation
        auto vote = ints(1);
        const auto ran =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - run_start);
        vote.data<int32_t>()[0] = ran.count() >= opts.duration_ms ? 1 : 0;
        g_now = {"stop_vote", sizeof(int32_t), it, Clock::now()};
        baton::all_reduce(vote, baton::ReduceOp::MAX);
        if (vote.data<int32_t>()[0] != 0) {
          ++it;
          break;
        }
      }
    }
    g_now = {"destroy_process_group", 0, it, Clock::now()};
    baton::destroy_process_group();
    std::printf("DONE rank=%d iters=%ld\n", g_rank, it);
    return 0;
  } catch (...) {
    report_fault(std::current_exception());
  }
}
