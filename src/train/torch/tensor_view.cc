// Zero-copy views between torch::Tensor and baton::Tensor.
#include "baton/train/torch/tensor_view.hpp"

#include <string>
#include <vector>

namespace baton::train {

DType dtype_from_torch(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return DType::Float32;
    case c10::ScalarType::Double: return DType::Float64;
    case c10::ScalarType::Half: return DType::Float16;
    case c10::ScalarType::BFloat16: return DType::BFloat16;
    case c10::ScalarType::Char: return DType::Int8;
    case c10::ScalarType::Byte: return DType::UInt8;
    case c10::ScalarType::Int: return DType::Int32;
    case c10::ScalarType::Long: return DType::Int64;
    case c10::ScalarType::Bool: return DType::Bool;
    default:
      throw InvalidArgument(std::string("torch dtype ") + c10::toString(type) +
                            " has no baton equivalent; expected one of float32, float64, "
                            "float16, bfloat16, int8, uint8, int32, int64, bool");
  }
}

c10::ScalarType dtype_to_torch(DType dtype) {
  switch (dtype) {
    case DType::Float32: return c10::ScalarType::Float;
    case DType::Float64: return c10::ScalarType::Double;
    case DType::Float16: return c10::ScalarType::Half;
    case DType::BFloat16: return c10::ScalarType::BFloat16;
    case DType::Int8: return c10::ScalarType::Char;
    case DType::UInt8: return c10::ScalarType::Byte;
    case DType::Int32: return c10::ScalarType::Int;
    case DType::Int64: return c10::ScalarType::Long;
    case DType::Bool: return c10::ScalarType::Bool;
  }
  throw InvalidArgument("unknown baton dtype " + std::to_string(static_cast<int>(dtype)));
}

Tensor to_baton(const torch::Tensor& tensor) {
  if (!tensor.defined()) throw InvalidArgument("to_baton: the torch tensor is undefined");
  if (tensor.is_sparse()) throw InvalidArgument("to_baton: sparse tensors are not supported");
  if (!tensor.is_contiguous()) {
    throw InvalidArgument("to_baton: the torch tensor is not contiguous (strides " +
                          c10::str(tensor.strides()) + "); call .contiguous() first");
  }
  Device device;
  if (tensor.is_cuda()) {
    device = Device::cuda(static_cast<int>(tensor.get_device()));
  } else if (!tensor.is_cpu()) {
    throw InvalidArgument("to_baton: tensors on " + c10::str(tensor.device()) +
                          " are not supported; expected cpu or cuda");
  }
  const DType dtype = dtype_from_torch(tensor.scalar_type());
  std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  return Tensor::from_blob(tensor.data_ptr(), std::move(shape), dtype, device);
}

torch::Tensor to_torch(const Tensor& tensor) {
  if (!tensor.defined()) throw InvalidArgument("to_torch: the baton tensor is undefined");
  auto options = torch::TensorOptions().dtype(dtype_to_torch(tensor.dtype()));
  if (tensor.device().is_cuda()) {
    options = options.device(torch::kCUDA, static_cast<c10::DeviceIndex>(tensor.device().index()));
  }
  return torch::from_blob(tensor.data_ptr(), tensor.shape(), options);
}

}  // namespace baton::train
