// The store a rendezvous runs on: a TcpStore (env://, tcp://) or a FileStore
// (file://).
//
// For TCP, the process that serves the store (rank 0, unless a launcher
// already serves it) binds exactly the address the store's host name
// resolves to, if that address belongs to this host: loopback when the name
// is loopback, the external address when it names one; never every
// interface. Everyone else connects as a client, retrying a refused
// connection until the deadline, so ranks may start in any order.
//
// Thread safety: free functions; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "baton/store.hpp"

namespace baton::rendezvous {

struct StoreConnection {
  std::shared_ptr<Store> store;
  bool hosts_server = false;  // this process runs the store's server
  std::string description;    // "TcpStore 127.0.0.1:29500 (served here)", "FileStore /tmp/x"
  // The host this rank's transports listen on and publish (address.hpp's
  // publish_host): BATON_SOCKET_IFNAME's, or the route to the store, or for
  // a FileStore the first non-loopback interface.
  std::string publish_host;
};

// Resolves host (bounded by the deadline), then serves (serve = true) or
// connects to the TcpStore at host:port. `named_by` says where the address
// came from, for messages ("MASTER_ADDR='node7', MASTER_PORT=29500"). The
// store's timeout() is set to `timeout`. Blocks until connected or the
// deadline. Throws ConnectionError naming `named_by` when the name does not
// resolve, when a server should run here but the address is not this
// host's, when the port is in use, or when no server answers in time;
// InvalidArgument, before anything is served or connected, when
// BATON_SOCKET_IFNAME selects no interface. `secret` is the TcpStore's
// (TcpStoreOptions::secret: "" means the environment's).
StoreConnection open_tcp_store(const std::string& host, uint16_t port, std::string_view named_by,
                               bool serve, std::chrono::steady_clock::time_point deadline,
                               std::chrono::milliseconds timeout, const std::string& secret = "");

// Opens (or creates) the FileStore at path, with BATON_JOB_ID as its job id.
// Blocks only for the file lock. Throws the FileStore's errors (IoError for a
// missing directory, InvalidArgument for a file of another job), and
// InvalidArgument first when BATON_SOCKET_IFNAME selects no interface.
StoreConnection open_file_store(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace baton::rendezvous
