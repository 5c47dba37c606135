// The tutorial's network (see net.hpp).
#include "net.hpp"

namespace mnist {

NetImpl::NetImpl(bool dropout) : dropout_p(dropout ? 0.5 : 0.0) {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 10, 5)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(10, 20, 5)));
  conv2_drop = register_module("conv2_drop", torch::nn::Dropout2d(dropout_p));
  fc1 = register_module("fc1", torch::nn::Linear(320, 50));
  fc2 = register_module("fc2", torch::nn::Linear(50, 10));
}

torch::Tensor NetImpl::forward(torch::Tensor x) {
  x = torch::relu(torch::max_pool2d(conv1->forward(x), 2));
  x = torch::relu(torch::max_pool2d(conv2_drop->forward(conv2->forward(x)), 2));
  x = x.view({-1, 320});
  x = torch::relu(fc1->forward(x));
  x = torch::dropout(x, dropout_p, is_training());
  x = fc2->forward(x);
  return torch::log_softmax(x, 1);
}

}  // namespace mnist
