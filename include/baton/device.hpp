// Device: where a tensor's memory lives (the host, or one CUDA device).
//
// Thread safety: a plain value type.
#pragma once

#include <ostream>
#include <string>

namespace baton {

enum class DeviceType { CPU, CUDA };

struct Device {
  constexpr Device() = default;  // the CPU
  static constexpr Device cpu() { return Device(DeviceType::CPU, -1); }
  static Device cuda(int index);  // throws InvalidArgument for a negative index

  DeviceType type() const { return type_; }
  int index() const { return index_; }  // -1 for the CPU
  bool is_cpu() const { return type_ == DeviceType::CPU; }
  bool is_cuda() const { return type_ == DeviceType::CUDA; }
  std::string str() const;  // "cpu" or "cuda:<index>"

  friend bool operator==(const Device&, const Device&) = default;

 private:
  constexpr Device(DeviceType type, int index) : type_(type), index_(index) {}
  DeviceType type_ = DeviceType::CPU;
  int index_ = -1;
};

std::ostream& operator<<(std::ostream& os, const Device& device);

}  // namespace baton
