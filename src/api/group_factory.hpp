// Making a group's backend: what every group of a job shares (backend name,
// timeout, job id, where each rank runs) plus the group's own members.
//
// Used by init_process_group and new_group(ranks) (groups of the default
// process group) and by new_group(store, rank, size) (a group on its own).
//
// Thread safety: pure functions; the backend factories they call block
// until the group's connections are up.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "backends/backend.hpp"
#include "baton/store.hpp"
#include "rendezvous/host_identity.hpp"

namespace baton::api {

// What the rendezvous taught about a job's ranks, indexed by job rank.
struct JobView {
  std::string backend;  // "native", "mpi", ...
  std::chrono::milliseconds timeout{0};
  std::string job_id;
  std::vector<rendezvous::HostIdentity> hosts;  // per job rank (may be empty: unknown)
  std::vector<int64_t> pids;                    // per job rank (may be empty: unknown)
  std::string publish_host;                     // the address the transports publish
  std::shared_ptr<const auth::Secret> secret;   // the job secret; nullptr: none
};

struct GroupSpec {
  std::string name;  // "world", "group 1": for messages
  std::string key;   // "world", "group1": unique within the job
  // The members' job ranks, in group-rank order (indices into JobView's lists).
  std::vector<int> members;
  // The ranks messages show, in group-rank order; empty: members.
  std::vector<int> shown_ranks;
  int group_rank = 0;
  std::shared_ptr<Store> store;  // the group's own namespace
};

// The backend `requested` names: "auto" defers to BATON_BACKEND (so
// unchanged programs can be pointed at another backend, e.g. under mpirun),
// then to native. Throws as make_backend() would for an unknown name.
std::string resolve_backend(const std::string& requested);

// Blocks until the group's connections are up; throws what the backend's
// factory throws.
std::shared_ptr<backends::Backend> make_group_backend(const JobView& job, const GroupSpec& group);

}  // namespace baton::api
