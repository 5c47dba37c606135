// rendezvous: how the processes of a job find each other.
//
// One call per process: it makes (or takes) the store, learns this process's
// rank and the world size, and waits until every rank has joined, learning
// where each one runs. init_process_group() calls it; launchers and tests may
// call it directly.
//
//   init_method          store                                   rank / world size
//   env://               TcpStore at BATON_STORE_ADDR:           Request, else RANK/WORLD_SIZE,
//                        BATON_STORE_PORT, each else MASTER_*
//                                                                OMPI_COMM_WORLD_*, PMI_*, SLURM_*
//   tcp://host:port      TcpStore at host:port                   Request, URL query, else as env://
//   file:///abs/path     FileStore at that path                  Request, URL query, else as env://
//   (Request.store set)  that store; init_method is ignored       Request, else as env://
//
// For the TCP forms rank 0 serves the store in this process (bound to the
// address the host name resolves to, never every interface), unless
// BATON_AGENT_STORE=1 says a launcher already serves it there: for env://
// always, for tcp:// only when the URL names that address (BATON_STORE_*,
// else MASTER_*), the launcher's (or neither is set); everyone else connects,
// retrying until the timeout. docs/rendezvous.md describes the
// variables, the key layout in the store and every error.
//
// Thread safety: rendezvous() may run on several threads at once (ranks as
// threads, each with its own Request and a shared store).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "rendezvous/host_identity.hpp"

namespace baton::rendezvous {

struct Request {
  std::string init_method = "env://";
  int rank = -1;        // -1: from the URL query or the environment
  int world_size = -1;  // -1: from the URL query or the environment
  // The whole rendezvous (resolving, connecting, joining) must finish within
  // it; 0 means BATON_TIMEOUT (default 300 s). It also becomes the store's timeout().
  std::chrono::milliseconds timeout{0};
  // When set, used as is (its timeout is left alone) and init_method is ignored.
  std::shared_ptr<Store> store = nullptr;
  // The TcpStore's job secret (InitOptions::secret); "" means the environment's.
  std::string secret{};
};

struct Result {
  std::shared_ptr<Store> store;  // rank 0's also serves the TcpStore: keep it alive
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // LOCAL_RANK (etc.) if set, else derived from `hosts`
  int local_world_size = 1;  // LOCAL_WORLD_SIZE (etc.) if set, else derived from `hosts`
  std::string job_id;        // BATON_JOB_ID, or one the rendezvous made up (same on every rank)
  std::vector<HostIdentity> hosts;  // per rank
  std::vector<int64_t> pids;        // per rank: the pid each rank joined with
  int64_t round = 0;  // how many rendezvous this rank has run on this store for this job
  // The host this rank's transports listen on and publish: BATON_SOCKET_IFNAME's
  // address, else the route to the TcpStore, else (file://) the first
  // non-loopback interface; "" for a given store (the transport decides).
  std::string publish_host;
};

// Blocks until every rank has joined or the timeout passes. Bad input fails
// at once, before anything is sent: InvalidArgument for a malformed
// init_method, a missing or malformed variable (named, with its value), a
// rank out of range or a world size below 1. Then: ConnectionError when the
// store cannot be resolved, served or reached in time (naming where its
// address came from); TimeoutError "rendezvous: ranks 1, 3 of 4 did not join
// within 30 s" on every rank that did join; MismatchError when ranks were
// started with different world sizes (naming both ranks and values); the
// FileStore's IoError / InvalidArgument for a bad path or a file left by
// another job; InvalidArgument naming BATON_SOCKET_IFNAME, its value and this
// host's interfaces when it selects none (after resolving the store's name,
// before serving or reaching the store).
Result rendezvous(const Request& request);

}  // namespace baton::rendezvous
