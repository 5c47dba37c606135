#include "baton/tensor.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <sstream>

namespace baton {
namespace {

TEST(Tensor, FactoriesFillEveryDType) {
  for (DType d : kAllDTypes) {
    Tensor z = Tensor::zeros({2, 3}, d);
    Tensor o = Tensor::ones({2, 3}, d);
    Tensor f = Tensor::full({4}, 5, d);
    EXPECT_EQ(z.numel(), 6);
    EXPECT_EQ(z.nbytes(), 6 * element_size(d));
    EXPECT_EQ(z.dtype(), d);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(z.data_ptr()) % 64, 0u) << "64-byte aligned";
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(z.item(i), 0.0) << dtype_name(d);
      EXPECT_EQ(o.item(i), 1.0) << dtype_name(d);
    }
    EXPECT_EQ(f.item(3), d == DType::Bool ? 1.0 : 5.0) << dtype_name(d);
  }
}

TEST(Tensor, UndefinedAndEmpty) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_EQ(u.numel(), 0);
  EXPECT_THROW(u.clone(), InvalidArgument);
  Tensor e = Tensor::empty({0});
  EXPECT_TRUE(e.defined());
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes(), 0u);
  EXPECT_EQ(e.clone().numel(), 0);
  Tensor scalar = Tensor::full({}, 7);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.item(), 7.0);
}

TEST(Tensor, BadShapesAndDevices) {
  EXPECT_THROW(Tensor::empty({2, -1}), InvalidArgument);
  EXPECT_THROW(Tensor::empty({1LL << 40, 1LL << 40}), InvalidArgument);
  EXPECT_THROW(Tensor::from_blob(nullptr, {3}, DType::Float32), InvalidArgument);
  EXPECT_THROW(Device::cuda(-1), InvalidArgument);
  EXPECT_THROW(Tensor::zeros({3}, DType::Float32, Device::cuda(0)), UnsupportedError);
}

TEST(Tensor, DataSpanChecksType) {
  Tensor t = Tensor::ones({3}, DType::Int32);
  std::span<int32_t> s = t.data<int32_t>();
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s[2], 1);
  EXPECT_THROW(t.data<float>(), InvalidArgument);
  try {
    t.data<int64_t>();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "Tensor::data<T>: T is int64 but the tensor holds int32");
  }
  Tensor h = Tensor::full({2}, 1.5, DType::Float16);
  EXPECT_EQ(static_cast<float>(h.data<Half>()[1]), 1.5f);
}

TEST(Tensor, FromBlobIsAViewOfUserMemory) {
  std::vector<double> memory = {1, 2, 3, 4};
  Tensor t = Tensor::from_blob(memory.data(), {2, 2}, DType::Float64);
  t.fill_(9);
  EXPECT_EQ(memory[3], 9.0);
  memory[0] = -1;
  EXPECT_EQ(t.item(0), -1.0);
  EXPECT_EQ(t.data_ptr(), memory.data());
}

TEST(Tensor, CopiesShareNarrowAndChunkAreViews) {
  Tensor t = Tensor::zeros({10}, DType::Int64);
  auto v = t.data<int64_t>();
  std::iota(v.begin(), v.end(), 0);
  Tensor alias = t;
  alias.fill_(0);
  EXPECT_EQ(t.item(9), 0.0) << "handles share memory";
  std::iota(v.begin(), v.end(), 0);

  Tensor mid = t.narrow(3, 4);
  EXPECT_EQ(mid.numel(), 4);
  EXPECT_EQ(mid.item(0), 3.0);
  mid.fill_(-1);
  EXPECT_EQ(t.item(6), -1.0);
  EXPECT_EQ(t.item(7), 7.0);
  EXPECT_THROW(t.narrow(8, 3), InvalidArgument);
  EXPECT_THROW(t.narrow(-1, 1), InvalidArgument);
  EXPECT_EQ(t.narrow(10, 0).numel(), 0);

  // torch.chunk(arange(10), 4) -> sizes 3, 3, 3, 1
  std::vector<Tensor> c = t.chunk(4);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].numel(), 3);
  EXPECT_EQ(c[3].numel(), 1);
  EXPECT_EQ(c[3].item(0), 9.0);
  // torch.chunk(arange(10), 6) -> sizes 2 x 5: fewer chunks than asked
  EXPECT_EQ(t.chunk(6).size(), 5u);
  EXPECT_EQ(t.chunk(20).size(), 10u);
  EXPECT_THROW(t.chunk(0), InvalidArgument);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::full({5}, 2);
  Tensor c = t.clone();
  c.fill_(3);
  EXPECT_EQ(t.item(4), 2.0);
  EXPECT_EQ(c.item(4), 3.0);
  EXPECT_NE(t.data_ptr(), c.data_ptr());
}

