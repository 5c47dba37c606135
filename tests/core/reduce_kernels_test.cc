// Tests of the reduction kernels: every dtype x op on both code paths, with
// element counts that hit the vector body and the tail, SIMD-unaligned
// pointers, rounding of Float16/BFloat16, NaN, wraparound, AVG's divide, and
// the argument checks.
#include "core/reduce_kernels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "baton/error.hpp"

namespace baton::kernels {
namespace {

constexpr size_t kCounts[] = {0, 1, 3, 17, 1000, size_t{1} << 20};
constexpr Isa kIsas[] = {Isa::kPortable, Isa::kAvx2};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <class T>
constexpr bool kIsHalf = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <class T>
double to_double(T v) {
  if constexpr (kIsHalf<T>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

template <class T>
T from_int(int64_t v) {
  if constexpr (kIsHalf<T>) {
    return T(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else {
    return static_cast<T>(v);
  }
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Independent scalar reference of the documented semantics. Integers in 64-bit
// arithmetic converted back modulo 2^n; halves in float then rounded once.
template <class T>
T reference(ReduceOp op, T a, T b) {
  if constexpr (kIsHalf<T>) {
    return T(reference(op, static_cast<float>(a), static_cast<float>(b)));
  } else if constexpr (std::is_same_v<T, bool>) {
    switch (op) {
      case ReduceOp::SUM: case ReduceOp::AVG: case ReduceOp::MAX: case ReduceOp::BOR: return a || b;
      case ReduceOp::PRODUCT: case ReduceOp::MIN: case ReduceOp::BAND: return a && b;
      case ReduceOp::BXOR: return a != b;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case ReduceOp::SUM: case ReduceOp::AVG: return a + b;
      case ReduceOp::PRODUCT: return a * b;
      case ReduceOp::MIN: return std::isnan(a) || std::isnan(b) ? std::numeric_limits<T>::quiet_NaN() : std::min(a, b);
      case ReduceOp::MAX: return std::isnan(a) || std::isnan(b) ? std::numeric_limits<T>::quiet_NaN() : std::max(a, b);
      default: break;
    }
  } else {
    const auto ua = static_cast<uint64_t>(static_cast<int64_t>(a));
    const auto ub = static_cast<uint64_t>(static_cast<int64_t>(b));
    switch (op) {
      case ReduceOp::SUM: case ReduceOp::AVG: return static_cast<T>(ua + ub);
      case ReduceOp::PRODUCT: return static_cast<T>(ua * ub);
      case ReduceOp::MIN: return std::min(a, b);
      case ReduceOp::MAX: return std::max(a, b);
      case ReduceOp::BAND: return static_cast<T>(ua & ub);
      case ReduceOp::BOR: return static_cast<T>(ua | ub);
      case ReduceOp::BXOR: return static_cast<T>(ua ^ ub);
    }
  }
  ADD_FAILURE() << "no reference for " << op;
  return T{};
}

// Rank k's element i: small integers (exact in every dtype and in every
// result of two of them), signed where the dtype is, varied so that each op
// sees both orders.
template <class T>
T value(size_t k, size_t i) {
  const auto x = static_cast<int64_t>((i * 7 + k * 5 + 3) % 23);
  if constexpr (std::is_same_v<T, bool>) return from_int<T>((i + k) % 3 == 0);
  if constexpr (std::is_same_v<T, uint8_t>) return from_int<T>(x);
  return from_int<T>(x - 11);
}

// A zero-filled array of T (std::vector<bool> has no data()).
template <class T>
class Buffer {
 public:
  explicit Buffer(size_t size) : data_(std::make_unique<T[]>(size)) {}
  T* data() { return data_.get(); }
  T& operator[](size_t i) { return data_[i]; }

 private:
  std::unique_ptr<T[]> data_;
};

template <class T>
void expect_equal(const T* actual, const std::vector<T>& expected, const std::string& what) {
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!same_bits(actual[i], expected[i])) {
      ADD_FAILURE() << what << ": index " << i << " expected " << to_double(expected[i])
                    << " got " << to_double(actual[i]);
      return;
    }
  }
}

class EveryDtypeOp : public ::testing::TestWithParam<std::tuple<DType, ReduceOp, Isa>> {};

template <class T>
void check_every_count(ReduceOp op, DType dtype) {
  for (size_t count : kCounts) {
    for (size_t offset : {size_t{0}, size_t{1}}) {  // 1: not SIMD-aligned
      const std::string where = "count " + std::to_string(count) + " offset " + std::to_string(offset);
      // reduce_into
      Buffer<T> a(count + 1), b(count + 1);
      std::vector<T> want(count);
      for (size_t i = 0; i < count; ++i) {
        a[i + offset] = value<T>(0, i);
        b[i + offset] = value<T>(1, i);
        want[i] = reference(op, value<T>(0, i), value<T>(1, i));
      }
      reduce_into(op, dtype, a.data() + offset, b.data() + offset, count);
      expect_equal(a.data() + offset, want, "reduce_into " + where);

      // reduce_n over 1, 2, 3 and 5 inputs (only 3 at the largest count, to
      // keep the test fast), into a separate buffer and in place.
      for (size_t n : {1u, 2u, 3u, 5u}) {
        if (count > 1000 && n != 3) continue;
        std::vector<Buffer<T>> in;
        for (size_t k = 0; k < n; ++k) in.emplace_back(count + 1);
        std::vector<const void*> ptrs;
        for (size_t k = 0; k < n; ++k) {
          for (size_t i = 0; i < count; ++i) in[k][i + offset] = value<T>(k, i);
          ptrs.push_back(in[k].data() + offset);
        }
        std::vector<T> expected(count);
        for (size_t i = 0; i < count; ++i) {
          T acc = value<T>(0, i);
          for (size_t k = 1; k < n; ++k) acc = reference(op, acc, value<T>(k, i));
          expected[i] = acc;
        }
        Buffer<T> out(count + 1);
        reduce_n(op, dtype, out.data() + offset, ptrs, count);
        expect_equal(out.data() + offset, expected, "reduce_n " + std::to_string(n) + " " + where);
        reduce_n(op, dtype, in[0].data() + offset, ptrs, count);
        expect_equal(in[0].data() + offset, expected, "reduce_n in place " + std::to_string(n) + " " + where);
      }
      if (count > 1000) break;  // one alignment is enough for the largest count
    }
  }
}

TEST_P(EveryDtypeOp, MatchesReference) {
  const DType dtype = std::get<0>(GetParam());
  const ReduceOp op = std::get<1>(GetParam());
  const Isa isa = std::get<2>(GetParam());
  const ScopedIsaOverride path(isa);
  if (!supports(op, dtype)) {
    float x[2] = {1, 2};
    const void* inputs[] = {x, x + 1};
    const std::string msg = std::string(reduce_op_name(op)) + " is not defined for " +
                            std::string(dtype_name(dtype)) + " tensors";
    try {
      reduce_into(op, dtype, x, x + 1, 0);  // checked even for zero elements
      ADD_FAILURE() << "no exception";
    } catch (const InvalidArgument& e) {
      EXPECT_EQ(e.what(), msg);
    }
    EXPECT_THROW(reduce_n(op, dtype, x, inputs, 1), InvalidArgument);
    EXPECT_EQ(x[0], 1.0f);
    return;
  }
  visit_dtype(dtype, [&]<class T>(T) { check_every_count<T>(op, dtype); });
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, EveryDtypeOp,
    ::testing::Combine(::testing::ValuesIn(kAllDTypes), ::testing::ValuesIn(kAllReduceOps),
                       ::testing::ValuesIn(kIsas)),
    [](const auto& test) {
      return std::string(dtype_name(std::get<0>(test.param))) + "_" +
             std::string(reduce_op_name(std::get<1>(test.param))) + "_" +
             std::string(isa_name(std::get<2>(test.param)));
    });

TEST(ReduceKernels, BitwiseOnFloatsIsInvalidArgument) {
  const DType floats[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  double buf[4] = {};
  for (DType d : floats) {
    for (ReduceOp op : {ReduceOp::BAND, ReduceOp::BOR, ReduceOp::BXOR}) {
      EXPECT_THROW(reduce_into(op, d, buf, buf + 2, 1), InvalidArgument) << op << " " << d;
    }
  }
  try {
    reduce_into(ReduceOp::BAND, DType::Float32, buf, buf + 2, 1);
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "BAND is not defined for float32 tensors");
  }
}

// Sums whose exact value lies halfway between two representable values round
// to the even one; reduce_n rounds once after accumulating in float32.
TEST(ReduceKernels, HalfTypesRoundToNearestEven) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    // Float16 spacing at 2048 is 2: 2048+1 ties to 2048, 2050+1 ties to 2052.
    std::vector<Half> h = {Half(2048.0f), Half(2050.0f), Half(1.0f), Half(-2050.0f)};
    std::vector<Half> one = {Half(1.0f), Half(1.0f), Half(2.0f), Half(-1.0f)};
    reduce_into(ReduceOp::SUM, DType::Float16, h.data(), one.data(), h.size());
    EXPECT_EQ(static_cast<float>(h[0]), 2048.0f) << isa_name(isa);
    EXPECT_EQ(static_cast<float>(h[1]), 2052.0f);
    EXPECT_EQ(static_cast<float>(h[2]), 3.0f);
    EXPECT_EQ(static_cast<float>(h[3]), -2052.0f);
    // BFloat16 spacing at 256 is 2: 256+1 ties to 256, 258+1 ties to 260.
    std::vector<BFloat16> b = {BFloat16(256.0f), BFloat16(258.0f)};
    std::vector<BFloat16> bone = {BFloat16(1.0f), BFloat16(1.0f)};
    reduce_into(ReduceOp::SUM, DType::BFloat16, b.data(), bone.data(), b.size());
    EXPECT_EQ(static_cast<float>(b[0]), 256.0f);
    EXPECT_EQ(static_cast<float>(b[1]), 260.0f);

    // 2048 + 1 + 1: one rounding gives 2050; rounding after each step would give 2048.
    const Half big(2048.0f), unit(1.0f);
    const void* halves[] = {&big, &unit, &unit};
    Half out;
    reduce_n(ReduceOp::SUM, DType::Float16, &out, halves, 1);
    EXPECT_EQ(static_cast<float>(out), 2050.0f);
    const BFloat16 bbig(256.0f), bunit(1.0f);
    const void* bfs[] = {&bbig, &bunit, &bunit, &bunit, &bunit};
    BFloat16 bout;
    reduce_n(ReduceOp::SUM, DType::BFloat16, &bout, bfs, 1);
    EXPECT_EQ(static_cast<float>(bout), 260.0f);
    // Overflow rounds to infinity.
    Half max(65504.0f);
    const Half more(16.0f);
    reduce_into(ReduceOp::SUM, DType::Float16, &max, &more, 1);
    EXPECT_EQ(static_cast<float>(max), kInf);
  }
}

// The AVX2/F16C path and the portable path agree bit for bit (NaN: both NaN)
// on every Float16 pattern and on random BFloat16 pairs, and match rounding
// float32 results with dtype.hpp's scalar conversions.
TEST(ReduceKernels, HalfPathsAgreeOnEveryPattern) {
  std::vector<uint16_t> all(0x10000), shuffled(0x10000);
  for (uint32_t i = 0; i < 0x10000u; ++i) all[i] = static_cast<uint16_t>(i);
  shuffled = all;
  std::mt19937 rng(42);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    for (ReduceOp op : {ReduceOp::SUM, ReduceOp::PRODUCT, ReduceOp::MIN, ReduceOp::MAX}) {
      std::vector<uint16_t> result[2];
      for (size_t p = 0; p < 2; ++p) {
        const ScopedIsaOverride path(kIsas[p]);
        result[p] = all;
        reduce_into(op, dtype, result[p].data(), shuffled.data(), all.size());
      }
      for (size_t i = 0; i < all.size(); ++i) {
        auto widen = [&](uint16_t bits) {
          return dtype == DType::Float16 ? half_bits_to_float(bits)
                                         : static_cast<float>(BFloat16::from_bits(bits));
        };
        const float exact = widen(all[i]), other = widen(shuffled[i]);
        const float want_f = op == ReduceOp::SUM       ? exact + other
                             : op == ReduceOp::PRODUCT ? exact * other
                             : std::isnan(exact) || std::isnan(other) ? kNaN
                             : op == ReduceOp::MIN ? std::min(exact, other)
                                                   : std::max(exact, other);
        const uint16_t want = dtype == DType::Float16 ? float_to_half_bits(want_f)
                                                      : float_to_bfloat16_bits(want_f);
        for (size_t p = 0; p < 2; ++p) {
          const float got = widen(result[p][i]);
          if (std::isnan(want_f)) {
            ASSERT_TRUE(std::isnan(got)) << dtype << " " << op << " " << i;
          } else if (want_f == 0.0f && (op == ReduceOp::MIN || op == ReduceOp::MAX)) {
            ASSERT_EQ(got, 0.0f);  // either zero's sign is allowed
          } else {
            ASSERT_EQ(result[p][i], want) << dtype << " " << op << " pattern " << all[i] << " and "
                                          << shuffled[i] << " path " << isa_name(kIsas[p]);
          }
        }
      }
    }
  }
}

// Dividing every pattern rounds the float32 quotient once, on both paths.
TEST(ReduceKernels, HalfDivideEveryPattern) {
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    for (int64_t divisor : {3, 7, 1000}) {
      for (Isa isa : kIsas) {
        const ScopedIsaOverride path(isa);
        std::vector<uint16_t> data(0x10000);
        for (uint32_t i = 0; i < 0x10000u; ++i) data[i] = static_cast<uint16_t>(i);
        divide(dtype, data.data(), data.size(), divisor);
        for (uint32_t i = 0; i < 0x10000u; ++i) {
          const auto bits = static_cast<uint16_t>(i);
          const float x = dtype == DType::Float16 ? half_bits_to_float(bits)
                                                  : static_cast<float>(BFloat16::from_bits(bits));
          const float q = x / static_cast<float>(divisor);
          const uint16_t want =
              dtype == DType::Float16 ? float_to_half_bits(q) : float_to_bfloat16_bits(q);
          if (std::isnan(q)) continue;  // NaN stays NaN: checked by the NaN test
          ASSERT_EQ(data[i], want) << dtype << " pattern " << i << " / " << divisor << " path "
                                   << isa_name(isa);
        }
      }
    }
  }
}

// reduce_n of many random halves equals folding them in float32 and rounding
// once, bit for bit, on both paths.
TEST(ReduceKernels, HalfReduceNRoundsOnce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  const size_t n = 6, count = 1003;
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    auto to_bits = [&](float f) {
      return dtype == DType::Float16 ? float_to_half_bits(f) : float_to_bfloat16_bits(f);
    };
    auto to_float = [&](uint16_t b) {
      return dtype == DType::Float16 ? half_bits_to_float(b)
                                     : static_cast<float>(BFloat16::from_bits(b));
    };
    std::vector<std::vector<uint16_t>> in(n, std::vector<uint16_t>(count));
    std::vector<const void*> ptrs;
    for (auto& v : in) {
      for (auto& x : v) x = to_bits(dist(rng));
      ptrs.push_back(v.data());
    }
    for (ReduceOp op : {ReduceOp::SUM, ReduceOp::PRODUCT, ReduceOp::MIN, ReduceOp::MAX}) {
      std::vector<uint16_t> want(count);
      for (size_t i = 0; i < count; ++i) {
        float acc = to_float(in[0][i]);
        for (size_t k = 1; k < n; ++k) {
          const float x = to_float(in[k][i]);
          acc = op == ReduceOp::SUM       ? acc + x
                : op == ReduceOp::PRODUCT ? acc * x
                : op == ReduceOp::MIN     ? std::min(acc, x)
                                          : std::max(acc, x);
        }
        want[i] = to_bits(acc);
      }
      for (Isa isa : kIsas) {
        const ScopedIsaOverride path(isa);
        std::vector<uint16_t> out(count);
        reduce_n(op, dtype, out.data(), ptrs, count);
        ASSERT_EQ(out, want) << dtype << " " << op << " " << isa_name(isa);
      }
    }
  }
}

