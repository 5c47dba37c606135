// The mpi backend's factory: a communicator per group.
#include "backends/mpi/factory.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "backends/mpi/mpi_backend.hpp"
#include "backends/mpi/runtime.hpp"
#include "baton/error.hpp"
#include "core/describe.hpp"

namespace baton::backends::mpi {
namespace {

// Tags on the runtime's control communicator.
constexpr int kMembersTag = 1;
constexpr int kCreateGroupTag = 2;

std::string list_ranks(const int* ranks, size_t n) {
  return "[" + rank_list(std::vector<int>(ranks, ranks + n)) + "]";
}

// Every member sends its member list to every other member and compares
// what it receives with its own (on the engine, without blocking it).
void agree_on_members(const BackendConfig& config) {
  Runtime& runtime = Runtime::get();
  const std::vector<int>& members = config.world_ranks;
  const int me = runtime.world_rank();
  const size_t capacity = static_cast<size_t>(runtime.world_size()) + 1;
  auto received = std::make_shared<std::vector<std::vector<int>>>();
  auto task = std::make_unique<Task>();
  const std::string what = "new_group (" + config.group_name + ", mpi backend)";
  auto work = std::make_shared<detail::WorkState>(detail::WorkState::Options{.description = what});
  task->work = work;
  task->start = [members, me, capacity, received, comm = runtime.control_comm()](Task& t) {
    for (int peer : members) {
      if (peer == me) continue;
      t.requests.emplace_back();
      check(MPI_Isend(members.data(), static_cast<int>(members.size()), MPI_INT, peer, kMembersTag,
                      comm, &t.requests.back()),
            "new_group: sending the member list");
    }
    for (int peer : members) {
      if (peer == me) continue;
      received->emplace_back(capacity);
      t.requests.emplace_back();
      check(MPI_Irecv(received->back().data(), static_cast<int>(capacity), MPI_INT, peer,
                      kMembersTag, comm, &t.requests.back()),
            "new_group: receiving a member list");
    }
  };
  task->finish = [members, me, received, what](Task& t) {
    const size_t sends = members.size() - 1;
    for (size_t k = 0; k < received->size(); ++k) {
      const MPI_Status& status = t.statuses[sends + k];
      int count = 0;
      MPI_Get_count(&status, MPI_INT, &count);
      const auto& theirs = (*received)[k];
      if (static_cast<size_t>(count) != members.size() ||
          !std::equal(members.begin(), members.end(), theirs.begin())) {
        throw MismatchError("new_group: world rank " + std::to_string(me) + " was given " +
                            list_ranks(members.data(), members.size()) + " but world rank " +
                            std::to_string(status.MPI_SOURCE) + " was given " +
                            list_ranks(theirs.data(), static_cast<size_t>(count)) +
                            "; every rank must pass the same list (mpi backend)");
      }
    }
    return -1;
  };
  runtime.submit(std::move(task));
  if (!work->wait_until(detail::WorkState::Clock::now() + config.timeout)) {
    throw TimeoutError(what + ": not every member of " +
                       list_ranks(members.data(), members.size()) + " called new_group within " +
                       std::to_string(config.timeout.count()) + " ms");
  }
  if (auto error = work->error()) std::rethrow_exception(error);
}

}  // namespace

OwnWorld mpi_world() {
  Runtime& runtime = Runtime::get();
  return OwnWorld{.rank = runtime.world_rank(), .size = runtime.world_size()};
}

std::shared_ptr<Backend> make_mpi_backend(const BackendConfig& config) {
  Runtime& runtime = Runtime::get();
  const bool is_world = config.group_key == "world";
  if (is_world && config.size != runtime.world_size()) {
    throw InvalidArgument("mpi backend: the world has " + std::to_string(config.size) +
                          " ranks but MPI_COMM_WORLD has " + std::to_string(runtime.world_size()));
  }
  if (!is_world) agree_on_members(config);
  // Shared with the engine: run_sync may give up before the engine runs it.
  struct Made {
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0, size = 1, tag_ub = 32767;
  };
  auto made = std::make_shared<Made>();
  const std::string what = "mpi backend: making the communicator of group " + config.group_name;
  runtime.run_sync(
      [made, is_world, what, ranks = config.world_ranks, control = runtime.control_comm()] {
        if (is_world) {
          check(MPI_Comm_dup(MPI_COMM_WORLD, &made->comm), what + " (MPI_Comm_dup)");
        } else {
          MPI_Group world_group = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
          check(MPI_Comm_group(MPI_COMM_WORLD, &world_group), what + " (MPI_Comm_group)");
          check(MPI_Group_incl(world_group, static_cast<int>(ranks.size()), ranks.data(), &group),
                what + " (MPI_Group_incl)");
          const int rc = MPI_Comm_create_group(control, group, kCreateGroupTag, &made->comm);
          MPI_Group_free(&group);
          MPI_Group_free(&world_group);
          check(rc, what + " (MPI_Comm_create_group)");
        }
        Runtime::get().adopt(made->comm);
        MPI_Comm_set_errhandler(made->comm, MPI_ERRORS_RETURN);
        check(MPI_Comm_rank(made->comm, &made->rank), what + " (MPI_Comm_rank)");
        check(MPI_Comm_size(made->comm, &made->size), what + " (MPI_Comm_size)");
        void* value = nullptr;
        int found = 0;
        MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &value, &found);
        if (found && value) made->tag_ub = *static_cast<int*>(value);
      },
      config.timeout, what);
  const int rank = made->rank, size = made->size;
  if (rank != config.rank || size != config.size) {
    throw ProtocolError(what + ": MPI gives rank " + std::to_string(rank) + " of " +
                        std::to_string(size) + ", Baton expected rank " +
                        std::to_string(config.rank) + " of " + std::to_string(config.size));
  }
  return std::make_shared<MpiBackend>(made->comm, rank, size, config.group_name, config.timeout,
                                      made->tag_ub);
}

}  // namespace baton::backends::mpi
