// Tensor: a contiguous, typed block of memory, owning or a view of the user's.
//
// Copies of a Tensor share memory (like torch.Tensor handles); clone() makes a
// deep copy. narrow() and chunk() return views that share memory with their
// source. from_blob() wraps memory the caller owns and must keep alive for as
// long as the tensor and its views are used. Shapes are informational for
// collectives: every operation sees a tensor as numel() elements in a row.
//
// Thread safety: a Tensor handle may be copied from several threads; writing
// its elements while another thread reads them is a data race, as with any
// memory. Operations that take a Tensor& write only the elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "baton/device.hpp"
#include "baton/dtype.hpp"
#include "baton/error.hpp"

namespace baton {

class Tensor {
 public:
  // An undefined tensor: defined() is false, numel() is 0.
  Tensor() = default;

  // Allocation. Memory is 64-byte aligned. A negative dimension is an
  // InvalidArgument; a CUDA device in a build without CUDA is an UnsupportedError.
  static Tensor empty(std::vector<int64_t> shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  static Tensor zeros(std::vector<int64_t> shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  static Tensor ones(std::vector<int64_t> shape, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  static Tensor full(std::vector<int64_t> shape, double value, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  // A view of memory the caller owns. A null pointer with numel() > 0 is an InvalidArgument.
  static Tensor from_blob(void* data, std::vector<int64_t> shape, DType dtype,
                          Device device = Device::cpu());
  // The same, and the tensor, its copies and its views keep `owner` alive
  // (a pending operation holds a copy): for memory another library owns,
  // such as a torch tensor's storage. The owner is released on whichever
  // thread drops the last copy.
  static Tensor from_blob(void* data, std::vector<int64_t> shape, DType dtype, Device device,
                          std::shared_ptr<const void> owner);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  size_t element_size() const { return baton::element_size(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel_) * element_size(); }
  void* data_ptr() const;

  // The elements as a span of T; throws InvalidArgument when T is not the
  // C++ type of dtype() (float for Float32, baton::Half for Float16, ...) or
  // when the tensor is not on the CPU.
  template <class T>
  std::span<T> data() const {
    check_element_type(dtype_of<T>);
    return std::span<T>(static_cast<T*>(data_ptr()), static_cast<size_t>(numel_));
  }

  // A 1-D view of elements [start, start + length). Out of range: InvalidArgument.
  Tensor narrow(int64_t start, int64_t length) const;
  // Splits the flat tensor like torch.chunk: each chunk holds ceil(numel/chunks)
  // elements except the last; fewer than `chunks` pieces come back when there
  // are not enough elements. chunks < 1: InvalidArgument.
  std::vector<Tensor> chunk(int64_t chunks) const;
  // A deep copy with its own memory.
  Tensor clone() const;
  // Copies src's elements into this tensor, converting dtype when they differ.
  // Element counts must match (InvalidArgument naming both).
  void copy_(const Tensor& src);
  // Sets every element to value (converted to dtype()).
  void fill_(double value);
  // Element-wise this += other; same dtype and numel required (InvalidArgument).
  Tensor& operator+=(const Tensor& other);
  // Element-wise this /= divisor; integers truncate toward zero. Bool tensors
  // and a zero divisor on integers are an InvalidArgument.
  Tensor& operator/=(double divisor);

  // Element i (flat index) as a double, for printing and tests.
  double item(int64_t index = 0) const;
  // A one-line description, "tensor([1., 2.], dtype=float32)"; long tensors
  // show their first and last three elements.
  std::string str() const;

 private:
  struct Storage;
  void check_element_type(DType requested) const;
  void check_defined(const char* op) const;

  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::Float32;
  Device device_ = Device::cpu();
};

std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

}  // namespace baton
