// Zero-copy views between torch::Tensor and baton::Tensor: every dtype both
// ways, shared memory, and the errors for what cannot be viewed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "baton/train/torch/tensor_view.hpp"

namespace baton::train {
namespace {

TEST(TorchTensorView, EveryDTypeMapsBothWays) {
  const DType all[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8,
                       DType::UInt8,   DType::Int32,   DType::Int64,   DType::Bool};
  for (DType dtype : all) {
    EXPECT_EQ(dtype_from_torch(dtype_to_torch(dtype)), dtype) << dtype_name(dtype);
    torch::Tensor t = torch::zeros({2, 3}, torch::TensorOptions().dtype(dtype_to_torch(dtype)));
    Tensor view = to_baton(t);
    EXPECT_EQ(view.dtype(), dtype);
    EXPECT_EQ(view.shape(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(view.data_ptr(), t.data_ptr());
    EXPECT_EQ(view.nbytes(), t.nbytes());
  }
}

TEST(TorchTensorView, WritesThroughTheViewReachTheTorchTensor) {
  torch::Tensor t = torch::zeros({4});
  Tensor view = to_baton(t);
  view.fill_(2.5);
  EXPECT_EQ(t.sum().item<float>(), 10.0f);

  Tensor owned = Tensor::full({3}, 1.5, DType::Float64);
  torch::Tensor back = to_torch(owned);
  EXPECT_EQ(back.scalar_type(), torch::kFloat64);
  back.mul_(2);
  EXPECT_EQ(owned.data<double>()[2], 3.0);
}

TEST(TorchTensorView, RejectsWhatCannotBeViewed) {
  EXPECT_THROW(to_baton(torch::Tensor()), InvalidArgument);
  torch::Tensor wide = torch::zeros({3, 4});
  try {
    to_baton(wide.t());
    FAIL() << "a transposed tensor must not be viewed";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not contiguous"), std::string::npos) << e.what();
  }
  try {
    to_baton(torch::zeros({2}, torch::kComplexFloat));
    FAIL() << "complex has no baton dtype";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("ComplexFloat"), std::string::npos) << e.what();
  }
  EXPECT_THROW(to_torch(Tensor()), InvalidArgument);
}

}  // namespace
}  // namespace baton::train
