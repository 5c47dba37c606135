// The native backend's factory: picks the transport and builds the backend.
//
// BATON_TRANSPORT (auto, shm, tcp) and the group's host identities decide:
//   auto: every rank on one host → shm; every rank on its own host → tcp;
//         otherwise the routing context (shm inside a host, tcp across).
//         Where /dev/shm is missing or cannot hold the segment, every rank
//         falls back to tcp alike, with a logged warning.
//   shm:  every rank must share this host (InvalidArgument naming the ranks
//         that do not); a /dev/shm failure is an error.
//   tcp:  tcp between every pair.
// Hosts are compared by HostIdentity (hostname + boot id) from the
// rendezvous; without identities (a config built by hand, or an empty
// identity for this rank) the hosts are unknown and auto picks tcp.
// All ranks decide alike, from the same identities and the same tunable.
#include "backends/native/factory.hpp"

#include <algorithm>
#include <cctype>

#include "backends/native/native_backend.hpp"
#include "backends/native/op_format.hpp"
#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "transport/mixed/factory.hpp"
#include "transport/shm/factory.hpp"
#include "transport/tcp/factory.hpp"

namespace baton::backends::native {
namespace {

enum class Choice { kShm, kTcp, kMixed };

// Whether the rendezvous gave every rank's host identity.
bool hosts_known(const BackendConfig& config) {
  if (config.hosts.size() != static_cast<size_t>(config.size)) return false;
  const auto& me = config.hosts[static_cast<size_t>(config.rank)];
  return !me.hostname.empty() || !me.boot_id.empty();
}

// host_of[r]: the host of rank r, numbered in the order of their lowest rank.
std::vector<int> host_numbers(const BackendConfig& config) {
  std::vector<int> host_of(config.hosts.size(), -1);
  int hosts = 0;
  for (size_t r = 0; r < config.hosts.size(); ++r) {
    if (host_of[r] >= 0) continue;
    host_of[r] = hosts;
    for (size_t q = r + 1; q < config.hosts.size(); ++q) {
      if (config.hosts[q] == config.hosts[r]) host_of[q] = hosts;
    }
    ++hosts;
  }
  return host_of;
}

std::string mode_text() {
  std::string mode = config::get_string("BATON_TRANSPORT");
  for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (mode != "auto" && mode != "shm" && mode != "tcp") {
    throw InvalidArgument("BATON_TRANSPORT='" + mode +
                          "' is not a transport: use auto, shm or tcp");
  }
  return mode;
}

}  // namespace

std::shared_ptr<Backend> make_native_backend(const BackendConfig& config) {
  transport::TcpOptions tcp;
  tcp.timeout = config.timeout;
  tcp.job_id = config.job_id;
  tcp.listen_address = config.listen_address;
  tcp.secret = config.secret;
  tcp.describe_op = &describe_op;
  transport::ShmOptions shm;
  shm.timeout = config.timeout;
  shm.job_id = config.job_id;
  shm.describe_op = &describe_op;

  const std::string mode = mode_text();
  const bool known = hosts_known(config);
  const std::vector<int> host_of = known ? host_numbers(config) : std::vector<int>{};
  const auto same_host = [&](int r) {
    return known && host_of[static_cast<size_t>(r)] == host_of[static_cast<size_t>(config.rank)];
  };
  const int hosts = known ? *std::max_element(host_of.begin(), host_of.end()) + 1 : 0;
  const bool all_here = known && hosts == 1;

  // The pids of this host's ranks, for setup to notice one that exits.
  std::vector<pid_t> local_pids(static_cast<size_t>(config.size), 0);
  for (int r = 0; r < config.size && known; ++r) {
    if (r != config.rank && same_host(r) && static_cast<size_t>(r) < config.pids.size()) {
      local_pids[static_cast<size_t>(r)] = static_cast<pid_t>(config.pids[static_cast<size_t>(r)]);
    }
  }
  shm.peer_pids = local_pids;
  tcp.peer_pids = local_pids;

  Choice choice = Choice::kTcp;
  if (mode == "shm") {
    if (!all_here) {
      std::string away;
      for (int r = 0; r < config.size; ++r) {
        if (!same_host(r)) away += (away.empty() ? "" : ", ") + std::to_string(r);
      }
      throw InvalidArgument(
          config.group_name + ": BATON_TRANSPORT=shm needs every rank on one host, but rank " +
          std::to_string(config.rank) + "'s host (" +
          (known ? config.hosts[static_cast<size_t>(config.rank)].to_string() : "unknown") +
          ") does not run ranks " + (known ? away : "(host identities unknown)") +
          "; use BATON_TRANSPORT=auto or tcp");
    }
    choice = Choice::kShm;
  } else if (mode == "auto" && config.size > 1 && known) {
    if (all_here) {
      choice = Choice::kShm;
    } else if (hosts < config.size) {  // some host runs several ranks
      choice = Choice::kMixed;
    }
  }

  std::unique_ptr<transport::Context> context;
  switch (choice) {
    case Choice::kShm:
      try {
        context = transport::make_shm_context(*config.store, config.group_key, config.rank,
                                              config.size, shm);
      } catch (const IoError& e) {
        // Every rank gets this error alike (the shm setup shares a failure to
        // create or map the segment through the store), so all fall back alike.
        if (mode == "shm") throw;
        BATON_LOG_WARN(log::Subsys::kTransport)
            << config.group_name << " rank " << config.rank
            << ": shared memory is unavailable, falling back to tcp: " << e.what();
        context = transport::make_tcp_context(*config.store, config.group_key, config.rank,
                                              config.size, tcp);
      }
      break;
    case Choice::kMixed:
      context = transport::make_mixed_context(*config.store, config.group_key, config.rank,
                                              config.size, host_of, shm, tcp);
      break;
    case Choice::kTcp:
      context = transport::make_tcp_context(*config.store, config.group_key, config.rank,
                                            config.size, tcp);
      break;
  }
  BATON_LOG_INFO(log::Subsys::kTransport)
      << config.group_name << " rank " << config.rank << " uses transport " << context->name()
      << " (BATON_TRANSPORT=" << mode << ")";
  return std::make_shared<NativeBackend>(std::move(context),
                                         NativeOptions{.group_name = config.group_name,
                                                       .timeout = config.timeout,
                                                       .store = config.store,
                                                       .world_ranks = config.world_ranks});
}

}  // namespace baton::backends::native