TEST(ReduceKernels, MinMaxPropagateNaN) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    auto run = [&]<class T>(DType dtype) {
      // NaN at different lanes, in either operand, across the vector body and tail.
      const size_t n = 1003;
      std::vector<T> a(n), b(n);
      for (size_t i = 0; i < n; ++i) {
        a[i] = T(static_cast<float>(i % 17));
        b[i] = T(static_cast<float>(i % 5) - 2.0f);
        if (i % 7 == 3) a[i] = T(kNaN);
        if (i % 11 == 4) b[i] = T(kNaN);
      }
      for (ReduceOp op : {ReduceOp::MIN, ReduceOp::MAX}) {
        std::vector<T> r = a;
        reduce_into(op, dtype, r.data(), b.data(), n);
        for (size_t i = 0; i < n; ++i) {
          const bool nan_in = i % 7 == 3 || i % 11 == 4;
          const double x = to_double(a[i]), y = to_double(b[i]);
          if (nan_in) {
            ASSERT_TRUE(std::isnan(to_double(r[i]))) << dtype << " " << op << " " << i;
          } else {
            ASSERT_EQ(to_double(r[i]), op == ReduceOp::MIN ? std::min(x, y) : std::max(x, y));
          }
        }
      }
    };
    run.operator()<float>(DType::Float32);
    run.operator()<double>(DType::Float64);
    run.operator()<Half>(DType::Float16);
    run.operator()<BFloat16>(DType::BFloat16);
  }
}

