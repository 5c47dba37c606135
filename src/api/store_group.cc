// Groups made from a store (new_group(store, rank, size)) and destroy_group.
//
// A store group is a job of its own: its members meet through the given
// store with the same join as init_process_group (rendezvous/join.hpp: host
// identities and pids, so the native backend picks shm inside a host and
// tcp across), under a job id the join makes up, so that two store groups
// in one process never share connection handshakes or shared-memory
// segments even when BATON_JOB_ID is set. Nothing global is touched: no
// default group, no lifecycle lock.
//
// Store layout (inside the given store):
//   baton/rdzv/-/...    the join (rendezvous/join.hpp)
//   baton/group/...     the backend's setup keys and monitored_barrier
#include <numeric>

#include "api/group_factory.hpp"
#include "api/group_state.hpp"
#include "backends/registry.hpp"
#include "baton/distributed.hpp"
#include "baton/error.hpp"
#include "baton/prefix_store.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "rendezvous/address.hpp"
#include "rendezvous/join.hpp"

namespace baton {
namespace {

std::string chosen_backend(const std::string& requested) {
  const std::string name = api::resolve_backend(requested);
  if (backends::own_world(name)) {
    throw UnsupportedError("new_group(store, rank, size): the " + name +
                           " backend brings its own world and makes groups with "
                           "new_group(ranks) only; use backend \"native\"");
  }
  return name;
}

void check_arguments(const std::shared_ptr<Store>& store, int rank, int size,
                     const GroupOptions& options) {
  const std::string op = "new_group(store, rank, size)";
  if (!store) throw InvalidArgument(op + ": the store is null");
  if (size < 1) throw InvalidArgument(op + ": size " + std::to_string(size) + " is below 1");
  if (rank < 0 || rank >= size) {
    throw InvalidArgument(op + ": rank " + std::to_string(rank) + " is not a rank of a group of " +
                          std::to_string(size));
  }
  if (!options.world_ranks.empty() && options.world_ranks.size() != static_cast<size_t>(size)) {
    throw InvalidArgument(op + ": world_ranks has " + std::to_string(options.world_ranks.size()) +
                          " entries; expected " + std::to_string(size) + ", one per member");
  }
  if (options.timeout.count() < 0) {
    throw InvalidArgument(op + ": timeout " + std::to_string(options.timeout.count()) +
                          " ms is negative (0 means BATON_TIMEOUT)");
  }
}

}  // namespace

Group new_group(std::shared_ptr<Store> store, int rank, int size, const GroupOptions& options) {
  check_arguments(store, rank, size, options);
  const std::string backend = chosen_backend(options.backend);
  const auto timeout =
      options.timeout.count() > 0 ? options.timeout : config::get_duration("BATON_TIMEOUT");
  const std::string name = options.name.empty() ? "store group" : options.name;

  rendezvous::JoinOptions join;
  join.rank = rank;
  join.world_size = size;
  join.job_id = "";  // made up by the join: unique to this group
  join.self = rendezvous::local_host_identity();
  join.deadline = rendezvous::Clock::now() + timeout;
  join.timeout = timeout;
  const rendezvous::JoinResult joined = rendezvous::join(*store, join);

  std::vector<int> members(static_cast<size_t>(size));
  std::iota(members.begin(), members.end(), 0);
  std::vector<int> shown = options.world_ranks.empty() ? members : options.world_ranks;
  auto group_store = std::make_shared<PrefixStore>("baton/group", store);
  const api::JobView job{.backend = backend,
                         .timeout = timeout,
                         .job_id = joined.job_id,
                         .hosts = joined.hosts,
                         .pids = joined.pids,
                         .publish_host = rendezvous::publish_host(std::nullopt),
                         .secret = auth::Secret::resolve(options.secret)};
  auto made = api::make_group_backend(job, {.name = name,
                                            .key = "group",
                                            .members = members,
                                            .shown_ranks = shown,
                                            .group_rank = rank,
                                            .store = group_store});
  BATON_LOG_INFO(log::Subsys::kColl)
      << name << ": rank " << rank << " of " << size << " joined (job " << joined.job_id << ", "
      << backend << " backend)";
  return Group(std::make_shared<detail::GroupState>(name, std::move(shown), rank, timeout, backend,
                                                    std::move(made), std::move(group_store)));
}

void destroy_group(const Group& group) {
  auto* state = group.state();
  if (state == nullptr) throw InvalidArgument("destroy_group: the group handle refers to no group");
  if (state->name() == "world") {
    throw InvalidArgument("destroy_group: the world group is destroyed by destroy_process_group()");
  }
  state->shutdown();
}

}  // namespace baton
