// The doctor's network checks: the interface the ranks listen on, the master
// port (bindable on rank 0's host, reachable from the others), and the store
// behind it when one already listens.
//
// Each address is chosen as the job will choose it: the ranks' transports
// listen on rendezvous::publish_host (BATON_SOCKET_IFNAME, else the route to
// the master), and rank 0 binds exactly rendezvous::choose_served_address of
// what --master-addr resolves to, with SO_REUSEADDR as its server does.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "core/config.hpp"
#include "core/describe.hpp"
#include "core/net_interface.hpp"
#include "core/socket.hpp"
#include "launch/doctor/checks.hpp"
#include "rendezvous/address.hpp"

namespace baton::launch::doctor {
namespace {

using Clock = std::chrono::steady_clock;

// What the master-port check learned, for the store check after it.
struct MasterState {
  std::optional<net::SocketAddress> address;  // what --master-addr resolves to, with the port
  bool listening = false;                     // something accepted a connection there
  bool port_failed = false;
};

bool is_loopback(const net::SocketAddress& a) {
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.get());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.get());
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

// What binding an address showed: the errno of bind or listen (0: bound),
// and of a connection from this host to what was bound (the node's other
// ranks connect there; 0: connected).
struct ListenProbe {
  int listen_error = 0;
  int connect_error = 0;
  uint16_t port = 0;  // the port bound
};

// bind + listen on exactly `address` (SO_REUSEADDR, as a TcpStoreServer
// does), then connect to it within `timeout`.
ListenProbe try_listen(const net::SocketAddress& address, std::chrono::milliseconds timeout) {
  ListenProbe probe;
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  const int one = 1;
  if (fd) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!fd || ::bind(fd.get(), address.get(), address.length()) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    probe.listen_error = errno;
    return probe;
  }
  const net::SocketAddress bound = net::local_address(fd.get());
  probe.port = bound.port();
  const net::ConnectResult r = net::connect_tcp(bound, Clock::now() + timeout);
  probe.connect_error = r.fd ? 0 : r.error;
  return probe;
}

std::string interface_name(const net::SocketAddress& address) {
  try {
    for (const net::Interface& i : net::list_interfaces()) {
      if (i.address.family() == address.family() && i.address.host() == address.host()) {
        return i.name;
      }
    }
  } catch (const Error&) {
  }
  return is_loopback(address) ? "lo" : "";
}

// How to bring up the interface of `address`.
std::string bring_up(const net::SocketAddress& address) {
  const std::string name = interface_name(address);
  return name.empty() ? "bring up the interface of " + address.host()
                      : "bring " + name + " up (`ip link set " + name + " up`)";
}

DoctorRow check_interface(const DoctorOptions& o, const std::optional<net::SocketAddress>& master) {
  const std::string name = "interface";
  const std::string ifname = config::get_string("BATON_SOCKET_IFNAME");
  std::string host;
  try {
    host = rendezvous::publish_host(master);
  } catch (const Error& e) {
    return fail(name, e.what(),
                "set BATON_SOCKET_IFNAME to an interface that is up (`ip -brief address` lists "
                "them), or unset it");
  }
  net::SocketAddress address;
  try {
    address = net::resolve(host, 0).front();
  } catch (const Error& e) {
    return fail(name, e.what(), "set BATON_SOCKET_IFNAME to an interface that is up");
  }
  const std::string why = !ifname.empty() ? "BATON_SOCKET_IFNAME=" + ifname
                          : master        ? "the route to the master"
                                          : "the first interface that is up";
  const std::string ifname_found = interface_name(address);
  const std::string where =
      host + " (" + (ifname_found.empty() ? "no interface" : ifname_found) + ", from " + why + ")";
  const ListenProbe probe = try_listen(address, o.connect_timeout);
  if (probe.listen_error != 0) {
    return fail(name,
                "the ranks cannot listen on " + where + ": " + net::error_text(probe.listen_error),
                "choose an interface of this host with BATON_SOCKET_IFNAME (=eth0)");
  }
  if (probe.connect_error != 0) {
    return fail(name,
                "the ranks can listen on " + where + " but a connection from this host to port " +
                    std::to_string(probe.port) + " fails: " + net::error_text(probe.connect_error),
                bring_up(address) + ", or choose another interface with BATON_SOCKET_IFNAME");
  }
  if (o.nnodes > 1 && is_loopback(address)) {
    return fail(name, "the ranks would listen on " + where + ", which the other nodes cannot reach",
                "set BATON_SOCKET_IFNAME to the interface the nodes share (e.g. =eth0), and "
                "--master-addr to node 0's address on it");
  }
  return ok(name, "the ranks listen on " + where + " (bound and connected to port " +
                      std::to_string(probe.port) + " to check)");
}