TEST(ReduceKernels, IntegersWrapAround) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    const size_t n = 1001;  // vector body and tail
    std::vector<int8_t> i8(n, 127), one8(n, 1);
    reduce_into(ReduceOp::SUM, DType::Int8, i8.data(), one8.data(), n);
    for (int8_t v : i8) ASSERT_EQ(v, -128);
    std::vector<int8_t> m8(n, -128), neg8(n, -1);
    reduce_into(ReduceOp::PRODUCT, DType::Int8, m8.data(), neg8.data(), n);
    for (int8_t v : m8) ASSERT_EQ(v, -128);
    std::vector<uint8_t> u8(n, 200), h8(n, 100);
    reduce_into(ReduceOp::SUM, DType::UInt8, u8.data(), h8.data(), n);
    for (uint8_t v : u8) ASSERT_EQ(v, 44);
    std::vector<int32_t> i32(n, std::numeric_limits<int32_t>::max()), one32(n, 1);
    reduce_into(ReduceOp::SUM, DType::Int32, i32.data(), one32.data(), n);
    for (int32_t v : i32) ASSERT_EQ(v, std::numeric_limits<int32_t>::min());
    std::vector<int32_t> p32(n, 65536);
    reduce_into(ReduceOp::PRODUCT, DType::Int32, p32.data(), p32.data(), n);  // 2^32 wraps to 0
    for (int32_t v : p32) ASSERT_EQ(v, 0);
    std::vector<int64_t> i64(n, int64_t{1} << 62), four(n, 4), min64(n, std::numeric_limits<int64_t>::min());
    reduce_into(ReduceOp::PRODUCT, DType::Int64, i64.data(), four.data(), n);
    for (int64_t v : i64) ASSERT_EQ(v, 0);
    reduce_into(ReduceOp::SUM, DType::Int64, min64.data(), std::vector<int64_t>(n, -1).data(), n);
    for (int64_t v : min64) ASSERT_EQ(v, std::numeric_limits<int64_t>::max());
  }
}

