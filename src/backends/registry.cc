// The backend table: one line per backend built into the library.
#include "backends/registry.hpp"

#include "backends/native/factory.hpp"
#if BATON_WITH_MPI
#include "backends/mpi/factory.hpp"
#endif
#include "baton/error.hpp"

namespace baton::backends {
namespace {

using Factory = std::shared_ptr<Backend> (*)(const BackendConfig&);
using WorldFn = OwnWorld (*)();

struct Entry {
  std::string_view name;
  Factory factory;
  WorldFn own_world = nullptr;  // set for backends that bring their own world
};

// Backends built into this library. A new backend adds its line here (behind
// its build option when it has one).
constexpr Entry kBuiltIn[] = {
    {"native", &native::make_native_backend},
#if BATON_WITH_MPI
    {"mpi", &mpi::make_mpi_backend, &mpi::mpi_world},
#endif
};

// Backends Baton has but this build may lack, and the option that builds them.
struct Optional {
  std::string_view name;
  std::string_view option;
};
constexpr Optional kOptional[] = {
    {"mpi", "BATON_WITH_MPI"},
    {"nccl", "BATON_WITH_NCCL"},
};

std::string_view resolve(std::string_view name) {
  return name == "auto" ? "native" : name;
}

const Entry* find(std::string_view name) {
  for (const auto& entry : kBuiltIn) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

std::string built_in_list() {
  std::string out;
  for (const auto& entry : kBuiltIn) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

const Entry& lookup(std::string_view requested) {
  const std::string_view name = resolve(requested);
  if (const Entry* entry = find(name)) return *entry;
  for (const auto& optional : kOptional) {
    if (optional.name == name) {
      throw UnsupportedError("backend '" + std::string(name) +
                             "' is not built in; rebuild with -D" + std::string(optional.option) +
                             "=ON (built in: " + built_in_list() + ")");
    }
  }
  throw InvalidArgument("unknown backend '" + std::string(requested) +
                        "'; expected \"auto\" or one of: " + built_in_list() + ", mpi, nccl");
}

}  // namespace

std::shared_ptr<Backend> make_backend(std::string_view name, const BackendConfig& config) {
  return lookup(name).factory(config);
}

std::optional<OwnWorld> own_world(std::string_view name) {
  const Entry& entry = lookup(name);
  if (entry.own_world == nullptr) return std::nullopt;
  return entry.own_world();
}

std::vector<std::string> built_in_backends() {
  std::vector<std::string> names;
  for (const auto& entry : kBuiltIn) names.emplace_back(entry.name);
  return names;
}

void check_backend_name(std::string_view name) {
  lookup(name);
}

}  // namespace baton::backends
