// Registry: backend names to factories.
//
// init_process_group() and new_group() make each group's backend here, by
// name. Every backend built into the library is one line of the table in
// registry.cc; a backend that exists but was not built ("mpi", "nccl") is
// refused with an UnsupportedError that says how to build it.
//
// Thread safety: make_backend() may be called from any thread; the table is
// constant.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"
#include "backends/backend_config.hpp"

namespace baton::backends {

// Makes a backend. Blocks while it connects to the group's other ranks (up to
// config.timeout). Throws InvalidArgument for an unknown name (listing the
// built-in ones), UnsupportedError for a known backend this build lacks
// ("backend 'mpi' is not built in; rebuild with -DBATON_WITH_MPI=ON"), and
// whatever the backend's setup throws (TimeoutError, ConnectionError).
// "auto" means "native".
std::shared_ptr<Backend> make_backend(std::string_view name, const BackendConfig& config);

// The rank and world size of a backend that brings its own (mpi: from MPI,
// so init_process_group needs no rendezvous, store or MASTER_ADDR).
struct OwnWorld {
  int rank = 0;
  int size = 1;
};
// OwnWorld for `name` when that backend brings its own world, nullopt when
// it needs a rendezvous. Blocks while the backend's runtime starts (mpi:
// MPI_Init_thread); throws what make_backend() would for an unknown or
// missing backend, and the runtime's errors.
std::optional<OwnWorld> own_world(std::string_view name);

// The names of the backends built into this library.
std::vector<std::string> built_in_backends();

// Throws as make_backend() would for `name`, without making anything.
void check_backend_name(std::string_view name);

}  // namespace baton::backends
