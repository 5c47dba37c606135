// The non-virtual conveniences of baton::Store.
#include "baton/store.hpp"

namespace baton {

void Store::set(std::string_view key, std::string_view value) {
  set(key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
}

std::string Store::get_string(std::string_view key) {
  const Bytes value = get(key);
  return std::string(value.begin(), value.end());
}

}  // namespace baton
