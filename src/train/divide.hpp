// divide_by_group_size: the "/= size" of gradient averaging.
//
// Float32 and Float64 divide in their own precision (the same result as
// torch's grad /= size); the 16-bit floats and integers go through
// Tensor::operator/= (integers truncate toward zero).
//
// Thread safety: writes the tensor's elements; no other state.
#pragma once

#include "baton/tensor.hpp"

namespace baton::train {

// Errors: InvalidArgument for a Bool tensor.
void divide_by_group_size(Tensor& tensor, int group_size);

}  // namespace baton::train
