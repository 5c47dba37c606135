// Reduction loops on natively stored types: float, double, the integers, bool.
//
// Each (type, op) pair instantiates two plain loops that GCC vectorises at
// -O2: binary (inout op= in, over restrict pointers) and fold_n (out = op over
// n inputs, one pass). Both walk 64-byte groups with an inner loop of constant
// trip count (which even -O2's "very cheap" cost model vectorises, needing no
// epilogue), then a scalar tail. On x86-64
// every loop is compiled twice, for the baseline ISA (SSE2, 16-byte vectors)
// and with target("avx2") (32-byte vectors); reduce_kernels.cc picks one at
// run time. Check with -fopt-info-vec-optimized or objdump (vaddps %ymm...).
//
// Integer arithmetic is done in the unsigned type of the same width, so
// overflow wraps instead of being undefined. Floating-point MIN/MAX propagate
// NaN. Bool is handled as bytes where any non-zero byte is true and results
// are 0 or 1.
#include <cstdint>
#include <type_traits>

#include "core/reduce_kernels_detail.hpp"

namespace baton::kernels::detail {
namespace {

template <class T>
using Wide = std::make_unsigned_t<T>;  // the type integer arithmetic is done in

template <class T>
[[gnu::always_inline]] inline T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b)));
}
template <class T>
[[gnu::always_inline]] inline T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b)));
}

struct Sum {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return a + b;
    } else {
      return wrap_add(a, b);
    }
  }
};
struct Product {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return a * b;
    } else {
      return wrap_mul(a, b);
    }
  }
};
// a != a is true only for NaN; written so that both loops vectorise to a
// compare, an unordered-compare and a blend.
struct Min {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return (a < b || a != a) ? a : b;
    } else {
      return a < b ? a : b;
    }
  }
};
struct Max {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return (a > b || a != a) ? a : b;
    } else {
      return a > b ? a : b;
    }
  }
};
struct BitAnd {
  template <class T>
  static T apply(T a, T b) {
    return static_cast<T>(a & b);
  }
};
struct BitOr {
  template <class T>
  static T apply(T a, T b) {
    return static_cast<T>(a | b);
  }
};
struct BitXor {
  template <class T>
  static T apply(T a, T b) {
    return static_cast<T>(a ^ b);
  }
};
// Bool as bytes: any non-zero byte is true; results are 0 or 1.
struct LogicalAnd {
  static uint8_t apply(uint8_t a, uint8_t b) { return static_cast<uint8_t>((a != 0) & (b != 0)); }
};
struct LogicalOr {
  static uint8_t apply(uint8_t a, uint8_t b) { return static_cast<uint8_t>((a | b) != 0); }
};
struct LogicalXor {
  static uint8_t apply(uint8_t a, uint8_t b) { return static_cast<uint8_t>((a != 0) != (b != 0)); }
};

// The one loop every kernel is made of. kGroup elements fill 64 bytes: four
// SSE or two AVX2 registers per operand.
template <class T, class Op>
[[gnu::always_inline]] inline void binary_loop(T* __restrict inout, const T* __restrict in,
                                               size_t count) {
  constexpr size_t kGroup = 64 / sizeof(T);
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    for (size_t j = 0; j < kGroup; ++j) inout[i + j] = Op::apply(inout[i + j], in[i + j]);
  }
  for (; i < count; ++i) inout[i] = Op::apply(inout[i], in[i]);
}

// out[i] = op(in[0][i], ..., in[n-1][i]) for n >= 2, one pass over memory.
// Each group of 64 bytes is folded in a local accumulator before it is
// stored, so out may be any of the inputs (all reads of a group precede its
// store). The accumulator starts as op(in[0], in[1]) rather than a copy of
// in[0]: a copy is done with 16-byte moves, and the 32-byte reloads of it
// would stall on store forwarding.
template <class T, class Op>
[[gnu::always_inline]] inline void fold_n_loop(T* out, const void* const* in, size_t n,
                                               size_t count) {
  constexpr size_t kGroup = 64 / sizeof(T);
  auto input = [in](size_t k) { return static_cast<const T*>(in[k]); };
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    T acc[kGroup];
    const T* first = input(0) + i;
    const T* second = input(1) + i;
    for (size_t j = 0; j < kGroup; ++j) acc[j] = Op::apply(first[j], second[j]);
    for (size_t k = 2; k < n; ++k) {
      const T* next = input(k) + i;
      for (size_t j = 0; j < kGroup; ++j) acc[j] = Op::apply(acc[j], next[j]);
    }
    for (size_t j = 0; j < kGroup; ++j) out[i + j] = acc[j];
  }
  for (; i < count; ++i) {
    T acc = input(0)[i];
    for (size_t k = 1; k < n; ++k) acc = Op::apply(acc, input(k)[i]);
    out[i] = acc;
  }
}

template <class T, class Op>
void fold_n_portable(void* out, const void* const* in, size_t n, size_t count) {
  fold_n_loop<T, Op>(static_cast<T*>(out), in, n, count);
}

