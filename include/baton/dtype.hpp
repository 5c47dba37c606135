// DType: the element types a Tensor can hold, and the C++ types behind them.
//
// Float16 and BFloat16 are stored as 16-bit patterns (baton::Half,
// baton::BFloat16); arithmetic on them converts to float and rounds back to
// nearest, ties to even.
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <type_traits>

namespace baton {

enum class DType { Float32, Float64, Float16, BFloat16, Int8, UInt8, Int32, Int64, Bool };

inline constexpr DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Float16,
                                       DType::BFloat16, DType::Int8,    DType::UInt8,
                                       DType::Int32,   DType::Int64,   DType::Bool};

// Bytes per element.
size_t element_size(DType dtype);
// "float32", "float64", "float16", "bfloat16", "int8", "uint8", "int32", "int64", "bool".
std::string_view dtype_name(DType dtype);
bool is_floating_point(DType dtype);
std::ostream& operator<<(std::ostream& os, DType dtype);

// IEEE 754 binary16.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  explicit Half(float value);
  explicit operator float() const;
  static Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
};

// bfloat16: the top 16 bits of a float32.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float value);
  explicit operator float() const { return std::bit_cast<float>(uint32_t{bits} << 16); }
  static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

// Conversions with round-to-nearest-even; NaN stays NaN, overflow goes to infinity.
uint16_t float_to_half_bits(float value);
float half_bits_to_float(uint16_t bits);
uint16_t float_to_bfloat16_bits(float value);

inline Half::Half(float value) : bits(float_to_half_bits(value)) {}
inline Half::operator float() const { return half_bits_to_float(bits); }
inline BFloat16::BFloat16(float value) : bits(float_to_bfloat16_bits(value)) {}

// The DType of a C++ element type: dtype_of<float> == DType::Float32.
template <class T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::Float16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };
template <class T>
inline constexpr DType dtype_of = DTypeOf<std::remove_cv_t<T>>::value;

// Calls fn(T{}) with the C++ element type of dtype; fn's result is returned.
template <class Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    case DType::Float16: return fn(Half{});
    case DType::BFloat16: return fn(BFloat16{});
    case DType::Int8: return fn(int8_t{});
    case DType::UInt8: return fn(uint8_t{});
    case DType::Int32: return fn(int32_t{});
    case DType::Int64: return fn(int64_t{});
    case DType::Bool: return fn(bool{});
  }
  return fn(float{});  // unreachable for valid enum values
}

}  // namespace baton
