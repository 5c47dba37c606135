// Command: runs a program for a test, collecting its stdout and stderr.
//
// The program starts at construction with its output on two pipes that the
// test drains while it waits (so a chatty program never blocks). The test can
// wait for text to appear, send signals, and wait for the exit with a
// deadline; a program still running when the Command is destroyed is killed.
// Also: process_alive, to check that a launcher left no processes behind.
//
// Thread safety: one Command per test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd.hpp"

namespace baton::testing {

class Command {
 public:
  explicit Command(std::vector<std::string> argv);
  ~Command();
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  // Reads output until stdout holds `count` occurrences of needle; false if
  // the deadline passes or the program exits first.
  bool wait_for_stdout(std::string_view needle, size_t count, std::chrono::milliseconds timeout);
  // Reads output until the program exits; false (and the program is killed)
  // if it is still running after timeout.
  bool wait(std::chrono::milliseconds timeout);

  void send(int sig) const;
  pid_t pid() const { return pid_; }
  bool exited() const { return exited_; }
  // Shell-style exit code (128 + signal when killed); valid after wait().
  int exit_code() const { return exit_code_; }
  // From construction to the exit seen by wait().
  std::chrono::milliseconds elapsed() const;
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Polls the pipes for at most timeout_ms; reaps the program when both closed.
  void pump(int timeout_ms);

  pid_t pid_ = -1;
  UniqueFd out_fd_;
  UniqueFd err_fd_;
  std::string out_;
  std::string err_;
  bool exited_ = false;
  int exit_code_ = -1;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point ended_;
};

// True when pid names a live (not zombie) process whose name starts with
// `name_prefix` (guards against a recycled pid).
bool process_alive(pid_t pid, std::string_view name_prefix);

// Count of non-overlapping occurrences of needle in text.
size_t count_of(std::string_view text, std::string_view needle);

// The numbers that follow `key` ("pid=") in text, in order.
std::vector<int> numbers_after(std::string_view text, std::string_view key);

// The pid of each rank 0 .. nranks-1 in the "ready rank=R pid=P" lines of text
// (fixture_rank's), -1 for a rank without one.
std::vector<int> ready_pids(const std::string& text, int nranks);

}  // namespace baton::testing
