// Tensor: storage, views, element conversion and printing.
#include "baton/tensor.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/reduce_kernels.hpp"

namespace baton {

// The memory behind a tensor and its views: owned (freed with the last
// handle) or borrowed from the caller (from_blob), perhaps with an owner
// that keeps the borrowed memory alive.
struct Tensor::Storage {
  void* data = nullptr;
  bool owned = false;
  std::shared_ptr<const void> owner;
  ~Storage() {
    if (owned) std::free(data);
  }
};

namespace {

constexpr size_t kAlignment = 64;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t checked_numel(const std::vector<int64_t>& shape, const char* op) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      throw InvalidArgument(std::string(op) + ": negative dimension in shape " + shape_str(shape));
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw InvalidArgument(std::string(op) + ": shape " + shape_str(shape) + " overflows int64");
    }
    n *= d;
  }
  return n;
}

void check_device_supported(Device device, const char* op) {
  if (device.is_cuda()) {
    throw UnsupportedError(std::string(op) + ": " + device.str() +
                           " tensors need a build with CUDA; this build of Baton has CPU only");
  }
}

// Converts a double to element type T: floats round, integers truncate toward
// zero and must be in range, Bool is value != 0.
template <class T>
T to_element(double value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value != 0;
  } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(value);
  } else {
    const double t = std::trunc(value);
    // The upper bound is exclusive: max()+1 is exact as a double, max() may not be.
    const double upper = std::ldexp(1.0, std::numeric_limits<T>::digits);
    if (!(t >= static_cast<double>(std::numeric_limits<T>::min()) && t < upper)) {
      std::ostringstream msg;
      msg << "value " << value << " cannot be converted to " << dtype_name(dtype_of<T>)
          << " without overflow";
      throw InvalidArgument(msg.str());
    }
    return static_cast<T>(t);
  }
}

template <class T>
double from_element(T value) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(value));
  } else {
    return static_cast<double>(value);
  }
}

}  // namespace

Tensor Tensor::empty(std::vector<int64_t> shape, DType dtype, Device device) {
  check_device_supported(device, "Tensor::empty");
  Tensor t;
  t.numel_ = checked_numel(shape, "Tensor::empty");
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>();
  const size_t bytes = t.nbytes();
  if (bytes > 0) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    t.storage_->data = std::aligned_alloc(kAlignment, rounded);
    if (t.storage_->data == nullptr) {
      throw Error(ErrorCode::kIo, "Tensor::empty: cannot allocate " + std::to_string(bytes) +
                                      " bytes for shape " + shape_str(t.shape_));
    }
    t.storage_->owned = true;
  }
  return t;
}

Tensor Tensor::zeros(std::vector<int64_t> shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  if (t.nbytes() > 0) std::memset(t.data_ptr(), 0, t.nbytes());
  return t;
}

Tensor Tensor::ones(std::vector<int64_t> shape, DType dtype, Device device) {
  return full(std::move(shape), 1.0, dtype, device);
}

