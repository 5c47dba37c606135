// For the doctor's tests: run checks in a forked child whose process state
// (namespaces, limits, affinity, a seccomp filter) the test changes, and get
// the rows back; plus the small helpers those children use.
//
// rows_in_child forks, runs `body` in the child and sends the rows (or a
// reason to skip) back through a pipe; the child _exits, so nothing of
// GoogleTest runs twice. A child that crashes or hangs (10 s) yields a skip
// reason saying so, which the test turns into a failure or a skip.
//
// Thread safety: call from the test's main thread.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "launch/doctor.hpp"

namespace baton::launch {

struct ChildRows {
  std::vector<DoctorRow> rows;
  std::string skip;  // not empty: the child could not set up; why
};

inline ChildRows skip_child(std::string why) {
  return {{}, std::move(why)};
}

inline std::string errno_text() {
  return std::strerror(errno);
}

// Fields separated by \x1f, rows ended by \x1e; the first field is the verdict
// (or "S" and a skip reason).
inline ChildRows rows_in_child(const std::function<ChildRows()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return skip_child("pipe: " + errno_text());
  const pid_t pid = ::fork();
  if (pid < 0) return skip_child("fork: " + errno_text());
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      const ChildRows result = body();
      if (!result.skip.empty()) out = "S\x1f" + result.skip + "\x1e";
      for (const DoctorRow& r : result.rows) {
        out += std::to_string(static_cast<int>(r.verdict)) + "\x1f" + r.check + "\x1f" + r.detail +
               "\x1f" + r.fix + "\x1e";
      }
    } catch (const std::exception& e) {
      out = std::string("S\x1f") + "the child threw: " + e.what() + "\x1e";
    }
    for (size_t at = 0; at < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + at, out.size() - at);
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string in;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    in.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ChildRows result;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.skip = "the child died (status " + std::to_string(status) + ")";
    return result;
  }
  for (size_t at = 0, end; (end = in.find('\x1e', at)) != std::string::npos; at = end + 1) {
    std::vector<std::string> f;
    const std::string record = in.substr(at, end - at);
    for (size_t a = 0, b;; a = b + 1) {
      b = record.find('\x1f', a);
      f.push_back(record.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
    }
    if (f[0] == "S") {
      result.skip = f.size() > 1 ? f[1] : "?";
    } else if (f.size() == 4) {
      result.rows.push_back({f[1], static_cast<Verdict>(std::atoi(f[0].c_str())), f[2], f[3]});
    }
  }
  return result;
}

// A fresh directory under $TMPDIR (or /tmp), removed with what is in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/baton-doctor-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Makes each of `syscalls` fail with `error` in this process and its
// children (a seccomp filter; needs no privilege with no_new_privs). "" or
// why not.
inline std::string refuse_syscalls(std::initializer_list<int> syscalls, int error) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "PR_SET_NO_NEW_PRIVS: " + errno_text();
  std::vector<sock_filter> code = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr))};
  for (const int nr : syscalls) {
    code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1));
    code.push_back(BPF_STMT(BPF_RET | BPF_K,
                            SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)));
  }
  code.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    return "PR_SET_SECCOMP: " + errno_text();
  }
  return "";
}

}  // namespace baton::launch
