// Float16 and BFloat16 reductions: widen to float32, reduce, round once.
//
// On x86-64 CPUs with AVX2 and F16C the fused loops of
// reduce_kernels_half_x86.cc run. Everywhere else (and under
// ScopedIsaOverride(kPortable)) this file's portable path works through the
// buffer in blocks of kBlock elements: each operand block is widened into a
// float32 scratch block on the stack (L1-resident), the float32 loop of
// reduce_kernels_native.cc folds them, and the result is rounded back to
// nearest, ties to even. Both paths compute the same bits.
//
// Rounding: reduce_n folds every input in float32 before rounding, so n
// inputs cost one rounding. For reduce_into and divide the single float32
// operation followed by one rounding is correctly rounded: float32's 24-bit
// significand is at least 2p+2 bits for both 16-bit formats (p = 11 and 8),
// so the double rounding is innocuous. NaN stays NaN (made quiet); overflow
// becomes infinity.
//
// Conversions here are branch-free integer arithmetic on the bit patterns
// that the compiler vectorises (SSE2 on x86-64, NEON on AArch64), exact and
// equal to dtype.hpp's scalar conversions for every non-NaN value.
#include <algorithm>
#include <bit>
#include <cstdint>

#include "core/reduce_kernels_detail.hpp"

namespace baton::kernels::detail {
namespace {

// Elements per block: two float32 scratch blocks of 8 KiB each.
constexpr size_t kBlock = 2048;

using WidenFn = void (*)(const uint16_t* src, float* dst, size_t count);
using NarrowFn = void (*)(const float* src, uint16_t* dst, size_t count);

struct Converter {
  WidenFn widen;
  NarrowFn narrow;
};

// The conversion loops walk groups of 16 with a constant inner trip count,
// which -O2's cost model vectorises (see reduce_kernels_native.cc), then a
// tail. Every conversion below is branch-free (each case is computed and one
// is selected) so that it vectorises.
constexpr size_t kGroup = 16;

// c ? a : b, as masks: a plain ?: lets GCC move the float32 addition of the
// subnormal case under a branch, which (with -ftrapping-math) then blocks
// vectorisation.
[[gnu::always_inline]] inline uint32_t select(bool c, uint32_t a, uint32_t b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return (a & mask) | (b & ~mask);
}

// binary16 -> binary32, exact. Normal numbers rebias the exponent (15 -> 127);
// Inf/NaN keep their payload under an all-ones exponent; a subnormal m * 2^-24
// is computed as (0.5 + m * 2^-24) - 0.5, both steps exact.
[[gnu::always_inline]] inline float half_to_float(uint16_t h) {
  const uint32_t magnitude = uint32_t{h & 0x7fffu} << 13;
  const uint32_t exponent = h & 0x7c00u;
  const uint32_t normal = magnitude + 0x38000000u;
  const uint32_t special = magnitude + 0x70000000u;
  const float sub = std::bit_cast<float>((magnitude >> 13) + 0x3f000000u) - 0.5f;
  const uint32_t bits = select(exponent == 0x7c00u, special,
                               select(exponent == 0, std::bit_cast<uint32_t>(sub), normal));
  return std::bit_cast<float>(bits | (uint32_t{h & 0x8000u} << 16));
}

// binary32 -> binary16, round to nearest, ties to even, whatever the FPU's
// rounding mode for the normal range (integer arithmetic on the bits):
//  - normal results: rebias (127 -> 15), add 0xfff plus the lowest kept bit,
//    drop 13 bits; a carry into the exponent is the correct rounding, up to
//    infinity for values >= 65520;
//  - |x| >= 65536 (0x47800000): infinity; NaN: quiet NaN with the upper payload;
//  - |x| < 2^-14 (0x38800000), subnormal results: 0.5 + |x| rounds at 2^-24
//    in float32 (round-to-nearest-even, the default mode), and the low bits
//    of the sum are the half's bits (0x400 when it rounds up to a normal).
[[gnu::always_inline]] inline uint16_t float_to_half(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  const uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
  const uint32_t sub =
      std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0.5f) - 0x3f000000u;
  const uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);
  const uint32_t bits = select(a > 0x7f800000u, nan,
                               select(a >= 0x47800000u, 0x7c00u, select(a < 0x38800000u, sub, normal)));
  return static_cast<uint16_t>(bits | sign);
}

void widen_half(const uint16_t* __restrict src, float* __restrict dst, size_t count) {
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    for (size_t j = 0; j < kGroup; ++j) dst[i + j] = half_to_float(src[i + j]);
  }
  for (; i < count; ++i) dst[i] = half_to_float(src[i]);
}
void narrow_half(const float* __restrict src, uint16_t* __restrict dst, size_t count) {
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    for (size_t j = 0; j < kGroup; ++j) dst[i + j] = float_to_half(src[i + j]);
  }
  for (; i < count; ++i) dst[i] = float_to_half(src[i]);
}

