// Helpers for multi-rank tests of the public API: a scratch directory for a
// job's FileStore, deterministic per-rank data for every dtype, and the
// closed-form results of reductions.
//
// Thread safety: JobDir is used by the test's main thread; the data helpers
// are pure functions.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "baton/baton.hpp"
#include "baton/distributed.hpp"

namespace baton::testing {

// A fresh directory under $TMPDIR (or /tmp), removed at destruction. Its
// init_method() names a FileStore inside it, so each test's job has a store
// of its own.
class JobDir {
 public:
  JobDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/baton-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~JobDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  JobDir(const JobDir&) = delete;
  JobDir& operator=(const JobDir&) = delete;

  const std::string& path() const { return path_; }
  std::string init_method() const { return "file://" + path_ + "/store"; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Element i of rank r: small non-negative integers, so that sums over eight
// ranks are exact in every dtype (int8 and bfloat16 included).
inline double pattern_value(int rank, int64_t i) {
  return static_cast<double>((rank * 7 + i * 3) % 11 + 1);
}
// For PRODUCT: 1s and 2s, so products over three ranks stay below 2^4.
inline double product_value(int rank, int64_t i) {
  return ((rank + i) % 3 == 0) ? 2.0 : 1.0;
}
// For Bool and the bitwise ops: a mix of bit patterns.
inline double bits_value(int rank, int64_t i) {
  return static_cast<double>(((rank + 1) * 37 + i * 11) % 100);
}
inline double bool_value(int rank, int64_t i) {
  return ((rank + i) % 3 == 0) ? 1.0 : 0.0;
}

// The per-rank value generator the dtype x op sweep uses for (op, dtype).
inline std::function<double(int, int64_t)> values_for(ReduceOp op, DType dtype) {
  if (dtype == DType::Bool) return bool_value;
  if (op == ReduceOp::PRODUCT) return product_value;
  if (op == ReduceOp::BAND || op == ReduceOp::BOR || op == ReduceOp::BXOR) return bits_value;
  return pattern_value;
}

// Fills t[i] = f(i).
inline void fill_with(Tensor& t, const std::function<double(int64_t)>& f) {
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    auto data = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = f(i);
      if constexpr (std::is_same_v<T, bool>) {
        data[static_cast<size_t>(i)] = v != 0;
      } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        data[static_cast<size_t>(i)] = T(static_cast<float>(v));
      } else {
        data[static_cast<size_t>(i)] = static_cast<T>(v);
      }
    }
  });
}

inline Tensor make_tensor(int64_t count, DType dtype, const std::function<double(int64_t)>& f) {
  Tensor t = Tensor::empty({count}, dtype);
  fill_with(t, f);
  return t;
}

// Rounds a double to what dtype stores, returned as a double.
inline double round_to(DType dtype, double v) {
  switch (dtype) {
    case DType::Float32: return static_cast<double>(static_cast<float>(v));
    case DType::Float16:
      return static_cast<double>(static_cast<float>(Half(static_cast<float>(v))));
    case DType::BFloat16:
      return static_cast<double>(static_cast<float>(BFloat16(static_cast<float>(v))));
    case DType::Int8: return static_cast<double>(static_cast<int8_t>(static_cast<int64_t>(v)));
    case DType::UInt8: return static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(v)));
    case DType::Int32: return static_cast<double>(static_cast<int32_t>(static_cast<int64_t>(v)));
    case DType::Bool: return v != 0 ? 1.0 : 0.0;
    default: return v;
  }
}

// op over ranks 0..n-1 of value(r), as the reduction kernels compute it
// (AVG: the sum divided once, in float32 for the 16-bit floats; integers
// truncate; Bool: SUM/MAX/AVG are or, PRODUCT/MIN and).
inline double fold(ReduceOp op, DType dtype, int n, const std::function<double(int)>& value) {
  if (dtype == DType::Bool) {
    bool acc = value(0) != 0;
    for (int r = 1; r < n; ++r) {
      const bool b = value(r) != 0;
      switch (op) {
        case ReduceOp::PRODUCT:
        case ReduceOp::MIN:
        case ReduceOp::BAND: acc = acc && b; break;
        case ReduceOp::BXOR: acc = acc != b; break;
        default: acc = acc || b; break;
      }
    }
    return acc ? 1.0 : 0.0;
  }
  if (is_floating_point(dtype)) {
    double acc = value(0);
    for (int r = 1; r < n; ++r) {
      const double v = value(r);
      switch (op) {
        case ReduceOp::PRODUCT: acc *= v; break;
        case ReduceOp::MIN: acc = std::min(acc, v); break;
        case ReduceOp::MAX: acc = std::max(acc, v); break;
        default: acc += v; break;
      }
    }
    if (op == ReduceOp::AVG) {
      if (dtype == DType::Float64) return acc / n;
      return round_to(dtype, static_cast<double>(static_cast<float>(acc) / static_cast<float>(n)));
    }
    return round_to(dtype, acc);
  }
  auto acc = static_cast<int64_t>(value(0));
  for (int r = 1; r < n; ++r) {
    const auto v = static_cast<int64_t>(value(r));
    switch (op) {
      case ReduceOp::PRODUCT: acc *= v; break;
      case ReduceOp::MIN: acc = std::min(acc, v); break;
      case ReduceOp::MAX: acc = std::max(acc, v); break;
      case ReduceOp::BAND: acc &= v; break;
      case ReduceOp::BOR: acc |= v; break;
      case ReduceOp::BXOR: acc ^= v; break;
      default: acc += v; break;
    }
  }
  acc = static_cast<int64_t>(round_to(dtype, static_cast<double>(acc)));
  if (op == ReduceOp::AVG) acc /= n;
  return static_cast<double>(acc);
}

// Checks t[i] == expected(i) for every i; reports the first few failures with
// the rank, the index, the expected and the actual value.
inline void expect_tensor(const Tensor& t, const std::function<double(int64_t)>& expected,
                          const std::string& what) {
  int failures = 0;
  for (int64_t i = 0; i < t.numel() && failures < 5; ++i) {
    const double want = expected(i);
    const double got = t.item(i);
    if (!(got == want || (std::isnan(got) && std::isnan(want)))) {
      ADD_FAILURE() << what << ": element " << i << " is " << got << ", expected " << want;
      ++failures;
    }
  }
}

}  // namespace baton::testing
