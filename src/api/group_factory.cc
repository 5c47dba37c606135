// make_group_backend: one BackendConfig per group, from the job and the group.
#include "api/group_factory.hpp"

#include "backends/registry.hpp"
#include "core/config.hpp"

namespace baton::api {

std::string resolve_backend(const std::string& requested) {
  std::string name = requested;
  if (name == "auto") {
    const std::string chosen = config::get_string("BATON_BACKEND");
    name = chosen.empty() || chosen == "auto" ? "native" : chosen;
  }
  backends::check_backend_name(name);
  return name;
}

std::shared_ptr<backends::Backend> make_group_backend(const JobView& job, const GroupSpec& group) {
  backends::BackendConfig config;
  config.store = group.store;
  config.group_name = group.name;
  config.group_key = group.key;
  config.rank = group.group_rank;
  config.size = static_cast<int>(group.members.size());
  config.world_ranks = group.shown_ranks.empty() ? group.members : group.shown_ranks;
  config.timeout = job.timeout;
  config.job_id = job.job_id;
  config.listen_address = job.publish_host;
  config.secret = job.secret;
  for (int r : group.members) {
    const auto index = static_cast<size_t>(r);
    config.hosts.push_back(index < job.hosts.size() ? job.hosts[index]
                                                    : rendezvous::HostIdentity{});
    config.pids.push_back(index < job.pids.size() ? job.pids[index] : 0);
  }
  return backends::make_backend(job.backend, config);
}

}  // namespace baton::api
