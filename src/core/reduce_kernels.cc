// Reduction kernels: argument checks, CPU detection and dispatch.
//
// Every public entry point checks its arguments once (op defined on dtype,
// pointers, overlap), picks the loop for (op, dtype, ISA) from
// reduce_kernels_native.cc or reduce_kernels_half.cc, and runs it; the inner
// loops themselves never branch on the op or the dtype.
#include "core/reduce_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "baton/error.hpp"
#include "core/reduce_kernels_detail.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace baton::kernels {
namespace {

bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx2") != 0;
  return has;
#else
  return false;
#endif
}

constexpr int kNoOverride = -1;
std::atomic<int> g_isa_override{kNoOverride};

bool is_half(DType dtype) { return dtype == DType::Float16 || dtype == DType::BFloat16; }

void check_op(ReduceOp op, DType dtype) {
  if (!supports(op, dtype)) {
    throw InvalidArgument(std::string(reduce_op_name(op)) + " is not defined for " +
                          std::string(dtype_name(dtype)) + " tensors");
  }
}

void check_pointer(const void* p, size_t count, const char* what, const char* fn) {
  if (p == nullptr && count > 0) {
    throw InvalidArgument(std::string(fn) + ": " + what + " is null but count is " +
                          std::to_string(count));
  }
}

// Whether [a, a+bytes) and [b, b+bytes) share a byte without starting at the same one.
bool partially_overlaps(const void* a, const void* b, size_t bytes) {
  const auto x = reinterpret_cast<uintptr_t>(a);
  const auto y = reinterpret_cast<uintptr_t>(b);
  return x != y && x < y + bytes && y < x + bytes;
}

// Bytes per block when reduce_into reads a block of its own output.
constexpr size_t kCopyBytes = 16384;

// dst[i] = op(dst[i], src[i]) where src may be dst itself: the restrict loops
// then read from a copy of each block.
void fold_block(detail::BinaryFn fold, unsigned char* dst, const unsigned char* src, size_t n,
                size_t esize) {
  if (dst != src) {
    fold(dst, src, n);
    return;
  }
  alignas(64) unsigned char copy[kCopyBytes];
  for (size_t begin = 0; begin < n; begin += kCopyBytes / esize) {
    const size_t m = std::min(kCopyBytes / esize, n - begin);
    std::memcpy(copy, src + begin * esize, m * esize);
    fold(dst + begin * esize, copy, m);
  }
}

}  // namespace

namespace detail {
// CPUID leaf 1, ECX bit 29 (read directly: clang's __builtin_cpu_supports
// does not know "f16c"). The F16C paths also need AVX2, whose check covers
// the OS saving the YMM registers.
bool cpu_has_f16c() {
#if defined(__x86_64__)
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  }();
  return has;
#else
  return false;
#endif
}
}  // namespace detail

Isa detected_isa() { return cpu_has_avx2() ? Isa::kAvx2 : Isa::kPortable; }

Isa active_isa() {
  const int forced = g_isa_override.load(std::memory_order_relaxed);
  return forced == kNoOverride ? detected_isa() : static_cast<Isa>(forced);
}

bool uses_f16c() { return active_isa() == Isa::kAvx2 && detail::cpu_has_f16c(); }

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
  }
  return "unknown";
}

ScopedIsaOverride::ScopedIsaOverride(Isa isa)
    : previous_(g_isa_override.load(std::memory_order_relaxed)) {
  if (isa == Isa::kAvx2 && !cpu_has_avx2()) isa = Isa::kPortable;
  g_isa_override.store(static_cast<int>(isa), std::memory_order_relaxed);
}

ScopedIsaOverride::~ScopedIsaOverride() {
  g_isa_override.store(previous_, std::memory_order_relaxed);
}

void reduce_into(ReduceOp op, DType dtype, void* inout, const void* in, size_t count) {
  check_op(op, dtype);
  check_pointer(inout, count, "inout", "reduce_into");
  check_pointer(in, count, "in", "reduce_into");
  if (count == 0) return;
  const size_t esize = element_size(dtype);
  if (partially_overlaps(inout, in, count * esize)) {
    throw InvalidArgument("reduce_into: in and inout overlap without being the same buffer");
  }
  const Isa isa = active_isa();
  if (is_half(dtype)) {
    detail::half_reduce_into(op, dtype, inout, in, count, isa);
    return;
  }
  fold_block(detail::native_kernels(op, dtype, isa).binary, static_cast<unsigned char*>(inout),
             static_cast<const unsigned char*>(in), count, esize);
}

void reduce_n(ReduceOp op, DType dtype, void* out, std::span<const void* const> inputs,
              size_t count) {
  check_op(op, dtype);
  if (inputs.empty()) throw InvalidArgument("reduce_n: needs at least one input, got none");
  check_pointer(out, count, "out", "reduce_n");
  for (const void* p : inputs) check_pointer(p, count, "an input", "reduce_n");
  if (count == 0) return;
  const size_t esize = element_size(dtype);
  const size_t bytes = count * esize;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (partially_overlaps(out, inputs[k], bytes)) {
      throw InvalidArgument("reduce_n: out overlaps input " + std::to_string(k) +
                            " without being the same buffer");
    }
  }
  if (inputs.size() == 1) {  // nothing to fold, and no rounding either
    if (inputs[0] != out) std::memcpy(out, inputs[0], bytes);
    return;
  }
  const Isa isa = active_isa();
  if (is_half(dtype)) {
    detail::half_reduce_n(op, dtype, out, inputs, count, isa);
    return;
  }
  // One pass: each group of elements is folded over all inputs in registers
  // and stored once, so memory traffic is one read per input and one write.
  detail::native_kernels(op, dtype, isa).fold_n(out, inputs.data(), inputs.size(), count);
}

void divide(DType dtype, void* data, size_t count, int64_t divisor) {
  check_op(ReduceOp::AVG, dtype);
  check_pointer(data, count, "data", "divide");
  if (divisor < 1) {
    throw InvalidArgument("divide: divisor must be >= 1, got " + std::to_string(divisor));
  }
  if (count == 0 || divisor == 1) return;
  const Isa isa = active_isa();
  if (is_half(dtype)) {
    detail::half_divide(dtype, data, count, divisor, isa);
    return;
  }
  detail::native_divide(dtype, isa)(data, count, divisor);
}

}  // namespace baton::kernels
