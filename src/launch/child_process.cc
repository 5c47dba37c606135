// Forking and setting up one rank (see child_process.hpp).
#include "launch/child_process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string_view>

#include "core/log.hpp"
#include "core/socket.hpp"

extern char** environ;

namespace baton::launch {
namespace {

// Exit code of a child whose parent died before it could arm PR_SET_PDEATHSIG.
constexpr int kOrphanedExit = 125;
// Exit code of a function-mode child whose body threw past its own handlers.
constexpr int kBodyThrewExit = 1;

std::string errno_text(int error) {
  return net::error_text(error);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw IoError(std::string("launch: cannot create the ") + what + " pipe: " + errno_text(errno));
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw IoError("launch: cannot make a pipe non-blocking: " + errno_text(errno));
  }
}

// The child's environment as "NAME=value" strings: the inherited one with
// spec.env replacing or adding variables.
std::vector<std::string> merged_environment(const EnvList& overrides) {
  std::vector<std::string> result;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    bool replaced = false;
    for (const auto& kv : overrides) replaced = replaced || kv.first == name;
    if (!replaced) result.emplace_back(text);
  }
  for (const auto& [name, value] : overrides) {
    std::string entry = name;
    entry += '=';
    entry += value;
    result.push_back(std::move(entry));
  }
  return result;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (std::string& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

void write_errno(int fd, int error) {
  ssize_t n;
  do {
    n = ::write(fd, &error, sizeof error);
  } while (n < 0 && errno == EINTR);
}

// Runs in the child between fork and exec/body: async-signal-safe calls only.
void set_up_child(const ChildSetup& setup, pid_t parent, int out_w, int err_w, int null_fd) {
  if (setup.process_group >= 0) ::setpgid(0, setup.process_group);
  // Die with the launcher. If it died before the prctl, getppid() has already
  // changed (to init or a subreaper), and we must not run at all.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(kOrphanedExit);
  if (setup.signal_mask != nullptr) ::sigprocmask(SIG_SETMASK, setup.signal_mask, nullptr);
  if (out_w >= 0) {
    ::dup2(out_w, STDOUT_FILENO);
    ::dup2(err_w, STDERR_FILENO);
  }
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  for (int fd : setup.close_fds) {
    if (fd > STDERR_FILENO) ::close(fd);
  }
}

[[noreturn]] void run_body(const ChildSpec& spec) {
  int code = kBodyThrewExit;
  try {
    for (const auto& [name, value] : spec.env) ::setenv(name.c_str(), value.c_str(), 1);
    code = spec.body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: uncaught exception: %s\n", spec.rank, e.what());
  } catch (...) {
    std::fprintf(stderr, "rank %d: uncaught exception of unknown type\n", spec.rank);
  }
  // _exit, not exit: the static destructors and atexit handlers belong to the
  // parent's copy of the program. Flush what the body printed first.
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace

ChildProcess start_child(const ChildSpec& spec, const ChildSetup& setup) {
  const bool exec_mode = !spec.argv.empty();
  if (!exec_mode && !spec.body) {
    throw InvalidArgument("launch: rank " + std::to_string(spec.rank) +
                          " has neither a program nor a function to run");
  }

  // Everything the child needs, prepared before fork.
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (exec_mode) {
    env_strings = merged_environment(spec.env);
    envp = pointers(env_strings);
  }
  Pipe out, err, status;
  if (setup.capture_output) {
    out = make_pipe("stdout");
    err = make_pipe("stderr");
  }
  if (exec_mode) status = make_pipe("exec status");
  UniqueFd null_fd;
  if (setup.stdin_null) {
    null_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null_fd) throw IoError("launch: cannot open /dev/null: " + errno_text(errno));
  }
  const pid_t parent = ::getpid();
  // Whatever the caller printed but has not flushed would otherwise be
  // printed again by every child that flushes its copy of the buffers.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    throw IoError("launch: cannot fork rank " + std::to_string(spec.rank) + ": " +
                  errno_text(errno));
  }
  if (pid == 0) {
    set_up_child(setup, parent, out.write.get(), err.write.get(), null_fd.get());
    if (!exec_mode) run_body(spec);
    ::signal(SIGPIPE, SIG_DFL);  // the launcher ignores it; the program must not inherit that
    ::execvpe(argv[0], argv.data(), envp.data());
    write_errno(status.write.get(), errno);
    ::_exit(127);
  }

  // Parent. Set the group here too, so it holds before we signal the group
  // (the child may not have run yet). EACCES means the child already exec'd,
  // after setting it itself.
  if (setup.process_group >= 0) {
    ::setpgid(pid, setup.process_group == 0 ? pid : setup.process_group);
  }
  ChildProcess child;
  child.pid = pid;
  out.write.reset();
  err.write.reset();
  status.write.reset();

  if (exec_mode) {
    int exec_errno = 0;
    ssize_t n;
    do {
      n = ::read(status.read.get(), &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
      int wait_status = 0;
      while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      throw ExecError("cannot run '" + spec.argv[0] + "': " + errno_text(exec_errno) +
                          (spec.argv[0].find('/') == std::string::npos ? " (searched PATH)" : ""),
                      exec_errno);
    }
  }

  child.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!child.pidfd) {
    const int error = errno;
    ::kill(pid, SIGKILL);
    int wait_status = 0;
    while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    throw IoError("launch: pidfd_open failed (Linux 5.3 or newer is needed): " + errno_text(error));
  }
  if (setup.capture_output) {
    set_nonblocking(out.read.get());
    set_nonblocking(err.read.get());
    child.out = std::move(out.read);
    child.err = std::move(err.read);
  }
  BATON_LOG_INFO(log::Subsys::kLaunch)
      << "rank " << spec.rank << " started as pid " << pid
      << (exec_mode ? " running " + spec.argv[0] : std::string(" (function)"));
  return child;
}

bool send_signal(const ChildProcess& child, int sig) {
  return ::syscall(SYS_pidfd_send_signal, child.pidfd.get(), sig, nullptr, 0) == 0;
}

}  // namespace baton::launch
