// The bridge between torch's types and Baton's: at::Tensor -> baton::Tensor
// views, c10d::ReduceOp -> baton::ReduceOp.
//
// A baton::Tensor made here is a view of the at::Tensor's memory that holds
// a reference to the at::Tensor (Tensor::from_blob with an owner): a pending
// operation keeps the memory alive however early Python drops its tensor or
// its Work. Only dense, contiguous CPU tensors of Baton's nine dtypes are
// accepted; anything else is a baton::InvalidArgument (UnsupportedError for
// a dtype or device Baton lacks) naming the tensor and what it was, before
// anything is sent. (ProcessGroupBaton puts the operation and group in
// front: error_context.hpp.)
//
// Thread safety: pure functions; call them from any thread.
#pragma once

#include <ATen/ATen.h>

#include <string_view>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <vector>

#include "baton/reduce_op.hpp"
#include "baton/tensor.hpp"

namespace baton_torch {

// `what` ("tensor", "output", "input 2") names the tensor in errors.
baton::Tensor to_baton(const at::Tensor& tensor, std::string_view what);
// Entry i is named "<what> i".
std::vector<baton::Tensor> to_baton(const std::vector<at::Tensor>& tensors, std::string_view what);

// PREMUL_SUM (NCCL's) and unknown ops: baton::UnsupportedError.
baton::ReduceOp to_baton(const c10d::ReduceOp& op);

}  // namespace baton_torch
