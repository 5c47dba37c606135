// Parsing of baton-bench's sizes, operations, dtype and reduce op.
#include "options.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "baton/error.hpp"

namespace baton::bench {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::vector<std::string> split_commas(std::string_view list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string item = trim(list.substr(start, comma - start));
    if (!item.empty()) items.push_back(item);
    start = comma + 1;
  }
  return items;
}

}  // namespace

std::string_view bench_op_name(BenchOp op) {
  switch (op) {
    case BenchOp::kAllReduce: return "all_reduce";
    case BenchOp::kBroadcast: return "broadcast";
    case BenchOp::kAllGather: return "all_gather";
    case BenchOp::kReduceScatter: return "reduce_scatter";
    case BenchOp::kSendRecv: return "send_recv";
  }
  return "unknown";
}

std::vector<uint64_t> default_sizes() {
  std::vector<uint64_t> sizes;
  for (uint64_t bytes = 8; bytes <= (uint64_t{256} << 20); bytes *= 4) sizes.push_back(bytes);
  return sizes;
}

uint64_t parse_size(std::string_view text) {
  std::string s = lower(trim(text));
  const std::string original(text);
  // Optional "b" / "ib" after the unit.
  if (s.size() > 1 && s.back() == 'b') {
    s.pop_back();
    if (!s.empty() && s.back() == 'i') s.pop_back();
  }
  uint64_t multiplier = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': multiplier = uint64_t{1} << 10; break;
      case 'm': multiplier = uint64_t{1} << 20; break;
      case 'g': multiplier = uint64_t{1} << 30; break;
      default: break;
    }
    if (multiplier != 1) s.pop_back();
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw InvalidArgument("baton-bench: size '" + original +
                          "' is not a number with an optional K, M or G suffix (e.g. 8, 1K, 16M)");
  }
  uint64_t value = 0;
  for (char c : s) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      throw InvalidArgument("baton-bench: size '" + original + "' is too large");
    }
    value = value * 10 + digit;
  }
  if (value == 0) throw InvalidArgument("baton-bench: size '" + original + "' must be at least 1 byte");
  if (value > std::numeric_limits<uint64_t>::max() / multiplier) {
    throw InvalidArgument("baton-bench: size '" + original + "' is too large");
  }
  return value * multiplier;
}

std::vector<uint64_t> parse_sizes(std::string_view list) {
  std::vector<uint64_t> sizes;
  for (const std::string& item : split_commas(list)) sizes.push_back(parse_size(item));
  if (sizes.empty()) throw InvalidArgument("baton-bench: --sizes is empty");
  return sizes;
}

std::vector<BenchOp> parse_ops(std::string_view list) {
  static constexpr BenchOp kAll[] = {BenchOp::kAllReduce, BenchOp::kBroadcast, BenchOp::kAllGather,
                                     BenchOp::kReduceScatter, BenchOp::kSendRecv};
  std::vector<BenchOp> ops;
  for (const std::string& item : split_commas(list)) {
    const std::string name = lower(item);
    auto it = std::find_if(std::begin(kAll), std::end(kAll),
                           [&](BenchOp op) { return bench_op_name(op) == name; });
    if (it == std::end(kAll)) {
      throw InvalidArgument("baton-bench: unknown op '" + item +
                            "'; expected all_reduce, broadcast, all_gather, reduce_scatter or "
                            "send_recv");
    }
    ops.push_back(*it);
  }
  if (ops.empty()) throw InvalidArgument("baton-bench: --ops is empty");
  return ops;
}

DType parse_dtype(std::string_view name) {
  const std::string wanted = lower(trim(name));
  for (DType dtype : kAllDTypes) {
    if (dtype_name(dtype) == wanted) return dtype;
  }
  throw InvalidArgument("baton-bench: unknown dtype '" + std::string(name) +
                        "'; expected float32, float64, float16, bfloat16, int8, uint8, int32, "
                        "int64 or bool");
}

ReduceOp parse_reduce_op(std::string_view name) {
  const std::string wanted = lower(trim(name));
  if (wanted == "sum") return ReduceOp::SUM;
  if (wanted == "prod" || wanted == "product") return ReduceOp::PRODUCT;
  if (wanted == "min") return ReduceOp::MIN;
  if (wanted == "max") return ReduceOp::MAX;
  if (wanted == "avg") return ReduceOp::AVG;
  throw InvalidArgument("baton-bench: unknown or unsupported reduce op '" + std::string(name) +
                        "'; expected sum, prod, min, max or avg");
}

int iters_for(uint64_t bytes) {
  const uint64_t per_gib = (uint64_t{1} << 30) / std::max<uint64_t>(bytes, 1);
  return static_cast<int>(std::clamp<uint64_t>(per_gib, 5, 1000));
}

int warmup_for(int iters) { return std::clamp(iters / 10, 1, 20); }

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB"};
  int unit = 0;
  while (unit < 3 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + " " + kUnits[unit];
}

}  // namespace baton::bench
