// Float16 and BFloat16 reductions with AVX2 + F16C intrinsics (x86-64 only).
//
// One fused loop per (format, op): load 8 elements of each operand, widen
// them to float32 in registers, fold, round back to nearest-even, store. No
// scratch buffers and one pass over memory, so these run near memory speed.
// Float16 converts with vcvtph2ps/vcvtps2ph; BFloat16 with integer shifts and
// the same branch-free rounding as the portable path (reduce_kernels_half.cc),
// so both paths give identical bits. Every function here carries
// target("avx2,f16c") and is only called when the CPU has both (all AVX2 CPUs
// made so far do); the rest of the build needs no -m flags. Tails (fewer than
// 8 elements) go through a zero-padded register so that every element takes
// the same rounding path.
#include "core/reduce_kernels_detail.hpp"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace baton::kernels::detail {
namespace {

constexpr size_t kLanes = 8;

struct HalfFormat {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline void store(uint16_t* p, __m256 v) {
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, kRound));
  }
};

struct BFloat16Format {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 load(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  // Round to nearest even (add 0x7fff plus the lowest kept bit); NaN keeps
  // its upper bits with the quiet bit set.
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline void store(uint16_t* p, __m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i biased = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
    const __m256i rounded = _mm256_srli_epi32(biased, 16);
    const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i bits = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
    // Pack the eight 32-bit values (all <= 0xffff) to 16 bits: packus works
    // per 128-bit lane, so gather quadwords 0 and 2 into the low half.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(bits, bits), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
};

struct Sum {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 apply(__m256 a, __m256 b) {
    return _mm256_add_ps(a, b);
  }
};
struct Product {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 apply(__m256 a, __m256 b) {
    return _mm256_mul_ps(a, b);
  }
};
// vminps/vmaxps return the second operand when either is NaN, which covers a
// NaN b; the blend puts a NaN a back.
struct Min {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 apply(__m256 a, __m256 b) {
    return _mm256_blendv_ps(_mm256_min_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
};
struct Max {
  [[gnu::target("avx2,f16c"), gnu::always_inline]] static inline __m256 apply(__m256 a, __m256 b) {
    return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
};

// inout[i] = op(inout[i], in[i]); in may be inout (loads precede stores).
template <class F, class Op>
[[gnu::target("avx2,f16c")]] void fused_into(void* inout_v, const void* in_v, size_t count) {
  auto* inout = static_cast<uint16_t*>(inout_v);
  const auto* in = static_cast<const uint16_t*>(in_v);
  size_t i = 0;
  for (; i + 2 * kLanes <= count; i += 2 * kLanes) {
    const __m256 a0 = F::load(inout + i), a1 = F::load(inout + i + kLanes);
    const __m256 b0 = F::load(in + i), b1 = F::load(in + i + kLanes);
    F::store(inout + i, Op::apply(a0, b0));
    F::store(inout + i + kLanes, Op::apply(a1, b1));
  }
  for (; i < count; i += kLanes) {
    const size_t n = std::min(kLanes, count - i);
    uint16_t a[kLanes] = {}, b[kLanes] = {};
    std::memcpy(a, inout + i, n * sizeof(uint16_t));
    std::memcpy(b, in + i, n * sizeof(uint16_t));
    F::store(a, Op::apply(F::load(a), F::load(b)));
    std::memcpy(inout + i, a, n * sizeof(uint16_t));
  }
}

// out[i] = op(inputs[0][i], ..., inputs[n-1][i]) folded in float32, rounded
// once. All inputs are read before out is written, element group by group,
// so out may be any input.
template <class F, class Op>
[[gnu::target("avx2,f16c")]] void fused_n(void* out_v, const void* const* inputs, size_t n_inputs,
                                          size_t count) {
  auto* out = static_cast<uint16_t*>(out_v);
  auto input = [inputs](size_t k) { return static_cast<const uint16_t*>(inputs[k]); };
  size_t i = 0;
  for (; i + 2 * kLanes <= count; i += 2 * kLanes) {
    __m256 acc0 = F::load(input(0) + i), acc1 = F::load(input(0) + i + kLanes);
    for (size_t k = 1; k < n_inputs; ++k) {
      acc0 = Op::apply(acc0, F::load(input(k) + i));
      acc1 = Op::apply(acc1, F::load(input(k) + i + kLanes));
    }
    F::store(out + i, acc0);
    F::store(out + i + kLanes, acc1);
  }
  for (; i < count; i += kLanes) {
    const size_t n = std::min(kLanes, count - i);
    uint16_t block[kLanes] = {};
    std::memcpy(block, input(0) + i, n * sizeof(uint16_t));
    __m256 acc = F::load(block);
    for (size_t k = 1; k < n_inputs; ++k) {
      std::memcpy(block, input(k) + i, n * sizeof(uint16_t));
      acc = Op::apply(acc, F::load(block));
    }
    F::store(block, acc);
    std::memcpy(out + i, block, n * sizeof(uint16_t));
  }
}

template <class F>
[[gnu::target("avx2,f16c")]] void fused_divide(void* data_v, size_t count, int64_t divisor) {
  auto* data = static_cast<uint16_t*>(data_v);
  const __m256 d = _mm256_set1_ps(static_cast<float>(divisor));
  size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) F::store(data + i, _mm256_div_ps(F::load(data + i), d));
  if (i < count) {
    const size_t n = count - i;
    uint16_t block[kLanes] = {};
    std::memcpy(block, data + i, n * sizeof(uint16_t));
    F::store(block, _mm256_div_ps(F::load(block), d));
    std::memcpy(data + i, block, n * sizeof(uint16_t));
  }
}

template <class F>
HalfIntoFn pick_into(ReduceOp op) {
  switch (op) {
    case ReduceOp::SUM:
    case ReduceOp::AVG: return &fused_into<F, Sum>;
    case ReduceOp::PRODUCT: return &fused_into<F, Product>;
    case ReduceOp::MIN: return &fused_into<F, Min>;
    case ReduceOp::MAX: return &fused_into<F, Max>;
    default: return nullptr;
  }
}

template <class F>
HalfNFn pick_n(ReduceOp op) {
  switch (op) {
    case ReduceOp::SUM:
    case ReduceOp::AVG: return &fused_n<F, Sum>;
    case ReduceOp::PRODUCT: return &fused_n<F, Product>;
    case ReduceOp::MIN: return &fused_n<F, Min>;
    case ReduceOp::MAX: return &fused_n<F, Max>;
    default: return nullptr;
  }
}

}  // namespace

HalfIntoFn x86_half_into(ReduceOp op, DType dtype) {
  return dtype == DType::Float16 ? pick_into<HalfFormat>(op) : pick_into<BFloat16Format>(op);
}

HalfNFn x86_half_n(ReduceOp op, DType dtype) {
  return dtype == DType::Float16 ? pick_n<HalfFormat>(op) : pick_n<BFloat16Format>(op);
}

DivideFn x86_half_divide(DType dtype) {
  return dtype == DType::Float16 ? &fused_divide<HalfFormat> : &fused_divide<BFloat16Format>;
}

}  // namespace baton::kernels::detail

#endif  // defined(__x86_64__)