Tensor Tensor::full(std::vector<int64_t> shape, double value, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_blob(void* data, std::vector<int64_t> shape, DType dtype, Device device) {
  Tensor t;
  t.numel_ = checked_numel(shape, "Tensor::from_blob");
  if (data == nullptr && t.numel_ > 0) {
    throw InvalidArgument("Tensor::from_blob: null data pointer for shape " + shape_str(shape));
  }
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  return t;
}

Tensor Tensor::from_blob(void* data, std::vector<int64_t> shape, DType dtype, Device device,
                         std::shared_ptr<const void> owner) {
  Tensor t = from_blob(data, std::move(shape), dtype, device);
  t.storage_->owner = std::move(owner);
  return t;
}

void* Tensor::data_ptr() const {
  if (!storage_ || storage_->data == nullptr) return nullptr;
  return static_cast<char*>(storage_->data) + offset_bytes_;
}

void Tensor::check_defined(const char* op) const {
  if (!defined()) throw InvalidArgument(std::string(op) + ": the tensor is undefined");
}

void Tensor::check_element_type(DType requested) const {
  check_defined("Tensor::data");
  if (requested != dtype_) {
    throw InvalidArgument("Tensor::data<T>: T is " + std::string(dtype_name(requested)) +
                          " but the tensor holds " + std::string(dtype_name(dtype_)));
  }
  if (!device_.is_cpu()) {
    throw InvalidArgument("Tensor::data<T>: the tensor is on " + device_.str() +
                          "; only CPU memory can be read as a span");
  }
}

Tensor Tensor::narrow(int64_t start, int64_t length) const {
  check_defined("Tensor::narrow");
  if (start < 0 || length < 0 || start > numel_ || length > numel_ - start) {
    throw InvalidArgument("Tensor::narrow: elements [" + std::to_string(start) + ", " +
                          std::to_string(start + length) + ") are outside a tensor of " +
                          std::to_string(numel_) + " elements");
  }
  Tensor view = *this;
  view.offset_bytes_ = offset_bytes_ + static_cast<size_t>(start) * element_size();
  view.shape_ = {length};
  view.numel_ = length;
  return view;
}

std::vector<Tensor> Tensor::chunk(int64_t chunks) const {
  check_defined("Tensor::chunk");
  if (chunks < 1) {
    throw InvalidArgument("Tensor::chunk: chunks must be >= 1, got " + std::to_string(chunks));
  }
  std::vector<Tensor> out;
  const int64_t step = numel_ == 0 ? 0 : (numel_ + chunks - 1) / chunks;
  if (step == 0) {
    out.push_back(narrow(0, 0));
    return out;
  }
  for (int64_t start = 0; start < numel_; start += step) {
    out.push_back(narrow(start, std::min(step, numel_ - start)));
  }
  return out;
}

Tensor Tensor::clone() const {
  check_defined("Tensor::clone");
  Tensor copy = empty(shape_, dtype_, device_);
  if (nbytes() > 0) std::memcpy(copy.data_ptr(), data_ptr(), nbytes());
  return copy;
}

void Tensor::copy_(const Tensor& src) {
  check_defined("Tensor::copy_");
  src.check_defined("Tensor::copy_ (source)");
  if (src.numel_ != numel_) {
    throw InvalidArgument("Tensor::copy_: source has " + std::to_string(src.numel_) +
                          " elements, destination has " + std::to_string(numel_));
  }
  if (src.dtype_ == dtype_) {
    if (nbytes() > 0) std::memmove(data_ptr(), src.data_ptr(), nbytes());
    return;
  }
  visit_dtype(dtype_, [&]<class D>(D) {
    visit_dtype(src.dtype_, [&]<class S>(S) {
      D* dst = static_cast<D*>(data_ptr());
      const S* from = static_cast<const S*>(src.data_ptr());
      for (int64_t i = 0; i < numel_; ++i) {
        if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) {
          dst[i] = static_cast<D>(from[i]);  // exact for int64; wraps like torch
        } else {
          dst[i] = to_element<D>(from_element(from[i]));
        }
      }
    });
  });
}

void Tensor::fill_(double value) {
  check_defined("Tensor::fill_");
  visit_dtype(dtype_, [&]<class T>(T) {
    const T element = to_element<T>(value);
    T* data = static_cast<T*>(data_ptr());
    for (int64_t i = 0; i < numel_; ++i) data[i] = element;
  });
}

Tensor& Tensor::operator+=(const Tensor& other) {
  check_defined("Tensor::operator+=");
  other.check_defined("Tensor::operator+= (right-hand side)");
  if (other.dtype_ != dtype_ || other.numel_ != numel_) {
    throw InvalidArgument("Tensor::operator+=: expected " + std::to_string(numel_) + " " +
                          std::string(dtype_name(dtype_)) + " elements, got " +
                          std::to_string(other.numel_) + " " +
                          std::string(dtype_name(other.dtype_)));
  }
  kernels::reduce_into(ReduceOp::SUM, dtype_, data_ptr(), other.data_ptr(),
                       static_cast<size_t>(numel_));
  return *this;
}

