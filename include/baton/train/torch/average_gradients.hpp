// average_gradients(module): the tutorial's function on a torch module.
//
//   def average_gradients(model):
//       size = float(dist.get_world_size())
//       for param in model.parameters():
//           dist.all_reduce(param.grad.data, op=dist.ReduceOp.SUM)
//           param.grad.data /= size
//
// Each gradient is reduced in place through a zero-copy view, one blocking
// all_reduce per parameter, in parameter order. Parameters without a
// gradient (frozen, or unused in this backward pass) are skipped, so every
// rank must have gradients for the same parameters.
//
// Built only when LibTorch is found (target baton::torch).
//
// Thread safety: as the collectives: every rank calls it with the same model
// structure, from one thread at a time per group.
#pragma once

#include <torch/torch.h>

#include "baton/distributed.hpp"
#include "baton/group.hpp"

namespace baton::train {

// Averages every parameter's gradient over the group. Blocks until the last
// all_reduce completes, each bounded by the group's timeout. Errors:
// InvalidArgument for a non-contiguous or unsupported gradient (naming the
// parameter); the collectives' errors (MismatchError when ranks' models
// differ, ConnectionError, TimeoutError).
void average_gradients(torch::nn::Module& module, const Group& group = world());

}  // namespace baton::train