TEST(Tensor, CopyConvertsDTypeAndChecksSize) {
  Tensor f = Tensor::full({4}, 2.75, DType::Float32);
  Tensor i = Tensor::zeros({4}, DType::Int32);
  i.copy_(f);
  EXPECT_EQ(i.item(1), 2.0) << "truncates toward zero";
  Tensor h = Tensor::zeros({4}, DType::BFloat16);
  h.copy_(f);
  EXPECT_EQ(h.item(0), 2.75);
  Tensor l = Tensor::zeros({1}, DType::Int64);
  l.data<int64_t>()[0] = (int64_t{1} << 62) + 1;
  Tensor l2 = Tensor::zeros({1}, DType::Int64);
  l2.copy_(l);
  EXPECT_EQ(l2.data<int64_t>()[0], (int64_t{1} << 62) + 1) << "int64 copies exactly";
  Tensor small = Tensor::zeros({3});
  try {
    small.copy_(f);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "Tensor::copy_: source has 4 elements, destination has 3");
  }
  Tensor overflow = Tensor::full({1}, 300.0);
  Tensor i8 = Tensor::zeros({1}, DType::Int8);
  EXPECT_THROW(i8.copy_(overflow), InvalidArgument);
}

TEST(Tensor, FillRejectsOutOfRange) {
  Tensor u8 = Tensor::zeros({2}, DType::UInt8);
  EXPECT_THROW(u8.fill_(256), InvalidArgument);
  EXPECT_THROW(u8.fill_(-1), InvalidArgument);
  u8.fill_(255);
  EXPECT_EQ(u8.item(1), 255.0);
  Tensor i64 = Tensor::zeros({1}, DType::Int64);
  EXPECT_THROW(i64.fill_(0x1p63), InvalidArgument);
  i64.fill_(-0x1p63);
  EXPECT_EQ(i64.data<int64_t>()[0], std::numeric_limits<int64_t>::min());
}

TEST(Tensor, AddAndDivide) {
  Tensor a = Tensor::full({1000}, 1.5);
  Tensor b = Tensor::full({1000}, 2.0);
  a += b;
  EXPECT_EQ(a.item(999), 3.5);
  a /= 2;
  EXPECT_EQ(a.item(0), 1.75);
  Tensor i = Tensor::full({3}, -7, DType::Int32);
  i /= 2;
  EXPECT_EQ(i.item(2), -3.0) << "integers truncate toward zero";
  EXPECT_THROW(i /= 0, InvalidArgument);
  EXPECT_THROW(i /= 1.5, InvalidArgument);
  Tensor flags = Tensor::ones({2}, DType::Bool);
  EXPECT_THROW(flags /= 2, InvalidArgument);
  Tensor wrong = Tensor::ones({1000}, DType::Float64);
  EXPECT_THROW(a += wrong, InvalidArgument);
  Tensor h = Tensor::full({3}, 0.1, DType::Float16);
  h += Tensor::full({3}, 0.2, DType::Float16);
  EXPECT_EQ(h.data<Half>()[0].bits, Half(static_cast<float>(Half(0.1f)) + static_cast<float>(Half(0.2f))).bits);
}

TEST(Tensor, PrintsLikeTorch) {
  EXPECT_EQ(Tensor::ones({3}).str(), "tensor([1., 1., 1.])");
  EXPECT_EQ(Tensor::full({2}, 1.5, DType::Float64).str(), "tensor([1.5000, 1.5000], dtype=float64)");
  EXPECT_EQ(Tensor::full({2, 2}, 3, DType::Int32).str(), "tensor([[3, 3], [3, 3]], dtype=int32)");
  EXPECT_EQ(Tensor::ones({2}, DType::Bool).str(), "tensor([True, True])");
  EXPECT_EQ(Tensor::full({}, 4, DType::Int64).str(), "tensor(4)");
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
  Tensor big = Tensor::zeros({2000}, DType::Int64);
  auto v = big.data<int64_t>();
  std::iota(v.begin(), v.end(), 0);
  EXPECT_EQ(big.str(), "tensor([0, 1, 2, ..., 1997, 1998, 1999])");
  std::ostringstream os;
  os << Tensor::zeros({1});
  EXPECT_EQ(os.str(), "tensor([0.])");
}

}  // namespace
}  // namespace baton