[[gnu::always_inline]] inline float bf16_to_float(uint16_t bits) {
  return std::bit_cast<float>(uint32_t{bits} << 16);
}
// Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate.
// NaN keeps its upper bits with the quiet bit set, so it never rounds into
// infinity. Overflow carries into the infinity pattern, as it should.
[[gnu::always_inline]] inline uint16_t float_to_bf16(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  const bool is_nan = (u & 0x7fffffffu) > 0x7f800000u;
  return static_cast<uint16_t>(is_nan ? quiet_nan : rounded);
}
void widen_bf16(const uint16_t* __restrict src, float* __restrict dst, size_t count) {
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    for (size_t j = 0; j < kGroup; ++j) dst[i + j] = bf16_to_float(src[i + j]);
  }
  for (; i < count; ++i) dst[i] = bf16_to_float(src[i]);
}
void narrow_bf16(const float* __restrict src, uint16_t* __restrict dst, size_t count) {
  size_t i = 0;
  for (; i + kGroup <= count; i += kGroup) {
    for (size_t j = 0; j < kGroup; ++j) dst[i + j] = float_to_bf16(src[i + j]);
  }
  for (; i < count; ++i) dst[i] = float_to_bf16(src[i]);
}

Converter converter(DType dtype) {
  if (dtype == DType::BFloat16) return {&widen_bf16, &narrow_bf16};
  return {&widen_half, &narrow_half};
}

const uint16_t* as_bits(const void* p) { return static_cast<const uint16_t*>(p); }

#if defined(__x86_64__)
bool use_x86(Isa isa) { return isa == Isa::kAvx2 && cpu_has_f16c(); }
#endif

}  // namespace

void half_reduce_into(ReduceOp op, DType dtype, void* inout, const void* in, size_t count,
                      [[maybe_unused]] Isa isa) {
#if defined(__x86_64__)
  if (use_x86(isa)) {
    x86_half_into(op, dtype)(inout, in, count);
    return;
  }
#endif
  const Converter cv = converter(dtype);
  const BinaryFn fold = native_kernels(op, DType::Float32, Isa::kPortable).binary;
  auto* dst = static_cast<uint16_t*>(inout);
  const uint16_t* src = as_bits(in);
  float acc[kBlock];
  float operand[kBlock];
  for (size_t begin = 0; begin < count; begin += kBlock) {
    const size_t n = std::min(kBlock, count - begin);
    cv.widen(dst + begin, acc, n);
    cv.widen(src + begin, operand, n);
    fold(acc, operand, n);
    cv.narrow(acc, dst + begin, n);
  }
}

void half_reduce_n(ReduceOp op, DType dtype, void* out, std::span<const void* const> inputs,
                   size_t count, [[maybe_unused]] Isa isa) {
#if defined(__x86_64__)
  if (use_x86(isa)) {
    x86_half_n(op, dtype)(out, inputs.data(), inputs.size(), count);
    return;
  }
#endif
  const Converter cv = converter(dtype);
  const BinaryFn fold = native_kernels(op, DType::Float32, Isa::kPortable).binary;
  auto* dst = static_cast<uint16_t*>(out);
  float acc[kBlock];
  float operand[kBlock];
  for (size_t begin = 0; begin < count; begin += kBlock) {
    const size_t n = std::min(kBlock, count - begin);
    cv.widen(as_bits(inputs[0]) + begin, acc, n);
    for (size_t k = 1; k < inputs.size(); ++k) {
      cv.widen(as_bits(inputs[k]) + begin, operand, n);
      fold(acc, operand, n);
    }
    // Every input's block is read before the output block is written, so out
    // may be any one of the inputs.
    cv.narrow(acc, dst + begin, n);
  }
}

void half_divide(DType dtype, void* data, size_t count, int64_t divisor,
                 [[maybe_unused]] Isa isa) {
#if defined(__x86_64__)
  if (use_x86(isa)) {
    x86_half_divide(dtype)(data, count, divisor);
    return;
  }
#endif
  const Converter cv = converter(dtype);
  const DivideFn div = native_divide(DType::Float32, Isa::kPortable);
  auto* bits = static_cast<uint16_t*>(data);
  float block[kBlock];
  for (size_t begin = 0; begin < count; begin += kBlock) {
    const size_t n = std::min(kBlock, count - begin);
    cv.widen(bits + begin, block, n);
    div(block, n, divisor);
    cv.narrow(block, bits + begin, n);
  }
}

}  // namespace baton::kernels::detail
