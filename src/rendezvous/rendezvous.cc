// rendezvous(): parse, discover, make the store, join.
#include "rendezvous/rendezvous.hpp"

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "rendezvous/address.hpp"
#include "rendezvous/env.hpp"
#include "rendezvous/init_method.hpp"
#include "rendezvous/join.hpp"
#include "rendezvous/store_factory.hpp"

namespace baton::rendezvous {
namespace {

// The Request's value, else the URL's; both given and different is an error.
int merge_explicit(int from_request, std::optional<int> from_url, std::string_view name,
                   const std::string& url) {
  if (from_request < 0 || !from_url)
    return from_request >= 0 ? from_request : from_url.value_or(from_request);
  if (from_request != *from_url) {
    throw InvalidArgument("init_method '" + url + "' gives " + std::string(name) + "=" +
                          std::to_string(*from_url) + " but " + std::string(name) + " " +
                          std::to_string(from_request) + " was passed");
  }
  return from_request;
}

std::chrono::milliseconds effective_timeout(std::chrono::milliseconds requested) {
  if (requested.count() < 0) {
    throw InvalidArgument("rendezvous: timeout " + std::to_string(requested.count()) +
                          " ms is negative (0 means BATON_TIMEOUT)");
  }
  return requested.count() > 0 ? requested : config::get_duration("BATON_TIMEOUT");
}

// Whether BATON_AGENT_STORE=1 covers this init method. The launcher serves
// the store at the address env:// reads (BATON_STORE_ADDR:BATON_STORE_PORT,
// each else MASTER_ADDR or MASTER_PORT): env:// meets it there, and so does a
// tcp:// URL that names that address (the same port, and the same host or a
// name that resolves to the same address). Any other tcp:// address is the
// program's own, which its rank 0 serves as usual. When those variables name
// no host or no port, the flag can only mean the tcp:// address itself.
bool launcher_serves(const InitMethod& method, Clock::time_point deadline) {
  if (!config::get_bool("BATON_AGENT_STORE")) return false;
  if (method.scheme == Scheme::kEnv) return true;
  if (method.scheme != Scheme::kTcp) return false;
  const bool has_host = config::env("MASTER_ADDR") || config::env("BATON_STORE_ADDR");
  const bool has_port = config::env("MASTER_PORT") || config::env("BATON_STORE_PORT");
  if (!has_host || !has_port) return true;
  const StoreAddress agent = store_address_from_env();
  if (agent.port != method.port) return false;
  if (agent.host == method.host) return true;
  const auto ours =
      resolve_before(method.host, method.port, deadline, "init_method '" + method.url + "'");
  const auto theirs = resolve_before(agent.host, agent.port, deadline, agent.description);
  for (const net::SocketAddress& a : ours) {
    for (const net::SocketAddress& b : theirs) {
      if (a.to_string() == b.to_string()) return true;
    }
  }
  return false;
}

}  // namespace

Result rendezvous(const Request& request) {
  const auto start = Clock::now();
  const std::chrono::milliseconds timeout = effective_timeout(request.timeout);
  const Clock::time_point deadline = start + timeout;

  // Everything that can be checked without the network, first.
  RankAndSize place;
  InitMethod method;
  if (request.store) {
    place = discover_rank_and_size(request.rank, request.world_size, "rendezvous on a given store");
  } else {
    method = parse_init_method(request.init_method);
    const int rank = merge_explicit(request.rank, method.rank, "rank", method.url);
    const int world_size =
        merge_explicit(request.world_size, method.world_size, "world_size", method.url);
    place = discover_rank_and_size(rank, world_size,
                                   method.scheme == Scheme::kEnv ? "env://" : method.url);
  }
  std::optional<StoreAddress> master;
  if (!request.store && method.scheme == Scheme::kEnv) master = store_address_from_env();
  const std::string job_id = config::get_string("BATON_JOB_ID");

  StoreConnection connection;
  if (request.store) {
    connection.store = request.store;
    connection.description = "the given store";
  } else {
    const bool serve = place.rank == 0 && !launcher_serves(method, deadline);
    switch (method.scheme) {
      case Scheme::kEnv:
        connection = open_tcp_store(master->host, master->port, master->description, serve,
                                    deadline, timeout, request.secret);
        break;
      case Scheme::kTcp:
        connection = open_tcp_store(method.host, method.port, "init_method '" + method.url + "'",
                                    serve, deadline, timeout, request.secret);
        break;
      case Scheme::kFile: connection = open_file_store(method.path, timeout); break;
    }
  }

  JoinOptions options;
  options.rank = place.rank;
  options.world_size = place.world_size;
  options.job_id = job_id;
  options.self = local_host_identity();
  options.deadline = deadline;
  options.timeout = timeout;
  options.hosts_store = connection.hosts_server;
  JoinResult joined = join(*connection.store, options);

  Result result;
  result.store = connection.store;
  result.rank = place.rank;
  result.world_size = place.world_size;
  const LocalPlacement derived = local_placement(joined.hosts, place.rank);
  result.local_rank = place.local_rank.value_or(derived.local_rank);
  result.local_world_size = place.local_world_size.value_or(derived.local_world_size);
  if (result.local_world_size != derived.local_world_size) {
    BATON_LOG_INFO(log::Subsys::kRendezvous)
        << "rank " << place.rank << ": the launcher says " << result.local_world_size
        << " ranks run on this host, the host identities say " << derived.local_world_size
        << "; using the launcher's";
  }
  result.job_id = std::move(joined.job_id);
  result.hosts = std::move(joined.hosts);
  result.pids = std::move(joined.pids);
  result.round = joined.round;
  result.publish_host = connection.publish_host;
  BATON_LOG_INFO(log::Subsys::kRendezvous)
      << "rank " << result.rank << " of " << result.world_size << " (local " << result.local_rank
      << " of " << result.local_world_size << ") joined through " << connection.description
      << " in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
      << " ms";
  return result;
}

}  // namespace baton::rendezvous
