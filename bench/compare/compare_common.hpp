// Shared pieces of the comparison benchmarks (mpi_bench.cc, gloo_bench.cc):
// command line, sizes, iteration counts, test data and the CSV row.
//
// These programs measure other libraries (OpenMPI, Gloo) the way baton-bench
// measures Baton, so bench/compare.sh can put the three side by side. They
// are built against Debian's packages by compare.sh, never by the default
// build, and use nothing of Baton's. Conventions follow baton-bench:
//   - float32 SUM; "bytes" is the buffer of broadcast, all_reduce and
//     send_recv, and the whole output of all_gather (count per rank * ranks);
//   - iterations clamp(1 GiB / bytes, 5, 1000), warm-up clamp(iters / 10, 1, 20);
//   - time per iteration of the slowest rank (send_recv: one way of a
//     ping-pong between ranks 0 and 1);
//   - busbw = algbw * (all_reduce 2(n-1)/n, all_gather (n-1)/n, broadcast
//     and send_recv 1), as nccl-tests; GB/s = 1e9 bytes/s.
//
// Thread safety: plain functions, called from main only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace compare {

enum class Op { kAllReduce, kBroadcast, kAllGather, kSendRecv };

inline const char* op_name(Op op) {
  switch (op) {
    case Op::kAllReduce: return "all_reduce";
    case Op::kBroadcast: return "broadcast";
    case Op::kAllGather: return "all_gather";
    case Op::kSendRecv: return "send_recv";
  }
  return "unknown";
}

inline double bus_factor(Op op, int ranks) {
  const double n = ranks;
  switch (op) {
    case Op::kAllReduce: return 2.0 * (n - 1) / n;
    case Op::kAllGather: return (n - 1) / n;
    case Op::kBroadcast:
    case Op::kSendRecv: return 1.0;
  }
  return 1.0;
}

inline std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// "8", "4K", "16M" (binary units, as baton-bench).
inline uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  uint64_t multiplier = 1;
  const std::string unit(end);
  if (unit == "K" || unit == "k" || unit == "KiB") multiplier = uint64_t{1} << 10;
  else if (unit == "M" || unit == "m" || unit == "MiB") multiplier = uint64_t{1} << 20;
  else if (unit == "G" || unit == "g" || unit == "GiB") multiplier = uint64_t{1} << 30;
  else if (!unit.empty() && unit != "B" && unit != "b") {
    throw std::invalid_argument("size '" + text + "' is not a number with an optional K/M/G");
  }
  if (end == text.c_str() || value == 0) throw std::invalid_argument("bad size '" + text + "'");
  return static_cast<uint64_t>(value) * multiplier;
}

inline std::vector<Op> parse_ops(const std::string& list) {
  std::vector<Op> ops;
  for (const std::string& item : split_commas(list)) {
    bool found = false;
    for (Op op : {Op::kAllReduce, Op::kBroadcast, Op::kAllGather, Op::kSendRecv}) {
      if (item == op_name(op)) {
        ops.push_back(op);
        found = true;
      }
    }
    if (!found) {
      throw std::invalid_argument("unknown op '" + item +
                                  "'; expected all_reduce, broadcast, all_gather or send_recv");
    }
  }
  return ops;
}

struct Options {
  std::vector<Op> ops{Op::kAllReduce, Op::kBroadcast, Op::kAllGather, Op::kSendRecv};
  std::vector<uint64_t> sizes{8, 1 << 20};
  std::string backend;    // CSV "backend" column
  std::string transport;  // CSV "transport" column
  std::string algorithm = "default";  // gloo_bench only: all_reduce algorithm
  int iters = -1;                     // -1: iters_for(bytes)
  bool header = false;
};

// --ops LIST --sizes LIST --backend NAME --transport NAME [--algorithm A]
// [--iters N] [--header]. Throws std::invalid_argument on anything else.
inline Options parse_options(int argc, char** argv, const std::string& backend,
                             const std::string& transport) {
  Options o;
  o.backend = backend;
  o.transport = transport;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--header") {
      o.header = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument("option " + arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--ops") {
      o.ops = parse_ops(value);
    } else if (arg == "--sizes") {
      o.sizes.clear();
      for (const std::string& s : split_commas(value)) o.sizes.push_back(parse_size(s));
    } else if (arg == "--backend") {
      o.backend = value;
    } else if (arg == "--transport") {
      o.transport = value;
    } else if (arg == "--algorithm") {
      o.algorithm = value;
    } else if (arg == "--iters") {
      o.iters = std::atoi(value.c_str());
    } else {
      throw std::invalid_argument("unknown option " + arg);
    }
  }
  return o;
}

inline int iters_for(uint64_t bytes) {
  const uint64_t per_gib = (uint64_t{1} << 30) / std::max<uint64_t>(bytes, 1);
  return static_cast<int>(std::clamp<uint64_t>(per_gib, 5, 1000));
}

inline int warmup_for(int iters) { return std::clamp(iters / 10, 1, 20); }

// Rank r's input at index i: small integers, so sums are exact in float32.
inline float input_value(int rank, size_t index) {
  return 1.0f + static_cast<float>((index + static_cast<size_t>(rank)) % 3);
}

inline void fill(std::vector<float>& data, int rank) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = input_value(rank, i);
}

// The all_reduce result at index i over `ranks` ranks.
inline float summed_value(int ranks, size_t index) {
  float sum = 0;
  for (int r = 0; r < ranks; ++r) sum += input_value(r, index);
  return sum;
}

// Compares data[i] with want(i); prints the first mismatch to stderr.
template <class Want>
bool check(const std::vector<float>& data, Want want, const char* what, int rank) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != want(i)) {
      std::fprintf(stderr, "%s check FAILED on rank %d at element %zu: expected %g, got %g\n",
                   what, rank, i, static_cast<double>(want(i)), static_cast<double>(data[i]));
      return false;
    }
  }
  return true;
}

inline void print_header() {
  std::printf("op,backend,transport,ranks,bytes,iters,time_us,algbw_GBps,busbw_GBps\n");
}

// One CSV row; seconds is the slowest rank's time per iteration.
inline void print_row(const Options& o, Op op, int ranks, uint64_t bytes, int iters,
                      double seconds) {
  const double algbw = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
  std::printf("%s,%s,%s,%d,%llu,%d,%.3f,%.4f,%.4f\n", op_name(op), o.backend.c_str(),
              o.transport.c_str(), ranks, static_cast<unsigned long long>(bytes), iters,
              seconds * 1e6, algbw, algbw * bus_factor(op, ranks));
  std::fflush(stdout);
}

}  // namespace compare