TEST(ReduceKernels, BoolBytesAreLogical) {
  // Any non-zero byte reads as true; results are 0 or 1.
  uint8_t a[] = {0, 2, 0, 255, 7, 0, 1, 1};
  const uint8_t b[] = {0, 0, 9, 128, 0, 0, 1, 0};
  uint8_t r[8];
  const uint8_t want_or[] = {0, 1, 1, 1, 1, 0, 1, 1}, want_and[] = {0, 0, 0, 1, 0, 0, 1, 0},
                want_xor[] = {0, 1, 1, 0, 1, 0, 0, 1};
  for (auto [op, want] : {std::pair{ReduceOp::SUM, want_or}, std::pair{ReduceOp::PRODUCT, want_and},
                          std::pair{ReduceOp::BXOR, want_xor}}) {
    std::memcpy(r, a, sizeof(a));
    reduce_into(op, DType::Bool, r, b, 8);
    EXPECT_EQ(std::memcmp(r, want, 8), 0) << op;
  }
}

TEST(ReduceKernels, DivideTruncatesIntegersAndRoundsFloats) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    std::vector<int32_t> i32 = {-7, 7, -1, 5, -8, 0};
    divide(DType::Int32, i32.data(), i32.size(), 2);
    EXPECT_EQ(i32, (std::vector<int32_t>{-3, 3, 0, 2, -4, 0}));
    std::vector<int8_t> i8 = {-128, 127, -5};
    divide(DType::Int8, i8.data(), i8.size(), 3);
    EXPECT_EQ(i8, (std::vector<int8_t>{-42, 42, -1}));
    std::vector<uint8_t> u8 = {255, 1};
    divide(DType::UInt8, u8.data(), u8.size(), 2);
    EXPECT_EQ(u8, (std::vector<uint8_t>{127, 0}));
    std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -9};
    divide(DType::Int64, i64.data(), i64.size(), 4);
    EXPECT_EQ(i64, (std::vector<int64_t>{std::numeric_limits<int64_t>::min() / 4, -2}));

    std::vector<float> f(1000);
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i) + 1.0f;
    divide(DType::Float32, f.data(), f.size(), 3);
    for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(f[i], (static_cast<float>(i) + 1.0f) / 3.0f) << i;
    std::vector<double> d = {1.0, -2.0};
    divide(DType::Float64, d.data(), d.size(), 3);
    EXPECT_EQ(d[0], 1.0 / 3.0);
    EXPECT_EQ(d[1], -2.0 / 3.0);
    std::vector<Half> h(19, Half(1.0f));
    divide(DType::Float16, h.data(), h.size(), 3);
    for (Half x : h) ASSERT_EQ(x.bits, Half(1.0f / 3.0f).bits);
    std::vector<BFloat16> bf(19, BFloat16(7.0f));
    divide(DType::BFloat16, bf.data(), bf.size(), 3);
    for (BFloat16 x : bf) ASSERT_EQ(x.bits, BFloat16(7.0f / 3.0f).bits);
    bool flags[] = {true, false};
    EXPECT_THROW(divide(DType::Bool, flags, 2, 2), InvalidArgument);  // AVG of truth values
    EXPECT_TRUE(flags[0]);
    EXPECT_FALSE(flags[1]);
  }
  int32_t x = 4;
  EXPECT_THROW(divide(DType::Int32, &x, 1, 0), InvalidArgument);
  EXPECT_THROW(divide(DType::Int32, &x, 1, -2), InvalidArgument);
  EXPECT_EQ(x, 4);
}

