// The tutorial's network: PyTorch's MNIST example model.
//
//   conv1 (1 -> 10, 5x5) -> max_pool 2 -> relu
//   conv2 (10 -> 20, 5x5) -> dropout2d -> max_pool 2 -> relu
//   flatten (320) -> fc1 (50) -> relu -> dropout -> fc2 (10) -> log_softmax
//
// Input: float [N, 1, 28, 28]; output: log-probabilities [N, 10].
// `dropout` false builds the same network with both dropouts off (p = 0),
// for tests that compare runs exactly.
//
// Thread safety: a torch module; one forward/backward at a time.
#pragma once

#include <torch/torch.h>

namespace mnist {

struct NetImpl : torch::nn::Module {
  explicit NetImpl(bool dropout = true);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::Dropout2d conv2_drop{nullptr};
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
  double dropout_p;
};
TORCH_MODULE(Net);

}  // namespace mnist
