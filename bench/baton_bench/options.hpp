// baton-bench's command line, parsed: which collectives, sizes, dtype and
// reduce op to measure, and how many iterations.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"

namespace baton::bench {

// The operations baton-bench measures (nccl-tests' names).
enum class BenchOp { kAllReduce, kBroadcast, kAllGather, kReduceScatter, kSendRecv };

std::string_view bench_op_name(BenchOp op);

struct BenchOptions {
  std::vector<BenchOp> ops{BenchOp::kAllReduce};
  std::vector<uint64_t> sizes;  // bytes, in the order given
  DType dtype = DType::Float32;
  ReduceOp reduce_op = ReduceOp::SUM;
  int warmup = -1;  // -1: adapts to the size (warmup_for)
  int iters = -1;   // -1: adapts to the size (iters_for)
  bool csv = false;
  std::string backend = "auto";
};

// The default sizes: 8 B to 256 MiB by factors of 4.
std::vector<uint64_t> default_sizes();

// "8", "1K", "16M", "1G" (K/M/G = KiB/MiB/GiB, case-insensitive, optional
// trailing "B" or "iB"). Throws InvalidArgument naming the text on anything
// else, on zero, and on overflow.
uint64_t parse_size(std::string_view text);
// A comma-separated list of parse_size items.
std::vector<uint64_t> parse_sizes(std::string_view list);
// "all_reduce,broadcast,..."; an unknown name is an InvalidArgument listing the known ones.
std::vector<BenchOp> parse_ops(std::string_view list);
// "float32", "int8", ... (dtype_name's spellings).
DType parse_dtype(std::string_view name);
// "sum", "prod"/"product", "min", "max", "avg" (case-insensitive). The bitwise
// ops are not measured: InvalidArgument.
ReduceOp parse_reduce_op(std::string_view name);

// Timed iterations when --iters is not given: clamp(1 GiB / bytes, 5, 1000).
int iters_for(uint64_t bytes);
// Warm-up iterations when --warmup is not given: clamp(iters / 10, 1, 20).
int warmup_for(int iters);

// "8 B", "1 KiB", "16 MiB", "3000 B": the largest exact binary unit.
std::string format_size(uint64_t bytes);

}  // namespace baton::bench