std::string master_text(const DoctorOptions& o) {
  return net::format_host_port(o.master_addr, static_cast<uint16_t>(o.master_port));
}

// Whether something accepts a TCP connection at `address` within the
// timeout; the connect's errno otherwise (ECONNREFUSED: nothing listens).
int probe_connect(const net::SocketAddress& address, std::chrono::milliseconds timeout) {
  net::ConnectResult r = net::connect_tcp(address, Clock::now() + timeout);
  return r.fd ? 0 : r.error;
}

DoctorRow check_master_port(const DoctorOptions& o, MasterState& state) {
  const std::string name = "master port";
  const std::string fix_port =
      "stop what holds it (`ss -ltnp 'sport = :" + std::to_string(o.master_port) +
      "'` names it), or choose another --master-port (--standalone picks a free one)";
  const auto port = static_cast<uint16_t>(o.master_port);
  std::vector<net::SocketAddress> resolved;
  try {
    resolved = rendezvous::resolve_before(o.master_addr, port, Clock::now() + o.connect_timeout,
                                          "--master-addr '" + o.master_addr + "'");
  } catch (const Error& e) {
    state.port_failed = true;
    return fail(name, e.what(), "give --master-addr as an address or a name this host resolves");
  }
  if (o.nnodes > 1 && is_loopback(resolved.front())) {
    state.port_failed = true;
    return fail(name,
                "--master-addr " + o.master_addr + " is loopback, but " + std::to_string(o.nnodes) +
                    " nodes must reach it",
                "give node 0's address on the network the nodes share");
  }
  if (o.hosts_master) {
    const std::optional<net::SocketAddress> served = rendezvous::choose_served_address(resolved);
    if (!served) {
      state.port_failed = true;
      return fail(name,
                  "--master-addr " + o.master_addr + " (" + resolved.front().host() +
                      ") is not an address of this host, but this node (--node-rank " +
                      std::to_string(o.node_rank) + ") runs rank 0, which serves the store there",
                  "give this host's address as --master-addr, or the right --node-rank");
    }
    state.address = *served;
    const ListenProbe probe = try_listen(*served, o.connect_timeout);
    const int e = probe.listen_error;
    const std::string bound = o.master_port == 0 ? served->host() + ":" + std::to_string(probe.port)
                                                 : served->to_string();
    if (e == 0 && probe.connect_error != 0) {
      state.port_failed = true;
      return fail(name,
                  "rank 0 can listen on " + bound + " but the ranks cannot connect to it: " +
                      net::error_text(probe.connect_error),
                  bring_up(*served) + "; check local firewall rules (iptables -L INPUT)");
    }
    if (e == 0 && o.master_port == 0) {
      return ok(name, "baton-run serves the store on a free port of " + served->host() +
                          " (bound and connected to port " + std::to_string(probe.port) +
                          " to check)");
    }
    if (e == 0) {
      return ok(name, bound + " is free: rank 0 can bind and listen on it, and the ranks reach it");
    }
    state.port_failed = true;
    if (e == EADDRINUSE) {
      state.listening = probe_connect(*served, o.connect_timeout) == 0;
      return fail(name,
                  "port " + std::to_string(o.master_port) + " on " + served->host() + " is in use" +
                      (state.listening ? " (something listens there)" : "") +
                      ": rank 0 cannot serve the store on it",
                  fix_port);
    }
    return fail(name, "rank 0 cannot listen on " + served->to_string() + ": " + net::error_text(e),
                e == EACCES ? "choose a --master-port above 1023, or run as root" : fix_port);
  }
  state.address = resolved.front();
  const int e = probe_connect(resolved.front(), o.connect_timeout);
  if (e == 0) {
    state.listening = true;
    return ok(name, master_text(o) + " is reachable: something listens there");
  }
  if (e == ECONNREFUSED) {
    return warn(name,
                "connection refused at " + master_text(o) +
                    ": nothing listens there yet (or a firewall rejects it); the ranks retry "
                    "until BATON_TIMEOUT (" +
                    describe_duration(config::get_duration("BATON_TIMEOUT")) + ")",
                "start node 0 (--node-rank 0) first; check --master-port and the firewall");
  }
  state.port_failed = true;
  return fail(name,
              "cannot reach " + master_text(o) + ": " + net::error_text(e) + " (within " +
                  describe_duration(o.connect_timeout) + ")",
              "check --master-addr, routes and firewalls: the port must be open from this host "
              "(`nc -vz " +
                  o.master_addr + " " + std::to_string(o.master_port) + "`)");
}

