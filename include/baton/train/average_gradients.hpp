// average_gradients: the tutorial's hand-written gradient averaging.
//
// For each tensor in turn: all_reduce(SUM) over the group, then divide by the
// group's size, exactly as the tutorial's Python average_gradients(model)
// does for each param.grad. One blocking collective per tensor; see
// gradient_bucketer.hpp for the bucketed, overlapped version DDP uses.
//
// Thread safety: as the collectives (distributed.hpp): every rank must call
// it with the same tensors (count, sizes, dtypes) in the same order.
#pragma once

#include <span>

#include "baton/distributed.hpp"
#include "baton/group.hpp"
#include "baton/tensor.hpp"

namespace baton::train {

// Averages every tensor over the group, in place. Blocks until the last
// all_reduce completes; each is bounded by the group's timeout. Integer
// tensors truncate toward zero when divided. Errors: InvalidArgument for an
// undefined or Bool tensor (naming its index) and the collectives' errors
// (MismatchError, ConnectionError, TimeoutError).
void average_gradients(std::span<Tensor> grads, const Group& group = world());

}  // namespace baton::train
