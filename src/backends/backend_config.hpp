// BackendConfig: what a backend factory is given to set up one group.
//
// Thread safety: a plain value type.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "baton/store.hpp"
#include "rendezvous/host_identity.hpp"

namespace baton::backends {

// What a backend needs to set up one group.
struct BackendConfig {
  // The group's own namespace in the job's store (connections are set up
  // through it); shared by the group's ranks only.
  std::shared_ptr<Store> store;
  // For messages and logs: "world", "group 1".
  std::string group_name;
  // Tells the group apart in connection handshakes and transport logs
  // ("world", "group1"); unique within the process group.
  std::string group_key;
  int rank = 0;  // this process's group rank
  int size = 1;
  std::vector<int> world_ranks;  // per group rank
  // The group's timeout: bounds every operation and the connection setup.
  std::chrono::milliseconds timeout{0};
  // The job's id from the rendezvous (same on every rank).
  std::string job_id;
  // Where each group rank runs (per group rank).
  std::vector<rendezvous::HostIdentity> hosts;
  // Per group rank: the pid it joined the rendezvous with, 0 where unknown.
  std::vector<int64_t> pids;
  // The address this rank's TCP transport listens on and publishes
  // (rendezvous::Result::publish_host); "" lets the transport pick.
  std::string listen_address;
  // The job secret every connection of the group proves; nullptr: none.
  std::shared_ptr<const auth::Secret> secret;
};

}  // namespace baton::backends
