// How the native backend names a collective in mismatch messages, e.g.
// "all_reduce #3 (float32, 1000 elements, SUM)" or "broadcast #2 (int32,
// 5 elements, root 1)". The transport is handed this function so that its
// MismatchError messages use the public API's names.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <string>

#include "transport/transport.hpp"

namespace baton::backends::native {

std::string describe_op(const transport::OpDesc& op, uint64_t seq);

}  // namespace baton::backends::native
