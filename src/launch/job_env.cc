// The environment of each rank, job ids and free ports.
#include "launch/job_env.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "baton/error.hpp"
#include "core/socket.hpp"

namespace baton::launch {
void validate(const JobLayout& layout) {
  auto fail = [](const std::string& what) { throw InvalidArgument("job layout: " + what); };
  if (layout.nnodes < 1) fail("nnodes must be at least 1, got " + std::to_string(layout.nnodes));
  if (layout.nproc_per_node < 1) {
    fail("nproc_per_node must be at least 1, got " + std::to_string(layout.nproc_per_node));
  }
  if (layout.node_rank < 0 || layout.node_rank >= layout.nnodes) {
    fail("node_rank must be in [0, " + std::to_string(layout.nnodes - 1) + "] for " +
         std::to_string(layout.nnodes) + " nodes, got " + std::to_string(layout.node_rank));
  }
  if (layout.master_port < 1 || layout.master_port > 65535) {
    fail("master_port must be in [1, 65535], got " + std::to_string(layout.master_port));
  }
  if (layout.store_port < 0 || layout.store_port > 65535) {
    fail("store_port must be in [0, 65535] (0: master_port), got " +
         std::to_string(layout.store_port));
  }
  if (layout.master_addr.empty()) fail("master_addr is empty");
  if (layout.max_restarts < 0) {
    fail("max_restarts must be at least 0, got " + std::to_string(layout.max_restarts));
  }
  if (layout.restart_count < 0 || layout.restart_count > layout.max_restarts) {
    fail("restart_count must be in [0, " + std::to_string(layout.max_restarts) + "], got " +
         std::to_string(layout.restart_count));
  }
}

EnvList rank_environment(const JobLayout& layout, int local_rank) {
  const std::string rank = std::to_string(layout.global_rank(local_rank));
  const std::string world_size = std::to_string(layout.world_size());
  const int store_port = layout.store_port != 0 ? layout.store_port : layout.master_port;
  EnvList env = {
      {"RANK", rank},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"WORLD_SIZE", world_size},
      {"LOCAL_WORLD_SIZE", std::to_string(layout.nproc_per_node)},
      {"GROUP_RANK", std::to_string(layout.node_rank)},
      {"GROUP_WORLD_SIZE", std::to_string(layout.nnodes)},
      {"ROLE_NAME", "default"},
      {"ROLE_RANK", rank},
      {"ROLE_WORLD_SIZE", world_size},
      {"MASTER_ADDR", layout.master_addr},
      {"MASTER_PORT", std::to_string(layout.master_port)},
      {"BATON_STORE_ADDR", layout.store_addr.empty() ? layout.master_addr : layout.store_addr},
      {"BATON_STORE_PORT", std::to_string(store_port)},
      {"BATON_JOB_ID", layout.job_id},
      {"BATON_SECRET", layout.secret},
      {"BATON_SECRET_FILE", layout.secret_file},
      {"BATON_AGENT_STORE", layout.agent_store ? "1" : "0"},
      {"TORCHELASTIC_RUN_ID", layout.job_id.empty() ? "none" : layout.job_id},
      {"TORCHELASTIC_USE_AGENT_STORE", "False"},
      {"TORCHELASTIC_RESTART_COUNT", std::to_string(layout.restart_count)},
      {"TORCHELASTIC_MAX_RESTARTS", std::to_string(layout.max_restarts)},
      {"BATON_RESTART_COUNT", std::to_string(layout.restart_count)},
  };
  if (!layout.flight_dir.empty()) env.emplace_back("BATON_FLIGHT_DIR", layout.flight_dir);
  return env;
}

int find_free_port(const std::string& address) {
  UniqueFd fd = net::listen_tcp(address, 0, 1);
  return net::local_address(fd.get()).port();
}

}  // namespace baton::launch
