// at::Tensor and c10d::ReduceOp to Baton's types (see tensor_bridge.hpp).
#include "tensor_bridge.hpp"

#include <memory>
#include <sstream>
#include <string>

#include "baton/error.hpp"

namespace baton_torch {
namespace {

std::string prefix(std::string_view what) {
  return std::string(what) + " ";
}

// torch's Python name for the dtypes Baton lacks (c10::toString says "Short").
std::string python_name(at::ScalarType type) {
  switch (type) {
    case at::kShort: return "torch.int16";
    case at::kComplexHalf: return "torch.complex32";
    case at::kComplexFloat: return "torch.complex64";
    case at::kComplexDouble: return "torch.complex128";
    case at::kQInt8: return "torch.qint8";
    case at::kQUInt8: return "torch.quint8";
    case at::kQInt32: return "torch.qint32";
    default: return std::string(c10::toString(type));
  }
}

baton::DType to_baton_dtype(const at::Tensor& t, std::string_view what) {
  switch (t.scalar_type()) {
    case at::kFloat: return baton::DType::Float32;
    case at::kDouble: return baton::DType::Float64;
    case at::kHalf: return baton::DType::Float16;
    case at::kBFloat16: return baton::DType::BFloat16;
    case at::kChar: return baton::DType::Int8;
    case at::kByte: return baton::DType::UInt8;
    case at::kInt: return baton::DType::Int32;
    case at::kLong: return baton::DType::Int64;
    case at::kBool: return baton::DType::Bool;
    default: break;
  }
  throw baton::UnsupportedError(
      prefix(what) + "has dtype " + python_name(t.scalar_type()) +
      ", which the baton backend does not carry (float32, float64, float16, bfloat16, int8, "
      "uint8, int32, int64, bool)");
}

}  // namespace

baton::Tensor to_baton(const at::Tensor& tensor, std::string_view what) {
  if (!tensor.defined()) throw baton::InvalidArgument(prefix(what) + "is undefined");
  if (tensor.layout() != at::kStrided) {
    std::ostringstream layout;
    layout << tensor.layout();
    throw baton::InvalidArgument(prefix(what) + "has layout " + layout.str() +
                                 "; the baton backend takes dense tensors");
  }
  if (!tensor.device().is_cpu()) {
    throw baton::UnsupportedError(prefix(what) + "is on " + tensor.device().str() +
                                  "; the baton backend takes CPU tensors only");
  }
  if (!tensor.is_contiguous()) {
    std::ostringstream shape;
    shape << "sizes " << tensor.sizes() << ", strides " << tensor.strides();
    throw baton::InvalidArgument(
        prefix(what) + "is not contiguous (" + shape.str() +
        "); the baton backend takes contiguous tensors (call .contiguous())");
  }
  const baton::DType dtype = to_baton_dtype(tensor, what);
  auto owner = std::make_shared<const at::Tensor>(tensor);
  return baton::Tensor::from_blob(tensor.data_ptr(), tensor.sizes().vec(), dtype,
                                  baton::Device::cpu(), std::move(owner));
}

std::vector<baton::Tensor> to_baton(const std::vector<at::Tensor>& tensors, std::string_view what) {
  std::vector<baton::Tensor> out;
  out.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.push_back(to_baton(tensors[i], std::string(what) + " " + std::to_string(i)));
  }
  return out;
}

baton::ReduceOp to_baton(const c10d::ReduceOp& op) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return baton::ReduceOp::SUM;
    case c10d::ReduceOp::AVG: return baton::ReduceOp::AVG;
    case c10d::ReduceOp::PRODUCT: return baton::ReduceOp::PRODUCT;
    case c10d::ReduceOp::MIN: return baton::ReduceOp::MIN;
    case c10d::ReduceOp::MAX: return baton::ReduceOp::MAX;
    case c10d::ReduceOp::BAND: return baton::ReduceOp::BAND;
    case c10d::ReduceOp::BOR: return baton::ReduceOp::BOR;
    case c10d::ReduceOp::BXOR: return baton::ReduceOp::BXOR;
    case c10d::ReduceOp::PREMUL_SUM:
      throw baton::UnsupportedError(
          "ReduceOp.PREMUL_SUM is NCCL's and not supported by the "
          "baton backend (scale the tensor, then use SUM)");
    default: break;
  }
  throw baton::UnsupportedError("unknown ReduceOp " + std::to_string(static_cast<int>(op.op_)));
}

}  // namespace baton_torch
