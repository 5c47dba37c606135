// Runs a test body on N ranks as threads or forked processes (see rank_runner.hpp).
#include "tests/support/rank_runner.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace baton::testing {
namespace {

std::string rank_label(int rank, int world_size) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size);
}

std::string seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

// Collects the messages of GoogleTest failures raised inside a rank, so the
// parent can report them with the rank's name.
class FailureCollector : public ::testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::lock_guard lock(mu_);
    text_ += std::string(result.file_name() ? result.file_name() : "?") + ":" +
             std::to_string(result.line_number()) + ": " + result.message() + "\n";
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

std::vector<RankResult> run_threads(int world_size,
                                    const std::function<void(int, int)>& fn,
                                    std::chrono::milliseconds timeout) {
  std::vector<RankResult> results(static_cast<size_t>(world_size));
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r) {
    results[static_cast<size_t>(r)].rank = r;
    threads.emplace_back([&, r] {
      std::string what;
      try {
        fn(r, world_size);
      } catch (const std::exception& e) {
        what = std::string("threw: ") + e.what();
      } catch (...) {
        what = "threw a non-std exception";
      }
      std::lock_guard lock(mu);
      if (!what.empty()) results[static_cast<size_t>(r)] = {r, false, what};
      ++finished;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, timeout, [&] { return finished == world_size; })) {
    // Threads cannot be killed: report and abort so ctest sees a failure now
    // rather than a hang until its own timeout.
    std::string msg;
    for (auto& r : results) msg += rank_label(r.rank, world_size) + " ";
    std::fprintf(stderr, "rank_runner: threads did not finish within %s; aborting the test\n",
                 seconds(timeout).c_str());
    std::fflush(stderr);
    std::abort();
  }
  lock.unlock();
  for (auto& t : threads) t.join();
  return results;
}

// The child's side: run fn, write failure text to the pipe, exit.
[[noreturn]] void run_child(int rank, int world_size, const std::function<void(int, int)>& fn,
                            int report_fd) {
  auto* collector = new FailureCollector;  // owned by GoogleTest's listener list
  ::testing::UnitTest::GetInstance()->listeners().Append(collector);
  std::string what;
  try {
    fn(rank, world_size);
  } catch (const std::exception& e) {
    what = std::string("threw: ") + e.what();
  } catch (...) {
    what = "threw a non-std exception";
  }
  what += collector->text();
#if defined(__SANITIZE_ADDRESS__)
  // _exit skips LeakSanitizer's check at exit: run it here, so that what a
  // rank leaks fails that rank (a no-op under ASAN_OPTIONS=detect_leaks=0).
  if (__lsan_do_recoverable_leak_check() != 0) what += "LeakSanitizer: the rank leaked memory\n";
#endif
  if (!what.empty()) {
    size_t off = 0;
    while (off < what.size()) {
      const ssize_t n = ::write(report_fd, what.data() + off, what.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(what.empty() ? 0 : 1);
}

std::vector<RankResult> run_processes(int world_size, const std::function<void(int, int)>& fn,
                                      std::chrono::milliseconds timeout) {
  struct Child {
    pid_t pid = -1;
    int fd = -1;
    std::string report;
    bool done = false;
    int status = 0;
  };
  std::vector<Child> children(static_cast<size_t>(world_size));
  std::fflush(stdout);
  std::fflush(stderr);
  for (int r = 0; r < world_size; ++r) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("rank_runner: pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("rank_runner: fork failed: ") + strerror(errno));
    if (pid == 0) {
      ::close(fds[0]);
      run_child(r, world_size, fn, fds[1]);
    }
    ::close(fds[1]);
    children[static_cast<size_t>(r)].pid = pid;
    children[static_cast<size_t>(r)].fd = fds[0];
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  // Read every report pipe until each closes (the child exited), or the deadline.
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < children.size(); ++i) {
      if (children[i].fd >= 0) {
        pfds.push_back({children[i].fd, POLLIN, 0});
        index.push_back(i);
      }
    }
    if (pfds.empty()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      Child& c = children[index[k]];
      char buf[4096];
      const ssize_t got = ::read(c.fd, buf, sizeof buf);
      if (got > 0) {
        c.report.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
  }
  std::vector<RankResult> results;
  for (int r = 0; r < world_size; ++r) {
    Child& c = children[static_cast<size_t>(r)];
    RankResult result{r, true, {}};
    if (c.fd >= 0) {  // still running at the deadline
      ::kill(c.pid, SIGKILL);
      ::close(c.fd);
      result = {r, false, "timed out after " + seconds(timeout) + " (killed)"};
    }
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (result.ok) {
      if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        result = {r, false, std::string("killed by signal ") + std::to_string(sig) + " (" +
                                sigdescr_np(sig) + ")"};
      } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        result = {r, false, "exited with code " + std::to_string(WEXITSTATUS(status))};
      }
      if (!c.report.empty()) {
        result.ok = false;
        result.what += (result.what.empty() ? "" : ": ") + c.report;
      }
    }
    results.push_back(std::move(result));
  }
  (void)timed_out;
  return results;
}

}  // namespace

std::vector<RankResult> try_run_ranks(int world_size, const std::function<void(int, int)>& fn,
                                      RunOptions options) {
  if (world_size < 1) throw std::invalid_argument("run_ranks: world_size must be >= 1");
  return options.mode == RankMode::kThreads ? run_threads(world_size, fn, options.timeout)
                                            : run_processes(world_size, fn, options.timeout);
}

void run_ranks(int world_size, const std::function<void(int, int)>& fn, RunOptions options) {
  for (const RankResult& r : try_run_ranks(world_size, fn, options)) {
    if (!r.ok) ADD_FAILURE() << rank_label(r.rank, world_size) << ": " << r.what;
  }
}

}  // namespace baton::testing
