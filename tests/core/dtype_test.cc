#include "baton/dtype.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "baton/reduce_op.hpp"

namespace baton {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(element_size(DType::Float32), 4u);
  EXPECT_EQ(element_size(DType::Float64), 8u);
  EXPECT_EQ(element_size(DType::Float16), 2u);
  EXPECT_EQ(element_size(DType::BFloat16), 2u);
  EXPECT_EQ(element_size(DType::Int8), 1u);
  EXPECT_EQ(element_size(DType::UInt8), 1u);
  EXPECT_EQ(element_size(DType::Int32), 4u);
  EXPECT_EQ(element_size(DType::Int64), 8u);
  EXPECT_EQ(element_size(DType::Bool), 1u);
  EXPECT_EQ(dtype_name(DType::BFloat16), "bfloat16");
  EXPECT_EQ(std::size(kAllDTypes), 9u);
  for (DType d : kAllDTypes) {
    EXPECT_EQ(visit_dtype(d, []<class T>(T) { return sizeof(T); }), element_size(d)) << d;
    EXPECT_EQ(visit_dtype(d, []<class T>(T) { return dtype_of<T>; }), d);
  }
}

TEST(DType, HalfRoundTripsEveryPattern) {
  // Every finite half converts to float and back to the same bits.
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const auto bits = static_cast<uint16_t>(b);
    const float f = half_bits_to_float(bits);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(f)))) << b;
    } else {
      ASSERT_EQ(float_to_half_bits(f), bits) << "pattern " << b << " value " << f;
    }
  }
}

TEST(DType, HalfRoundsToNearestEven) {
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);        // largest finite
  EXPECT_EQ(float_to_half_bits(65519.0f), 0x7bff);        // below the midpoint
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00);        // tie rounds to even: infinity
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1p-11f), 0x3c00);  // tie between 1 and 1+2^-10: even (1)
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie: rounds up to even
  EXPECT_EQ(float_to_half_bits(0x1p-24f), 0x0001);        // smallest subnormal
  EXPECT_EQ(float_to_half_bits(0x1p-25f), 0x0000);        // tie with zero: even
  EXPECT_EQ(float_to_half_bits(0x1.8p-25f), 0x0001);      // above the tie
  EXPECT_EQ(float_to_half_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half_bits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(std::nanf("")))));
}

TEST(DType, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
  EXPECT_EQ(BFloat16(1.0f + 0x1p-8f).bits, 0x3f80);      // tie: even
  EXPECT_EQ(BFloat16(1.0f + 3 * 0x1p-8f).bits, 0x3f82);  // tie: up to even
  EXPECT_EQ(BFloat16(1.0f + 0x1.2p-8f).bits, 0x3f81);    // above the tie
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::nanf("")))));
}

TEST(ReduceOpNames, NamesAndSupport) {
  EXPECT_EQ(reduce_op_name(ReduceOp::PRODUCT), "PRODUCT");
  EXPECT_FALSE(supports(ReduceOp::BXOR, DType::Float32));
  EXPECT_FALSE(supports(ReduceOp::BAND, DType::BFloat16));
  EXPECT_TRUE(supports(ReduceOp::BOR, DType::Int8));
  EXPECT_TRUE(supports(ReduceOp::AVG, DType::Float16));
  EXPECT_FALSE(supports(ReduceOp::AVG, DType::Bool));
}

}  // namespace
}  // namespace baton
