// Helpers for the collective algorithm tests (see collective_test_util.hpp).
#include "tests/collectives/collective_test_util.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

bool is_signed_type(DType dtype) {
  return is_floating_point(dtype) || dtype == DType::Int8 || dtype == DType::Int32 ||
         dtype == DType::Int64;
}

// Stores v (exactly representable, or rounded to nearest) as element i.
void store(DType dtype, std::byte* data, size_t i, double v) {
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T x{};
    if constexpr (std::is_same_v<T, bool>) {
      const uint8_t b = v != 0 ? 1 : 0;
      std::memcpy(data + i, &b, 1);
      return;
    } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      x = T(static_cast<float>(v));
    } else if constexpr (std::is_integral_v<T>) {
      x = static_cast<T>(static_cast<int64_t>(v));
    } else {
      x = static_cast<T>(v);
    }
    std::memcpy(data + i * sizeof(T), &x, sizeof(T));
  });
}

// Rounds a value to what dtype holds (integers wrap like the kernels).
double as_dtype(DType dtype, double v) {
  std::byte tmp[8];
  store(dtype, tmp, 0, v);
  return element_at(dtype, ConstBytes(tmp, element_size(dtype)), 0);
}

}  // namespace

void run_on_loopback(int world, const std::function<void(transport::Context&, int rank)>& body,
                     LoopbackOptions options) {
  auto contexts = make_loopback_group(world, options);
  run_ranks(world, [&](int rank, int) { body(*contexts[static_cast<size_t>(rank)], rank); },
            {.mode = RankMode::kThreads, .timeout = std::chrono::seconds(60)});
}

collectives::Comm make_comm(transport::Context& context, uint64_t seq, transport::OpDesc op,
                            std::chrono::milliseconds timeout) {
  return collectives::Comm(context, seq, op, collectives::Comm::Clock::now() + timeout);
}

transport::OpDesc op_desc(collectives::OpKind kind, DType dtype, size_t count, ReduceOp op,
                          int root) {
  return {.kind = static_cast<uint8_t>(kind),
          .dtype = static_cast<uint8_t>(dtype),
          .reduce_op = static_cast<uint8_t>(op),
          .root = root,
          .count = count};
}

double input_value(ReduceOp op, DType dtype, int rank, size_t index) {
  const auto r = static_cast<size_t>(rank);
  const size_t i = index;
  if (dtype == DType::Bool) {
    switch (op) {
      case ReduceOp::SUM:
      case ReduceOp::MAX:
      case ReduceOp::BOR: return i % 11 == r ? 1 : 0;
      case ReduceOp::BXOR: return static_cast<double>((i >> r) & 1);
      default: return i % 11 != r ? 1 : 0;  // PRODUCT, MIN, BAND
    }
  }
  const double shift = is_signed_type(dtype) ? 1 : 0;
  switch (op) {
    case ReduceOp::SUM:
    case ReduceOp::AVG: return static_cast<double>((r * 7 + i * 3) % 11) - 5 * shift;
    case ReduceOp::PRODUCT: {
      const size_t k = (r + i) % 4;
      return k == 0 ? 2 : (k == 1 ? 1 - 2 * shift : 1);
    }
    case ReduceOp::MIN:
    case ReduceOp::MAX: return static_cast<double>((r * 5 + i * 3) % 13) - 6 * shift;
    case ReduceOp::BAND:
    case ReduceOp::BOR:
    case ReduceOp::BXOR: return static_cast<double>((r * 37 + i * 11 + 5) & 0x7f);
  }
  return 0;
}

