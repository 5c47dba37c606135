// Zero-copy views between LibTorch's torch::Tensor and baton::Tensor.
//
// to_baton(t) wraps the memory of a contiguous torch tensor without copying,
// so a collective on the view writes straight into the torch tensor (this is
// how average_gradients and DistributedDataParallel reduce gradients in
// place). to_torch(t) does the reverse. A view does not keep its source
// alive: keep the source tensor for as long as the view is used.
//
// Built only when LibTorch is found (target baton::torch).
//
// Thread safety: pure functions; the views follow tensor.hpp's rules.
#pragma once

#include <torch/torch.h>

#include "baton/tensor.hpp"

namespace baton::train {

// The baton dtype of a torch scalar type. Throws InvalidArgument naming the
// torch type for types Baton lacks (complex, quantized, ...).
DType dtype_from_torch(c10::ScalarType type);
// The torch scalar type of a baton dtype (every baton dtype has one).
c10::ScalarType dtype_to_torch(DType dtype);

// A baton view of `tensor`'s elements, same shape. Does not block. Throws
// InvalidArgument for an undefined or non-contiguous tensor, a sparse one, or
// a device other than the CPU or CUDA.
Tensor to_baton(const torch::Tensor& tensor);

// A torch view of `tensor`'s elements, same shape. Does not block. Throws
// InvalidArgument for an undefined tensor.
torch::Tensor to_torch(const Tensor& tensor);

}  // namespace baton::train
