// average_gradients: one blocking all_reduce(SUM) per tensor, then / size.
#include "baton/train/average_gradients.hpp"

#include <string>

#include "baton/error.hpp"
#include "train/divide.hpp"

namespace baton::train {

void average_gradients(std::span<Tensor> grads, const Group& group) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || grads[i].dtype() == DType::Bool) {
      throw InvalidArgument("average_gradients: tensor " + std::to_string(i) +
                            (grads[i].defined() ? " is bool; expected a numeric gradient"
                                                : " is undefined; expected a gradient"));
    }
  }
  const int size = group.size();
  for (Tensor& grad : grads) {
    all_reduce(grad, ReduceOp::SUM, group);
    divide_by_group_size(grad, size);
  }
}

}  // namespace baton::train
