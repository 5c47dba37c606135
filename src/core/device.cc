#include "baton/device.hpp"

#include "baton/error.hpp"

namespace baton {

Device Device::cuda(int index) {
  if (index < 0) {
    throw InvalidArgument("Device::cuda: index must be >= 0, got " + std::to_string(index));
  }
  return Device(DeviceType::CUDA, index);
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }

std::ostream& operator<<(std::ostream& os, const Device& device) { return os << device.str(); }

}  // namespace baton