template <class T, class Op>
void binary_portable(void* inout, const void* in, size_t count) {
  binary_loop<T, Op>(static_cast<T*>(inout), static_cast<const T*>(in), count);
}

template <class T>
[[gnu::always_inline]] inline void divide_loop(T* __restrict data, size_t count, int64_t divisor) {
  if constexpr (std::is_floating_point_v<T>) {
    const T d = static_cast<T>(divisor);
    constexpr size_t kGroup = 64 / sizeof(T);
    size_t i = 0;
    for (; i + kGroup <= count; i += kGroup) {
      for (size_t j = 0; j < kGroup; ++j) data[i + j] = data[i + j] / d;
    }
    for (; i < count; ++i) data[i] = data[i] / d;
  } else {
    // C++ integer division truncates toward zero; divisor >= 1, so no overflow.
    for (size_t i = 0; i < count; ++i) {
      data[i] = static_cast<T>(static_cast<int64_t>(data[i]) / divisor);
    }
  }
}

template <class T>
void divide_portable(void* data, size_t count, int64_t divisor) {
  divide_loop<T>(static_cast<T*>(data), count, divisor);
}

#if defined(__x86_64__)
template <class T, class Op>
[[gnu::target("avx2")]] void binary_avx2(void* inout, const void* in, size_t count) {
  binary_loop<T, Op>(static_cast<T*>(inout), static_cast<const T*>(in), count);
}
template <class T, class Op>
[[gnu::target("avx2")]] void fold_n_avx2(void* out, const void* const* in, size_t n, size_t count) {
  fold_n_loop<T, Op>(static_cast<T*>(out), in, n, count);
}
template <class T>
[[gnu::target("avx2")]] void divide_avx2(void* data, size_t count, int64_t divisor) {
  divide_loop<T>(static_cast<T*>(data), count, divisor);
}
#endif

template <class T, class Op>
NativeKernels pick(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx2) return {&binary_avx2<T, Op>, &fold_n_avx2<T, Op>};
#else
  (void)isa;
#endif
  return {&binary_portable<T, Op>, &fold_n_portable<T, Op>};
}

template <class T>
NativeKernels pick_numeric(ReduceOp op, Isa isa) {
  switch (op) {
    case ReduceOp::SUM:
    case ReduceOp::AVG: return pick<T, Sum>(isa);
    case ReduceOp::PRODUCT: return pick<T, Product>(isa);
    case ReduceOp::MIN: return pick<T, Min>(isa);
    case ReduceOp::MAX: return pick<T, Max>(isa);
    case ReduceOp::BAND:
    case ReduceOp::BOR:
    case ReduceOp::BXOR: break;
  }
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case ReduceOp::BAND: return pick<T, BitAnd>(isa);
      case ReduceOp::BOR: return pick<T, BitOr>(isa);
      case ReduceOp::BXOR: return pick<T, BitXor>(isa);
      default: break;
    }
  }
  return {};
}

NativeKernels pick_bool(ReduceOp op, Isa isa) {
  switch (op) {
    case ReduceOp::SUM:
    case ReduceOp::AVG:
    case ReduceOp::MAX:
    case ReduceOp::BOR: return pick<uint8_t, LogicalOr>(isa);
    case ReduceOp::PRODUCT:
    case ReduceOp::MIN:
    case ReduceOp::BAND: return pick<uint8_t, LogicalAnd>(isa);
    case ReduceOp::BXOR: return pick<uint8_t, LogicalXor>(isa);
  }
  return {};
}

template <class T>
DivideFn pick_divide(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx2) return &divide_avx2<T>;
#else
  (void)isa;
#endif
  return &divide_portable<T>;
}

// Bool: AVG is rejected by check_op before this is reached; dividing truth values is a no-op.
void divide_bool(void* /*data*/, size_t /*count*/, int64_t /*divisor*/) {}

}  // namespace

NativeKernels native_kernels(ReduceOp op, DType dtype, Isa isa) {
  switch (dtype) {
    case DType::Float32: return pick_numeric<float>(op, isa);
    case DType::Float64: return pick_numeric<double>(op, isa);
    case DType::Int8: return pick_numeric<int8_t>(op, isa);
    case DType::UInt8: return pick_numeric<uint8_t>(op, isa);
    case DType::Int32: return pick_numeric<int32_t>(op, isa);
    case DType::Int64: return pick_numeric<int64_t>(op, isa);
    case DType::Bool: return pick_bool(op, isa);
    case DType::Float16:
    case DType::BFloat16: break;
  }
  return {};
}

DivideFn native_divide(DType dtype, Isa isa) {
  switch (dtype) {
    case DType::Float32: return pick_divide<float>(isa);
    case DType::Float64: return pick_divide<double>(isa);
    case DType::Int8: return pick_divide<int8_t>(isa);
    case DType::UInt8: return pick_divide<uint8_t>(isa);
    case DType::Int32: return pick_divide<int32_t>(isa);
    case DType::Int64: return pick_divide<int64_t>(isa);
    case DType::Bool: return &divide_bool;
    case DType::Float16:
    case DType::BFloat16: break;
  }
  return nullptr;
}

}  // namespace baton::kernels::detail
