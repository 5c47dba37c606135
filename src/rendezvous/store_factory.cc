// Making the rendezvous store: TcpStore server or client, or FileStore.
#include "rendezvous/store_factory.hpp"

#include <algorithm>

#include "baton/error.hpp"
#include "baton/file_store.hpp"
#include "baton/tcp_store.hpp"
#include "core/log.hpp"
#include "rendezvous/address.hpp"
#include "rendezvous/join.hpp"

namespace baton::rendezvous {
namespace {

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

std::string list_hosts(const std::vector<net::SocketAddress>& addresses) {
  std::string out;
  for (size_t i = 0; i < addresses.size(); ++i) out += (i > 0 ? ", " : "") + addresses[i].host();
  return out;
}

}  // namespace

StoreConnection open_tcp_store(const std::string& host, uint16_t port, std::string_view named_by,
                               bool serve, std::chrono::steady_clock::time_point deadline,
                               std::chrono::milliseconds timeout, const std::string& secret) {
  const std::vector<net::SocketAddress> addresses = resolve_before(host, port, deadline, named_by);
  StoreConnection out;
  std::shared_ptr<TcpStore> store;
  if (serve) {
    const std::optional<net::SocketAddress> local = choose_served_address(addresses);
    if (!local) {
      throw ConnectionError("rendezvous: rank 0 serves the store at " + std::string(named_by) +
                            ", but that resolves to " + list_hosts(addresses) +
                            ", not an address of this host; name an address of rank 0's host, "
                            "or set BATON_AGENT_STORE=1 if a launcher serves the store there");
    }
    out.publish_host = publish_host(*local);
    try {
      store = std::make_shared<TcpStore>(
          local->host(), port,
          TcpStoreOptions{.is_server = true, .timeout = time_left(deadline), .secret = secret});
    } catch (const ConnectionError& e) {
      throw ConnectionError("rendezvous: rank 0 cannot serve the store at " +
                            std::string(named_by) + ": " + e.what());
    }
    out.hosts_server = true;
    out.description =
        "TcpStore " + net::format_host_port(local->host(), store->port()) + " (served here)";
  } else {
    const std::string target = addresses.front().host();
    out.publish_host = publish_host(addresses.front());
    try {
      store = std::make_shared<TcpStore>(
          target, port, TcpStoreOptions{.timeout = time_left(deadline), .secret = secret});
    } catch (const ConnectionError& e) {
      throw ConnectionError("rendezvous: cannot reach the store at " + std::string(named_by) +
                            " (" + net::format_host_port(target, port) + "): " + e.what());
    }
    out.description = "TcpStore " + net::format_host_port(target, port);
  }
  store->set_timeout(timeout);
  out.store = std::move(store);
  BATON_LOG_DEBUG(log::Subsys::kRendezvous)
      << "store: " << out.description << "; this rank publishes " << out.publish_host;
  return out;
}

StoreConnection open_file_store(const std::string& path, std::chrono::milliseconds timeout) {
  StoreConnection out;
  out.publish_host = publish_host(std::nullopt);
  out.store = std::make_shared<FileStore>(
      path, FileStoreOptions{.timeout = timeout, .job_id = std::nullopt});
  out.description = "FileStore " + path;
  BATON_LOG_DEBUG(log::Subsys::kRendezvous)
      << "store: " << out.description << "; this rank publishes " << out.publish_host;
  return out;
}

}  // namespace baton::rendezvous
