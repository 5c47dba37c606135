// Internals shared by the reduce_kernels*.cc files; nothing outside them
// includes this header. reduce_kernels.cc checks arguments and dispatches;
// reduce_kernels_native.cc holds the loops on natively stored types (float,
// double, integers, bool); reduce_kernels_half.cc the portable Float16/BFloat16
// paths, which convert blocks to float32 and reuse the float32 loops, and
// reduce_kernels_half_x86.cc their fused AVX2+F16C versions.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "core/reduce_kernels.hpp"

namespace baton::kernels::detail {

// inout[i] = op(inout[i], in[i]); inout and in must not overlap at all.
using BinaryFn = void (*)(void* inout, const void* in, size_t count);
// data[i] /= divisor, divisor >= 1.
using DivideFn = void (*)(void* data, size_t count, int64_t divisor);

// out[i] = op(in[0][i], ..., in[n-1][i]), n >= 2; out may be any input
// exactly but must not otherwise overlap one.
using FoldNFn = void (*)(void* out, const void* const* in, size_t n, size_t count);

struct NativeKernels {
  BinaryFn binary = nullptr;
  FoldNFn fold_n = nullptr;
};

// The loops for op (AVG as SUM) on a natively stored dtype, i.e. any dtype
// but Float16 and BFloat16. Precondition: supports(op, dtype).
NativeKernels native_kernels(ReduceOp op, DType dtype, Isa isa);
// The divide loop for a natively stored dtype.
DivideFn native_divide(DType dtype, Isa isa);

// Float16/BFloat16 versions of the public entry points (arguments checked).
// They use the fused x86 kernels below when isa is kAvx2 and the CPU has F16C,
// else portable code.
void half_reduce_into(ReduceOp op, DType dtype, void* inout, const void* in, size_t count,
                      Isa isa);
void half_reduce_n(ReduceOp op, DType dtype, void* out, std::span<const void* const> inputs,
                   size_t count, Isa isa);
void half_divide(DType dtype, void* data, size_t count, int64_t divisor, Isa isa);

// Whether this CPU can run the F16C conversions (x86-64 only).
bool cpu_has_f16c();

#if defined(__x86_64__)
// reduce_kernels_half_x86.cc: fused AVX2+F16C loops on 16-bit floats. Call
// only when the CPU has both. nullptr for ops not defined on floats.
using HalfIntoFn = void (*)(void* inout, const void* in, size_t count);
using HalfNFn = void (*)(void* out, const void* const* inputs, size_t n_inputs, size_t count);
HalfIntoFn x86_half_into(ReduceOp op, DType dtype);
HalfNFn x86_half_n(ReduceOp op, DType dtype);
DivideFn x86_half_divide(DType dtype);
#endif

}  // namespace baton::kernels::detail
