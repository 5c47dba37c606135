// MPI datatypes and reduction ops for Baton's dtypes and ReduceOps.
//
// Built-in MPI types and ops are used where their meaning is Baton's
// (src/core/reduce_kernels.hpp): Float32/Float64 and the integer dtypes with
// SUM and PRODUCT, the integer dtypes with MIN, MAX, BAND, BOR and BXOR. AVG
// reduces as SUM; the backend divides once at the end. Everything MPI lacks
// or defines differently is a user-defined MPI_Op that runs Baton's own
// reduction kernel, so results are the native backend's bit for bit:
//  - Float16 and BFloat16 (no MPI type): a 2-byte contiguous type, every op
//    computed in float32 and rounded back;
//  - Bool: a 1-byte type, logical SUM/MAX = or, PRODUCT/MIN = and, BXOR;
//  - MIN and MAX on Float32/Float64, which must propagate NaN.
// Data-moving operations (send, broadcast, gathers, all_to_all) move bytes
// (MPI_BYTE) and need none of this.
//
// Thread safety: call from a thread allowed to call MPI (the engine, or a
// caller under MPI_THREAD_MULTIPLE); the types and ops are created once, on
// first use, and never freed.
#pragma once

#include <mpi.h>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"

namespace baton::backends::mpi {

// The MPI datatype a reduction over `dtype` uses (one element per item).
MPI_Datatype reduction_type(DType dtype);
// The MPI op for `op` on `dtype` (AVG gives the SUM op). The api layer has
// checked supports(op, dtype).
MPI_Op reduction_op(ReduceOp op, DType dtype);
// Whether reduction_op(op, dtype) is a user-defined op running Baton's kernel.
bool uses_baton_kernel(ReduceOp op, DType dtype);

}  // namespace baton::backends::mpi
