// Reduction kernels: the element-wise arithmetic behind every collective.
//
// Each collective algorithm reduces received bytes into a local buffer with
// reduce_into (two operands) or reduce_n (many ranks' chunks at once, e.g. a
// shared-memory reduce-scatter), and finishes an AVG with divide.
//
// Semantics, per dtype:
//  - SUM, PRODUCT, MIN, MAX on every numeric dtype. AVG reduces as SUM; the
//    caller divides once at the end with divide().
//  - Integers wrap on overflow as unsigned arithmetic would (two's
//    complement), never undefined behaviour.
//  - Floating-point MIN and MAX propagate NaN as torch.minimum/maximum do: if
//    either operand is NaN the result is NaN. Between -0.0 and +0.0 either
//    may be returned.
//  - Bool (one byte, 0 or 1; any non-zero byte reads as true): SUM and MAX
//    are logical or, PRODUCT and MIN logical and, BAND/BOR/BXOR logical; AVG is
//    not defined (InvalidArgument).
//  - BAND, BOR, BXOR on Float32/Float64/Float16/BFloat16 are an
//    InvalidArgument ("BAND is not defined for float32 tensors"), as is any
//    (op, dtype) pair for which baton::supports(op, dtype) is false.
//  - Float16 and BFloat16 are computed in float32 and rounded back to nearest,
//    ties to even. reduce_n accumulates all of its inputs in float32 and
//    rounds once, so reducing many ranks' halves costs one rounding, not one
//    per rank.
//
// Speed: the loops are vectorised. On x86-64 a CPU with AVX2 gets 256-bit
// code paths (and F16C conversions for Float16) chosen at run time with
// __builtin_cpu_supports/cpuid, without building with -march=native; other
// CPUs and other architectures get portable code that the compiler vectorises
// for the baseline ISA. Both paths give identical bits (NaN payloads aside).
// docs/performance.md has the measured bandwidth (SUM on 16 MiB of float32
// runs at about memcpy speed).
//
// Thread safety: all functions are pure on their arguments and may run
// concurrently on disjoint buffers. ScopedIsaOverride (for tests) changes a
// process-wide setting and must not be used while other threads reduce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"

namespace baton::kernels {

// inout[i] = op(inout[i], in[i]) for i < count. For AVG this computes SUM.
// `in` may be the same pointer as `inout`; any other overlap is an
// InvalidArgument. Does not block. Throws InvalidArgument when op is not
// defined on dtype or a pointer is null while count > 0.
void reduce_into(ReduceOp op, DType dtype, void* inout, const void* in, size_t count);

// out[i] = op(inputs[0][i], inputs[1][i], ...) for i < count, folded left to
// right (the order is fixed, so every rank computes the same bits). For AVG
// this computes SUM. `out` may be the same pointer as any input (each input
// is read as it was before the call); any other overlap of out with an input
// is an InvalidArgument. Inputs may alias each other.
// Float16/BFloat16 accumulate in float32 across all inputs and round once.
// Does not block. Throws InvalidArgument when inputs is empty, op is not
// defined on dtype, or a pointer is null while count > 0.
void reduce_n(ReduceOp op, DType dtype, void* out, std::span<const void* const> inputs,
              size_t count);

// data[i] /= divisor: the last step of AVG. Integers truncate toward zero;
// floats are divided with one correctly rounded division (divisor converted
// to the float type, exact up to 2^24 for float32); Float16/BFloat16 divide in
// float32 and round once. AVG is not defined on Bool (InvalidArgument).
// Does not block. Throws InvalidArgument when divisor < 1 or when AVG is not
// defined on dtype.
void divide(DType dtype, void* data, size_t count, int64_t divisor);

// Which code path the kernels take.
enum class Isa {
  kPortable,  // baseline ISA (SSE2 on x86-64); the only path off x86-64
  kAvx2,      // AVX2; Float16/BFloat16 fused loops when the CPU also has F16C
};

// The best path this CPU supports (kPortable off x86-64).
Isa detected_isa();
// The path the kernels take now: detected_isa() unless overridden.
Isa active_isa();
// Whether the active path converts Float16 with F16C instructions.
bool uses_f16c();
std::string_view isa_name(Isa isa);

// For tests and benchmarks: forces a path (clamped to what the CPU supports)
// for the lifetime of the object. Not thread-safe with concurrent reductions.
class ScopedIsaOverride {
 public:
  explicit ScopedIsaOverride(Isa isa);
  ~ScopedIsaOverride();
  ScopedIsaOverride(const ScopedIsaOverride&) = delete;
  ScopedIsaOverride& operator=(const ScopedIsaOverride&) = delete;

 private:
  int previous_;  // the override before this one, -1 for none
};

}  // namespace baton::kernels
