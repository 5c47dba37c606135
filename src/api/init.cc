// Process group lifetime: init_process_group, world, new_group,
// destroy_process_group.
//
// The process's state lives in one object behind a mutex. Lifecycle calls
// (init, new_group, destroy) are serialised by a second mutex so that the
// slow parts (rendezvous, connecting) do not block world(), which every
// operation calls for its default group argument.
//
// Store layout: every process group (one per init_process_group, told apart
// by the rendezvous round) works under "baton/pg/<job id>/<round>/", and each
// group under "group/<n>/" inside it (n = 0 for the world, then 1, 2, ... in
// new_group order, which every rank follows), so groups never read each
// other's keys and each gets its own connections.
#include <algorithm>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

#include "api/group_factory.hpp"
#include "api/group_state.hpp"
#include "backends/registry.hpp"
#include "baton/distributed.hpp"
#include "baton/error.hpp"
#include "baton/hash_store.hpp"
#include "baton/prefix_store.hpp"
#include "baton/tcp_store.hpp"
#include "core/config.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "rendezvous/rendezvous.hpp"

namespace baton {
namespace {

constexpr auto kSubsys = log::Subsys::kColl;

struct ProcessGroup {
  std::shared_ptr<Store> job_store;  // the rendezvous store (rank 0 may serve it)
  std::shared_ptr<Store> store;      // "baton/pg/<job id>/<round>" inside it
  std::string backend;
  std::chrono::milliseconds timeout{0};
  int rank = 0;
  int world_size = 1;
  std::string job_id;
  std::vector<rendezvous::HostIdentity> hosts;
  std::vector<int64_t> pids;  // per world rank, from the rendezvous (empty: unknown)
  std::string publish_host;   // the rendezvous' choice of address for the transports
  std::shared_ptr<const auth::Secret> secret;  // the job secret; nullptr: none
  // The backend brought its own world (no rendezvous, no shared store): it
  // checks new_group's member lists itself.
  bool own_world = false;
  // This process serves the job's TcpStore (rank 0 under env:// or tcp://
  // without a launcher's store), made by the rendezvous, not by the user.
  bool serves_store = false;
  std::shared_ptr<detail::GroupState> world;
  // Every group made by new_group, members or not, for destroy.
  std::vector<std::shared_ptr<detail::GroupState>> groups;
  int next_group = 1;
};

std::mutex g_lifecycle_mu;  // serialises init, new_group and destroy
std::mutex g_mu;
std::shared_ptr<ProcessGroup> g_pg;  // GUARDED_BY(g_mu)

// The rank that serves the job's store may finish first (its sends complete
// as soon as shared memory holds them) while other ranks still read the
// store for the last steps of their setup. Its server stays up until every
// other rank has closed its connection (left the job or exited), bounded by
// the job's timeout, so nobody finds the store gone.
void linger_store_server(const ProcessGroup& pg) {
  if (!pg.serves_store) return;
  auto* server = static_cast<TcpStore*>(pg.job_store.get())->server();
  const auto deadline = std::chrono::steady_clock::now() + pg.timeout;
  bool logged = false;
  // One connection is this process's own client.
  while (server->stats().connections_open > 1 && std::chrono::steady_clock::now() < deadline) {
    if (!logged) {
      BATON_LOG_INFO(kSubsys) << "rank " << pg.rank << " keeps the job's store up until "
                              << server->stats().connections_open - 1 << " other rank(s) leave";
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::shared_ptr<ProcessGroup> current() {
  std::lock_guard lock(g_mu);
  return g_pg;
}

std::shared_ptr<ProcessGroup> require(std::string_view op) {
  auto pg = current();
  if (!pg) {
    throw InvalidArgument(
        std::string(op) +
        ": the process group is not initialized; call init_process_group() first");
  }
  return pg;
}

std::string list_ranks(const std::vector<int>& ranks) {
  return "[" + rank_list(ranks) + "]";
}

std::shared_ptr<backends::Backend> make_group_backend(const ProcessGroup& pg, int index,
                                                      const std::string& name,
                                                      const std::vector<int>& world_ranks,
                                                      int group_rank,
                                                      std::shared_ptr<Store> group_store) {
  const api::JobView job{.backend = pg.backend,
                         .timeout = pg.timeout,
                         .job_id = pg.job_id,
                         .hosts = pg.hosts,
                         .pids = pg.pids,
                         .publish_host = pg.publish_host,
                         .secret = pg.secret};
  return api::make_group_backend(job,
                                 {.name = name,
                                  .key = index == 0 ? "world" : "group" + std::to_string(index),
                                  .members = world_ranks,
                                  .shown_ranks = {},
                                  .group_rank = group_rank,
                                  .store = std::move(group_store)});
}

}  // namespace

void init_process_group(const InitOptions& options) {
  std::lock_guard lifecycle(g_lifecycle_mu);
  if (auto pg = current()) {
    throw InvalidArgument("init_process_group: already initialized (rank " +
                          std::to_string(pg->rank) + " of " + std::to_string(pg->world_size) +
                          "); call destroy_process_group() first");
  }
  const std::string backend_name = api::resolve_backend(options.backend);
  const auto timeout =
      options.timeout.count() > 0 ? options.timeout : config::get_duration("BATON_TIMEOUT");
  // Before anything connects: a misconfigured secret fails here, on every rank.
  std::shared_ptr<const auth::Secret> secret = auth::Secret::resolve(options.secret);

  // A backend that brings its own world (mpi: rank and size from MPI) needs
  // no rendezvous: its groups connect through the backend itself, so the
  // store is a private in-memory one that only satisfies BackendConfig.
  rendezvous::Result joined;
  const auto own = backends::own_world(backend_name);
  if (own) {
    if ((options.rank >= 0 && options.rank != own->rank) ||
        (options.world_size >= 0 && options.world_size != own->size)) {
      throw InvalidArgument("init_process_group: the " + backend_name + " backend gives rank " +
                            std::to_string(own->rank) + " of " + std::to_string(own->size) +
                            " but InitOptions asks for rank " + std::to_string(options.rank) +
                            " of " + std::to_string(options.world_size) +
                            "; leave rank and world_size at -1");
    }
    joined.store = std::make_shared<HashStore>();
    joined.rank = own->rank;
    joined.world_size = own->size;
    joined.job_id = config::get_string("BATON_JOB_ID");
    if (joined.job_id.empty()) joined.job_id = backend_name;
  } else {
    rendezvous::Request request;
    request.init_method = options.init_method;
    request.rank = options.rank;
    request.world_size = options.world_size;
    request.timeout = timeout;
    request.store = options.store;
    request.secret = options.secret;
    joined = rendezvous::rendezvous(request);
  }

  auto pg = std::make_shared<ProcessGroup>();
  pg->job_store = joined.store;
  pg->store = std::make_shared<PrefixStore>(
      "baton/pg/" + joined.job_id + "/" + std::to_string(joined.round), joined.store);
  pg->backend = backend_name;
  pg->own_world = own.has_value();
  if (auto* tcp = dynamic_cast<TcpStore*>(joined.store.get()); tcp && !options.store) {
    pg->serves_store = tcp->server() != nullptr;
  }
  pg->timeout = timeout;
  pg->rank = joined.rank;
  pg->world_size = joined.world_size;
  pg->job_id = joined.job_id;
  pg->hosts = joined.hosts;
  pg->pids = joined.pids;
  pg->publish_host = joined.publish_host;
  pg->secret = std::move(secret);

  std::vector<int> everyone(static_cast<size_t>(pg->world_size));
  std::iota(everyone.begin(), everyone.end(), 0);
  auto world_store = std::make_shared<PrefixStore>("group/0", pg->store);
  auto backend = make_group_backend(*pg, 0, "world", everyone, pg->rank, world_store);
  pg->world =
      std::make_shared<detail::GroupState>("world", std::move(everyone), pg->rank, timeout,
                                           pg->backend, std::move(backend), std::move(world_store));
  BATON_LOG_INFO(kSubsys) << "rank " << pg->rank << " of " << pg->world_size << " joined job "
                          << pg->job_id << " (" << pg->backend << " backend)";
  std::lock_guard lock(g_mu);
  g_pg = std::move(pg);
}

bool is_initialized() {
  return current() != nullptr;
}

void destroy_process_group() {
  std::lock_guard lifecycle(g_lifecycle_mu);
  std::shared_ptr<ProcessGroup> pg;
  {
    std::lock_guard lock(g_mu);
    pg = std::move(g_pg);
  }
  if (!pg) return;
  // Subgroups first (newest first), then the world.
  for (auto it = pg->groups.rbegin(); it != pg->groups.rend(); ++it) (*it)->shutdown();
  pg->world->shutdown();
  linger_store_server(*pg);
}

Group world() {
  return Group(require("world")->world);
}

int get_rank(const Group& group) {
  if (group.state() == nullptr) {
    throw InvalidArgument("get_rank: the group handle refers to no group");
  }
  return group.rank();
}

int get_world_size(const Group& group) {
  if (group.state() == nullptr) {
    throw InvalidArgument("get_world_size: the group handle refers to no group");
  }
  return group.is_member() ? group.size() : -1;
}

Group new_group(std::vector<int> ranks) {
  std::lock_guard lifecycle(g_lifecycle_mu);
  auto pg = require("new_group");
  if (ranks.empty()) {  // as torch: no ranks means every rank
    ranks.resize(static_cast<size_t>(pg->world_size));
    std::iota(ranks.begin(), ranks.end(), 0);
  }
  std::vector<bool> seen(static_cast<size_t>(pg->world_size), false);
  for (int r : ranks) {
    if (r < 0 || r >= pg->world_size) {
      throw InvalidArgument(
          "new_group: rank " + std::to_string(r) + " is not a rank of the world (a world of " +
          std::to_string(pg->world_size) + "); ranks given: " + list_ranks(ranks));
    }
    if (seen[static_cast<size_t>(r)]) {
      throw InvalidArgument("new_group: rank " + std::to_string(r) + " appears twice in " +
                            list_ranks(ranks));
    }
    seen[static_cast<size_t>(r)] = true;
  }
  const int index = pg->next_group++;
  const std::string name = "group " + std::to_string(index);
  const auto it = std::find(ranks.begin(), ranks.end(), pg->rank);
  const int group_rank = it == ranks.end() ? -1 : static_cast<int>(it - ranks.begin());

  std::shared_ptr<backends::Backend> backend;
  std::shared_ptr<Store> group_store;
  if (group_rank >= 0) {
    group_store = std::make_shared<PrefixStore>("group/" + std::to_string(index), pg->store);
    // The members must agree on the list: each publishes its own and reads
    // everyone else's (a few store round trips, once per group).
    const std::string mine = list_ranks(ranks);
    if (!pg->own_world) group_store->set("members/" + std::to_string(pg->rank), mine);
    for (int r : ranks) {
      if (r == pg->rank || pg->own_world) continue;
      const std::string theirs = group_store->get_string("members/" + std::to_string(r));
      if (theirs != mine) {
        throw MismatchError("new_group: world rank " + std::to_string(pg->rank) + " was given " +
                            mine + " but world rank " + std::to_string(r) + " was given " + theirs +
                            "; every rank must pass the same list");
      }
    }
    backend = make_group_backend(*pg, index, name, ranks, group_rank, group_store);
  }
  auto state =
      std::make_shared<detail::GroupState>(name, std::move(ranks), group_rank, pg->timeout,
                                           pg->backend, std::move(backend), std::move(group_store));
  pg->groups.push_back(state);
  return Group(std::move(state));
}

}  // namespace baton
