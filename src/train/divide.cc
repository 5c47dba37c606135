#include "train/divide.hpp"

#include <cstddef>

namespace baton::train {
namespace {

template <class T>
void divide(Tensor& tensor, int group_size) {
  T* data = static_cast<T*>(tensor.data_ptr());
  const T divisor = static_cast<T>(group_size);
  const size_t n = static_cast<size_t>(tensor.numel());
  for (size_t i = 0; i < n; ++i) data[i] /= divisor;
}

}  // namespace

void divide_by_group_size(Tensor& tensor, int group_size) {
  if (group_size == 1 && tensor.dtype() != DType::Bool) return;
  switch (tensor.dtype()) {
    case DType::Float32: divide<float>(tensor, group_size); return;
    case DType::Float64: divide<double>(tensor, group_size); return;
    default: tensor /= static_cast<double>(group_size); return;
  }
}

}  // namespace baton::train
