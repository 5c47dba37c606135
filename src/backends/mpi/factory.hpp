// The mpi backend's factory, and the rank and world size MPI gives.
//
// Thread safety: may be called from any thread.
#pragma once

#include <memory>

#include "backends/backend.hpp"
#include "backends/backend_config.hpp"
#include "backends/registry.hpp"

namespace baton::backends::mpi {

// This process's rank and world size in MPI_COMM_WORLD, initialising MPI
// (MPI_Init_thread) on the first call. Blocks while MPI initialises. Throws
// UnsupportedError when the program initialised MPI below
// MPI_THREAD_SERIALIZED, Error with MPI's text when initialisation fails.
OwnWorld mpi_world();

// Makes the group's communicator and returns the backend. The world
// (config.group_key "world") duplicates MPI_COMM_WORLD; any other group is
// made with MPI_Comm_create_group over config.world_ranks, after the members
// have checked that they were all given the same list. Blocks until every
// member has joined, at most config.timeout (TimeoutError naming the group);
// MismatchError when members were given different lists (naming both).
std::shared_ptr<Backend> make_mpi_backend(const BackendConfig& config);

}  // namespace baton::backends::mpi
