// A TcpStoreServer in a forked process of its own (see store_server_process.hpp).
#include "tests/support/store_server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace baton::testing {

StoreServerProcess::StoreServerProcess(const TcpStoreServerOptions& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("StoreServerProcess: pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error("StoreServerProcess: fork failed");
  }
  if (pid_ == 0) {
    ::close(fds[0]);
    // Die with the test, even when it crashes.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(1);
    try {
      TcpStoreServer server(options);
      const uint16_t port = server.port();
      if (::write(fds[1], &port, sizeof port) != sizeof port) ::_exit(1);
      ::close(fds[1]);
      while (true) ::pause();  // until the test kills it
    } catch (const std::exception& e) {
      std::fprintf(stderr, "StoreServerProcess: %s\n", e.what());
    }
    ::_exit(1);
  }
  ::close(fds[1]);
  pollfd pfd{fds[0], POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&pfd, 1, 30'000);
  } while (ready < 0 && errno == EINTR);
  ssize_t got = -1;
  if (ready > 0) {
    do {
      got = ::read(fds[0], &port_, sizeof port_);
    } while (got < 0 && errno == EINTR);
  }
  ::close(fds[0]);
  if (got != sizeof port_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw std::runtime_error(ready > 0 ? "StoreServerProcess: the server did not start"
                                       : "StoreServerProcess: no port within 30 s");
  }
}

StoreServerProcess::~StoreServerProcess() {
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace baton::testing
