// The tutorial's average_gradients on a torch module: the parameters'
// gradients as baton views, averaged by the train layer's per-tensor version.
#include "baton/train/torch/average_gradients.hpp"

#include <string>
#include <vector>

#include "baton/train/average_gradients.hpp"
#include "baton/train/torch/tensor_view.hpp"

namespace baton::train {

void average_gradients(torch::nn::Module& module, const Group& group) {
  std::vector<Tensor> grads;
  for (const auto& item : module.named_parameters()) {
    const torch::Tensor& grad = item.value().grad();
    if (!grad.defined()) continue;
    try {
      grads.push_back(to_baton(grad));
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("average_gradients: parameter '" + item.key() + "': " + e.what());
    }
  }
  average_gradients(std::span<Tensor>(grads), group);
}

}  // namespace baton::train