Tensor& Tensor::operator/=(double divisor) {
  check_defined("Tensor::operator/=");
  if (dtype_ == DType::Bool) throw InvalidArgument("Tensor::operator/=: bool tensors cannot be divided");
  if (is_floating_point(dtype_)) {
    visit_dtype(dtype_, [&]<class T>(T) {
      T* data = static_cast<T*>(data_ptr());
      for (int64_t i = 0; i < numel_; ++i) data[i] = to_element<T>(from_element(data[i]) / divisor);
    });
    return *this;
  }
  if (divisor == 0 || std::trunc(divisor) != divisor || std::abs(divisor) > 0x1p62) {
    std::ostringstream msg;
    msg << "Tensor::operator/=: " << dtype_name(dtype_)
        << " tensors divide by a non-zero whole number, got " << divisor;
    throw InvalidArgument(msg.str());
  }
  kernels::divide(dtype_, data_ptr(), static_cast<size_t>(numel_), static_cast<int64_t>(divisor));
  return *this;
}

double Tensor::item(int64_t index) const {
  check_defined("Tensor::item");
  if (index < 0 || index >= numel_) {
    throw InvalidArgument("Tensor::item: index " + std::to_string(index) + " outside a tensor of " +
                          std::to_string(numel_) + " elements");
  }
  if (!device_.is_cpu()) throw InvalidArgument("Tensor::item: the tensor is on " + device_.str());
  return visit_dtype(dtype_, [&]<class T>(T) {
    return from_element(static_cast<const T*>(data_ptr())[index]);
  });
}

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  if (!device_.is_cpu()) {
    return "tensor(<" + std::to_string(numel_) + " elements on " + device_.str() + ">, dtype=" +
           std::string(dtype_name(dtype_)) + ")";
  }
  constexpr int64_t kEdge = 3;        // elements shown at each end of a long row
  constexpr int64_t kSummarise = 1000;  // summarise tensors with more elements, as torch
  const bool summarise = numel_ > kSummarise;
  bool integral = true;
  if (is_floating_point(dtype_)) {
    for (int64_t i = 0; i < numel_ && integral; ++i) {
      const double v = item(i);
      integral = !std::isfinite(v) || v == std::trunc(v);
    }
  }
  std::ostringstream os;
  auto element = [&](int64_t i) {
    const double v = item(i);
    if (dtype_ == DType::Bool) {
      os << (v != 0 ? "True" : "False");
    } else if (!is_floating_point(dtype_)) {
      os << static_cast<int64_t>(v);
    } else if (std::isnan(v)) {
      os << "nan";
    } else if (std::isinf(v)) {
      os << (v > 0 ? "inf" : "-inf");
    } else if (integral) {
      os << static_cast<int64_t>(v) << '.';
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", v);
      os << buf;
    }
  };
  // Nested brackets by dimension, like torch; long dimensions show their edges.
  std::vector<int64_t> dims = shape_.empty() ? std::vector<int64_t>{} : shape_;
  auto print = [&](auto&& self, size_t dim, int64_t offset, int64_t stride) -> void {
    if (dim == dims.size()) {
      element(offset);
      return;
    }
    const int64_t size = dims[dim];
    const int64_t inner = stride / std::max<int64_t>(size, 1);
    os << '[';
    const bool edges_only = summarise && size > 2 * kEdge;
    for (int64_t i = 0; i < size; ++i) {
      if (edges_only && i == kEdge) {
        os << ", ...";
        i = size - kEdge;
      }
      if (i > 0) os << ", ";
      self(self, dim + 1, offset + i * inner, inner);
    }
    os << ']';
  };
  os << "tensor(";
  if (dims.empty()) {
    element(0);
  } else {
    print(print, 0, 0, numel_);
  }
  if (dtype_ != DType::Float32 && dtype_ != DType::Int64 && dtype_ != DType::Bool) {
    os << ", dtype=" << dtype_name(dtype_);
  }
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) { return os << tensor.str(); }

}  // namespace baton