TEST(ReduceKernels, AliasingAndArgumentChecks) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    // in == inout: x op= x, through the vector body and the tail.
    std::vector<float> f(5000);
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i);
    reduce_into(ReduceOp::SUM, DType::Float32, f.data(), f.data(), f.size());
    for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(f[i], 2.0f * static_cast<float>(i));
    std::vector<Half> h(100, Half(3.0f));
    reduce_into(ReduceOp::PRODUCT, DType::Float16, h.data(), h.data(), h.size());
    for (Half x : h) ASSERT_EQ(static_cast<float>(x), 9.0f);
    // reduce_n in place where a later input is also inputs[0].
    std::vector<int32_t> v(10000, 3);
    const void* same[] = {v.data(), v.data(), v.data()};
    reduce_n(ReduceOp::SUM, DType::Int32, v.data(), same, v.size());
    for (int32_t x : v) ASSERT_EQ(x, 9);
  }
  std::vector<int32_t> buf(64, 1);
  EXPECT_THROW(reduce_into(ReduceOp::SUM, DType::Int32, buf.data(), buf.data() + 1, 10), InvalidArgument);
  EXPECT_THROW(reduce_into(ReduceOp::SUM, DType::Int32, nullptr, buf.data(), 1), InvalidArgument);
  EXPECT_NO_THROW(reduce_into(ReduceOp::SUM, DType::Int32, nullptr, nullptr, 0));
  EXPECT_THROW(reduce_n(ReduceOp::SUM, DType::Int32, buf.data(), {}, 1), InvalidArgument);
  const void* overlapping[] = {buf.data() + 3};
  EXPECT_THROW(reduce_n(ReduceOp::SUM, DType::Int32, buf.data(), overlapping, 8), InvalidArgument);
  for (int32_t x : buf) ASSERT_EQ(x, 1);  // nothing written on error
  // out may be a later input: it is read as it was before the call.
  std::vector<int32_t> big(10000, 1), two(10000, 2);
  const void* later_is_out[] = {two.data(), big.data(), big.data()};
  reduce_n(ReduceOp::PRODUCT, DType::Int32, big.data(), later_is_out, big.size());
  for (int32_t x : big) ASSERT_EQ(x, 2);
  reduce_n(ReduceOp::SUM, DType::Int32, big.data(), later_is_out, big.size());
  for (int32_t x : big) ASSERT_EQ(x, 6);
  std::vector<Half> hbig(3000, Half(1.0f)), htwo(3000, Half(2.0f));
  const void* half_later[] = {htwo.data(), hbig.data()};
  reduce_n(ReduceOp::SUM, DType::Float16, hbig.data(), half_later, hbig.size());
  for (Half x : hbig) ASSERT_EQ(static_cast<float>(x), 3.0f);
}

