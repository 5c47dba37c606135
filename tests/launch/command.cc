// Running a program under test (see command.hpp).
#include "tests/launch/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace baton::testing {

Command::Command(std::vector<std::string> argv) : started_(std::chrono::steady_clock::now()) {
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("Command: pipe failed");
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("Command: fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  out_fd_.reset(out[0]);
  err_fd_.reset(err[0]);
}

Command::~Command() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void Command::pump(int timeout_ms) {
  if (exited_) return;
  pollfd fds[2];
  nfds_t n = 0;
  UniqueFd* owners[2];
  std::string* sinks[2];
  if (out_fd_) {
    fds[n] = {out_fd_.get(), POLLIN, 0};
    owners[n] = &out_fd_;
    sinks[n++] = &out_;
  }
  if (err_fd_) {
    fds[n] = {err_fd_.get(), POLLIN, 0};
    owners[n] = &err_fd_;
    sinks[n++] = &err_;
  }
  if (n > 0 && ::poll(fds, n, timeout_ms) > 0) {
    char buffer[65536];
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        owners[i]->reset();
      }
    }
  }
  if (!out_fd_ && !err_fd_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    ended_ = std::chrono::steady_clock::now();
    exited_ = true;
    exit_code_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
}

bool Command::wait_for_stdout(std::string_view needle, size_t count,
                              std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count_of(out_, needle) < count) {
    if (exited_ || std::chrono::steady_clock::now() >= deadline) return false;
    pump(10);
  }
  return true;
}

bool Command::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited_) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      return false;
    }
    pump(10);
  }
  return true;
}

void Command::send(int sig) const {
  ::kill(pid_, sig);
}

std::chrono::milliseconds Command::elapsed() const {
  const auto end = exited_ ? ended_ : std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(end - started_);
}

bool process_alive(pid_t pid, std::string_view name_prefix) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!file || !std::getline(file, stat)) return false;
  // "pid (comm) state ...": comm may hold spaces, so find the last ')'.
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) {
    return false;
  }
  const std::string comm = stat.substr(open + 1, close - open - 1);
  const char state = stat[close + 2];
  return state != 'Z' && state != 'X' && comm.rfind(name_prefix.substr(0, 15), 0) == 0;
}

size_t count_of(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::vector<int> numbers_after(std::string_view text, std::string_view key) {
  std::vector<int> result;
  for (size_t at = text.find(key); at != std::string_view::npos; at = text.find(key, at + 1)) {
    result.push_back(std::atoi(std::string(text.substr(at + key.size(), 12)).c_str()));
  }
  return result;
}

std::vector<int> ready_pids(const std::string& text, int nranks) {
  std::vector<int> pids(static_cast<size_t>(nranks), -1);
  std::istringstream lines(text);
  const std::regex ready(R"(ready rank=(\d+) pid=(\d+))");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, ready)) pids.at(std::stoul(m[1])) = std::stoi(m[2]);
  }
  return pids;
}

}  // namespace baton::testing