double expected_value(ReduceOp op, DType dtype, int world, size_t index) {
  if (dtype == DType::Bool) {
    bool acc = input_value(op, dtype, 0, index) != 0;
    for (int r = 1; r < world; ++r) {
      const bool x = input_value(op, dtype, r, index) != 0;
      switch (op) {
        case ReduceOp::PRODUCT:
        case ReduceOp::MIN:
        case ReduceOp::BAND: acc = acc && x; break;
        case ReduceOp::BXOR: acc = acc != x; break;
        default: acc = acc || x; break;
      }
    }
    return acc ? 1 : 0;
  }
  if (!is_floating_point(dtype)) {
    auto acc = static_cast<int64_t>(input_value(op, dtype, 0, index));
    for (int r = 1; r < world; ++r) {
      const auto x = static_cast<int64_t>(input_value(op, dtype, r, index));
      switch (op) {
        case ReduceOp::SUM:
        case ReduceOp::AVG: acc += x; break;
        case ReduceOp::PRODUCT: acc *= x; break;
        case ReduceOp::MIN: acc = std::min(acc, x); break;
        case ReduceOp::MAX: acc = std::max(acc, x); break;
        case ReduceOp::BAND: acc &= x; break;
        case ReduceOp::BOR: acc |= x; break;
        case ReduceOp::BXOR: acc ^= x; break;
      }
    }
    const auto wrapped = static_cast<int64_t>(as_dtype(dtype, static_cast<double>(acc)));
    return static_cast<double>(op == ReduceOp::AVG ? wrapped / world : wrapped);
  }
  double acc = input_value(op, dtype, 0, index);
  for (int r = 1; r < world; ++r) {
    const double x = input_value(op, dtype, r, index);
    switch (op) {
      case ReduceOp::PRODUCT: acc *= x; break;
      case ReduceOp::MIN: acc = std::min(acc, x); break;
      case ReduceOp::MAX: acc = std::max(acc, x); break;
      default: acc += x; break;  // SUM, AVG
    }
  }
  if (op != ReduceOp::AVG) return acc;
  if (dtype == DType::Float64) return acc / world;
  // float32 divides in float; float16/bfloat16 divide in float32, round once.
  const float q = static_cast<float>(acc) / static_cast<float>(world);
  return as_dtype(dtype, static_cast<double>(q));
}

Buffer make_elements(DType dtype, size_t count, size_t first,
                     const std::function<double(size_t)>& value) {
  Buffer out(count * element_size(dtype));
  for (size_t i = 0; i < count; ++i) store(dtype, out.data(), i, value(first + i));
  return out;
}

double element_at(DType dtype, ConstBytes data, size_t i) {
  return visit_dtype(dtype, [&](auto zero) -> double {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      return static_cast<double>(std::to_integer<uint8_t>(data[i]));
    } else {
      T x;
      std::memcpy(&x, data.data() + i * sizeof(T), sizeof(T));
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        return static_cast<double>(static_cast<float>(x));
      } else {
        return static_cast<double>(x);
      }
    }
  });
}

::testing::AssertionResult elements_equal(DType dtype, ConstBytes actual, size_t first,
                                          const std::function<double(size_t)>& expected, int rank,
                                          const std::string& what) {
  const size_t count = actual.size() / element_size(dtype);
  std::ostringstream out;
  int wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    const double want = expected(first + i);
    const double got = element_at(dtype, actual, i);
    if (want == got) continue;
    if (++wrong <= 5) {
      out << "\n  " << what << ": rank " << rank << ", index " << i << ": expected " << want
          << ", actual " << got;
    }
  }
  if (wrong == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << wrong << " wrong element(s) of " << count << out.str();
}

std::byte pattern_byte(int rank, size_t index) {
  return static_cast<std::byte>((static_cast<size_t>(rank) * 131 + index * 7 + 1) & 0xff);
}

Buffer make_pattern(int rank, size_t bytes, size_t first) {
  Buffer out(bytes);
  for (size_t i = 0; i < bytes; ++i) out[i] = pattern_byte(rank, first + i);
  return out;
}

::testing::AssertionResult bytes_equal_pattern(ConstBytes actual, int source_rank, size_t first,
                                               int rank, const std::string& what) {
  std::ostringstream out;
  int wrong = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const auto want = std::to_integer<int>(pattern_byte(source_rank, first + i));
    const auto got = std::to_integer<int>(actual[i]);
    if (want == got) continue;
    if (++wrong <= 5) {
      out << "\n  " << what << ": rank " << rank << ", byte " << i << ": expected " << want
          << " (from rank " << source_rank << "), actual " << got;
    }
  }
  if (wrong == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << wrong << " wrong byte(s) of " << actual.size() << out.str();
}

std::vector<std::pair<DType, ReduceOp>> all_dtype_op_pairs() {
  std::vector<std::pair<DType, ReduceOp>> pairs;
  for (DType dtype : kAllDTypes) {
    for (ReduceOp op : kAllReduceOps) {
      if (supports(op, dtype)) pairs.emplace_back(dtype, op);
    }
  }
  return pairs;
}

std::string case_name(DType dtype, ReduceOp op, int world, size_t count) {
  return std::string(dtype_name(dtype)) + " " + std::string(reduce_op_name(op)) + ", " +
         std::to_string(world) + " ranks, " + std::to_string(count) + " elements";
}

}  // namespace baton::testing
