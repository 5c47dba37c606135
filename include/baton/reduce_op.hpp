// ReduceOp: the element-wise reductions of collectives.
//
// AVG is SUM followed by a division by the number of contributors (integer
// types divide with truncation toward zero). BAND, BOR and BXOR apply to
// integer and Bool tensors only; on floating-point tensors they are an
// InvalidArgument, and so is AVG on Bool tensors. For Bool, SUM and MAX are
// logical or, PRODUCT and MIN logical and.
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <ostream>
#include <string_view>

#include "baton/dtype.hpp"

namespace baton {

enum class ReduceOp { SUM, PRODUCT, MIN, MAX, AVG, BAND, BOR, BXOR };

inline constexpr ReduceOp kAllReduceOps[] = {ReduceOp::SUM,  ReduceOp::PRODUCT, ReduceOp::MIN,
                                             ReduceOp::MAX,  ReduceOp::AVG,     ReduceOp::BAND,
                                             ReduceOp::BOR,  ReduceOp::BXOR};

// "SUM", "PRODUCT", ...
std::string_view reduce_op_name(ReduceOp op);
std::ostream& operator<<(std::ostream& os, ReduceOp op);
// Whether op is defined on dtype (bitwise ops are not defined on floats).
bool supports(ReduceOp op, DType dtype);

}  // namespace baton