// Many ranks at once: input k holds (i % 13) + k, so SUM is n*(i%13) + n(n-1)/2
// and MAX is (i%13) + n-1, for every count and both paths.
TEST(ReduceKernels, ReduceNClosedForm) {
  for (Isa isa : kIsas) {
    const ScopedIsaOverride path(isa);
    for (size_t n : {2u, 4u, 7u, 8u}) {
      for (size_t count : kCounts) {
        std::vector<std::vector<float>> in(n, std::vector<float>(count));
        std::vector<const void*> ptrs;
        for (size_t k = 0; k < n; ++k) {
          for (size_t i = 0; i < count; ++i) in[k][i] = static_cast<float>(i % 13 + k);
          ptrs.push_back(in[k].data());
        }
        std::vector<float> sum(count), max(count);
        reduce_n(ReduceOp::SUM, DType::Float32, sum.data(), ptrs, count);
        reduce_n(ReduceOp::MAX, DType::Float32, max.data(), ptrs, count);
        for (size_t i = 0; i < count; ++i) {
          ASSERT_EQ(sum[i], static_cast<float>(n * (i % 13) + n * (n - 1) / 2)) << n << " " << i;
          ASSERT_EQ(max[i], static_cast<float>(i % 13 + n - 1)) << n << " " << i;
        }
      }
    }
  }
}

TEST(ReduceKernels, IsaReporting) {
  EXPECT_EQ(active_isa(), detected_isa());
  {
    const ScopedIsaOverride path(Isa::kPortable);
    EXPECT_EQ(active_isa(), Isa::kPortable);
    EXPECT_FALSE(uses_f16c());
  }
  EXPECT_EQ(active_isa(), detected_isa());
#if defined(__x86_64__)
  EXPECT_EQ(detected_isa() == Isa::kAvx2, __builtin_cpu_supports("avx2") != 0);
#endif
}

}  // namespace
}  // namespace baton::kernels
