// StoreServerProcess: a TcpStoreServer in a forked process of its own, for
// tests that also fork ranks.
//
// fork() copies only the calling thread. A rank forked while a server's
// threads run in the test's process can start with a lock one of them held
// (under ASan a rank hung in malloc: GCC 12's ASan allocator has no fork
// handler), so a test that forks ranks keeps its own process single-threaded
// and serves its store from here. Construct it before the process starts any
// thread.
//
// Thread safety: none; use from the test's main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "baton/tcp_store.hpp"

namespace baton::testing {

class StoreServerProcess {
 public:
  // Forks the server process and blocks until it listens (at most 30 s).
  // Throws std::runtime_error when it cannot start or bind.
  explicit StoreServerProcess(const TcpStoreServerOptions& options = {});
  // Kills the server process (SIGKILL) and reaps it.
  ~StoreServerProcess();
  StoreServerProcess(const StoreServerProcess&) = delete;
  StoreServerProcess& operator=(const StoreServerProcess&) = delete;

  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace baton::testing