DoctorRow check_store(const DoctorOptions& o, const MasterState& state) {
  const std::string name = "store";
  if (o.master_port == 0) {
    return skipped(name, "baton-run serves the job's store itself (--standalone)");
  }
  if (!state.listening) {
    if (state.port_failed) return skipped(name, "the master port check failed");
    return skipped(name, o.hosts_master ? "no store yet: rank 0 serves it when the job starts"
                                        : "nothing listens at the master yet");
  }
  const std::string at = master_text(o);
  const std::string note = o.hosts_master ? " (not this job's: its rank 0 has not started)" : "";
  try {
    TcpStore store(state.address->host(), state.address->port(),
                   TcpStoreOptions{.timeout = o.connect_timeout, .secret = o.secret});
    const int64_t keys = store.num_keys();
    return ok(name, "a Baton store answers the hello at " + at + note + ", " +
                        std::to_string(keys) + (keys == 1 ? " key" : " keys"));
  } catch (const AuthenticationError& e) {
    if (o.secret.empty()) {
      return fail(name,
                  "reachable, secret needed: the store at " + at + note +
                      " wants a job secret and this job has none (" + e.what() + ")",
                  "give every node the same --secret-file (docs/security.md)");
    }
    return fail(name,
                "reachable, but the store at " + at + note + " refuses this job's secret (" +
                    o.secret_source + "): " + e.what(),
                "give every node the same --secret-file (docs/security.md)");
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("not a baton store") != std::string::npos) {
      return warn(name,
                  "something answers at " + at + " but it is not a Baton store (" + what +
                      "); a torch.distributed TCPStore is fine for a torch script, fatal for a "
                      "Baton program",
                  "check --master-port: it must be the port of the job's rank 0");
    }
    return fail(name, "the store at " + at + " did not complete the hello: " + what,
                "check that node 0 runs the same Baton version and is not overloaded");
  }
}

}  // namespace

Rows network_checks(const DoctorOptions& options) {
  MasterState state;
  Rows rows;
  rows.push_back(DoctorRow{});  // the interface, once the master is resolved
  rows.push_back(check_master_port(options, state));
  rows.push_back(check_store(options, state));
  std::optional<net::SocketAddress> master = state.address;
  if (!master) {
    try {
      master = net::resolve(options.master_addr, 0).front();
    } catch (const Error&) {
    }
  }
  rows.front() = check_interface(options, master);
  return rows;
}

}  // namespace baton::launch::doctor
