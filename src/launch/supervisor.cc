// The launcher's event loop: start ranks, relay output, watch exits, stop all
// (see supervisor.hpp).
#include "launch/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string_view>

#include "core/log.hpp"
#include "core/socket.hpp"
#include "launch/line_prefixer.hpp"

namespace baton::launch {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = size_t{64} * 1024;
// After the last rank exits, how long to wait for its pipes to close (they
// stay open only if something the rank started still holds them).
constexpr std::chrono::milliseconds kLinger{200};
// At most this much is read from one stream when its rank exits, before the
// exit is reported (bounded in case a leftover process keeps writing).
constexpr size_t kDrainLimit = size_t{4} * 1024 * 1024;
// After the first failure, how long exits are collected before the culprit is
// chosen and the others are stopped: a survivor that exits on its own error a
// moment after its peer was killed must not be blamed for the kill.
constexpr std::chrono::milliseconds kSettleTime{250};

std::string format_millis(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

std::string format_seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(d.count()) / 1000.0);
  return text;
}

std::string plural_ranks(size_t n) {
  return std::to_string(n) + (n == 1 ? " rank" : " ranks");
}

// Writes all of data to fd, waiting while a non-blocking fd is full. A
// destination that is gone (EPIPE, closed) drops the output: the job keeps
// running, as it would if the terminal had gone.
void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN) {
      pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
      ::poll(&p, 1, 1000);
    } else if (errno != EINTR) {
      return;
    }
  }
}

// Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT in this thread and reads them
// from a signalfd; restores the old mask when destroyed.
class SignalCatcher {
 public:
  SignalCatcher() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set_, sig);
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_mask_);
    // Ranks start with these signals unblocked, even where the caller had
    // blocked them already (baton-run does, before it starts threads).
    child_mask_ = old_mask_;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigdelset(&child_mask_, sig);
    fd_.reset(::signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) {
      const int error = errno;
      ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
      throw IoError("launch: signalfd failed: " + net::error_text(error));
    }
  }
  ~SignalCatcher() {
    while (next() != 0) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;

  int fd() const { return fd_.get(); }
  // The signal mask for ranks.
  const sigset_t* child_mask() const { return &child_mask_; }
  // The next signal received, or 0 when none is pending.
  int next() {
    signalfd_siginfo info{};
    const ssize_t n = ::read(fd_.get(), &info, sizeof info);
    return n == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
  }

 private:
  sigset_t set_{};
  sigset_t old_mask_{};
  sigset_t child_mask_{};
  UniqueFd fd_;
};

// One captured output stream of one rank.
struct Stream {
  UniqueFd fd;
  LinePrefixer prefixer;
  int dest;
};

// A rank that failed on its own (before the launcher stopped the job).
struct Failure {
  RankOutcome outcome;
  Clock::time_point at;
};

// Whether `pid` is stopped (SIGSTOP, SIGTSTP, a debugger): its state in
// /proc/<pid>/stat is 'T' or 't'. A stopped rank never answers, so its peers
// time out: it, not they, is the cause.
bool is_stopped(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return false;
  char buf[512] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  const std::string_view text(buf, n);
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 >= text.size()) return false;
  const char state = text[close + 2];
  return state == 'T' || state == 't';
}

// Signal deaths first (a killed rank is a cause; a rank exiting non-zero is
// often its peers' victim), then in the order the exits were seen.
bool blame_first(const Failure& a, const Failure& b) {
  if (a.outcome.status.signaled != b.outcome.status.signaled) return a.outcome.status.signaled;
  return a.at < b.at;
}

struct Rank {
  RankOutcome outcome;
  ChildProcess process;
  std::unique_ptr<Stream> out;
  std::unique_ptr<Stream> err;
  bool running = true;
};

class Job {
 public:
  explicit Job(const SupervisorOptions& options) : options_(options), buffer_(kReadChunk, '\0') {
    if (options_.handle_signals) signals_ = std::make_unique<SignalCatcher>();
  }
  ~Job() { kill_and_reap_all(); }
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  void start(const std::vector<ChildSpec>& specs);
  JobResult wait();

 private:
  enum class Source { kSignal, kStream, kExit };
  struct Watch {
    Source source;
    Rank* rank;
    Stream* stream;
  };

  size_t running_count() const;
  bool any_stream_open() const;
  void say(const std::string& text) const;
  void signal_running(int sig);
  void begin_stop(int sig);
  void kill_remaining();
  // Reads one chunk (or, with drain, until empty); returns false at EOF.
  bool read_stream(Stream& stream, bool drain);
  void close_stream(std::unique_ptr<Stream>& stream);
  void on_exit(Rank& rank);
  // Chooses the culprit among the failures collected, reports them and stops the job.
  void settle_failures();
  void on_signal(int sig);
  void kill_and_reap_all();

  SupervisorOptions options_;
  std::unique_ptr<SignalCatcher> signals_;
  std::vector<Rank> ranks_;
  pid_t pgid_ = -1;
  std::string buffer_;   // read buffer
  std::string pending_;  // prefixed lines waiting to be written

  JobEnd end_ = JobEnd::kSucceeded;
  std::optional<RankOutcome> failed_;
  std::vector<Failure> failures_;                  // seen before stopping, in order
  std::optional<Clock::time_point> settle_until_;  // while failures_ are being collected
  int signal_ = 0;
  bool stopping_ = false;
  bool killed_ = false;
  int stop_signal_ = SIGTERM;
  Clock::time_point kill_at_{};
};

void Job::start(const std::vector<ChildSpec>& specs) {
  ranks_.reserve(specs.size());
  const bool stdin_is_tty = ::isatty(STDIN_FILENO) == 1;
  std::vector<int> launcher_fds;
  if (signals_) launcher_fds.push_back(signals_->fd());
  for (const ChildSpec& spec : specs) {
    ChildSetup setup;
    setup.capture_output = options_.prefix_output;
    if (options_.own_process_group) {
      setup.process_group = pgid_ > 0 ? pgid_ : 0;
      // A rank outside the terminal's foreground group that reads the
      // terminal would be stopped by SIGTTIN: give it /dev/null instead.
      setup.stdin_null = stdin_is_tty;
    }
    if (signals_) setup.signal_mask = signals_->child_mask();
    setup.close_fds = launcher_fds;

    Rank rank;
    rank.outcome.rank = spec.rank;
    rank.outcome.local_rank = spec.local_rank;
    rank.process = start_child(spec, setup);  // on throw, ~Job reaps those started
    rank.outcome.pid = rank.process.pid;
    if (options_.own_process_group && pgid_ < 0) pgid_ = rank.process.pid;
    launcher_fds.push_back(rank.process.pidfd.get());
    const std::string prefix = "[" + std::to_string(spec.rank) + "] ";
    if (rank.process.out) {
      launcher_fds.push_back(rank.process.out.get());
      launcher_fds.push_back(rank.process.err.get());
      rank.out.reset(
          new Stream{std::move(rank.process.out), LinePrefixer(prefix), options_.out_fd});
      rank.err.reset(
          new Stream{std::move(rank.process.err), LinePrefixer(prefix), options_.err_fd});
    }
    ranks_.push_back(std::move(rank));
  }
}

size_t Job::running_count() const {
  size_t n = 0;
  for (const Rank& r : ranks_) n += r.running ? 1 : 0;
  return n;
}

bool Job::any_stream_open() const {
  for (const Rank& r : ranks_) {
    if (r.out || r.err) return true;
  }
  return false;
}

void Job::say(const std::string& text) const {
  write_all(options_.err_fd, options_.name + ": " + text + "\n");
}

void Job::signal_running(int sig) {
  if (running_count() == 0) return;
  if (pgid_ > 0) {
    // The group outlives its leader while any member lives, so -pgid_ still
    // names our group here. Ranks that left it get the signal one by one.
    ::kill(-pgid_, sig);
    for (Rank& r : ranks_) {
      if (r.running && ::getpgid(r.process.pid) != pgid_) send_signal(r.process, sig);
    }
  } else {
    for (Rank& r : ranks_) {
      if (r.running) send_signal(r.process, sig);
    }
  }
}

void Job::begin_stop(int sig) {
  stopping_ = true;
  stop_signal_ = sig;
  kill_at_ = Clock::now() + options_.grace_period;
  for (Rank& r : ranks_) r.outcome.stopped = r.running;
  signal_running(sig);
}

void Job::kill_remaining() {
  killed_ = true;
  for (const Rank& r : ranks_) {
    if (!r.running) continue;
    say(describe_rank(r.outcome) + " still running " + format_seconds(options_.grace_period) +
        " after " + signal_name(stop_signal_) + "; sending SIGKILL");
  }
  signal_running(SIGKILL);
}

bool Job::read_stream(Stream& stream, bool drain) {
  size_t total = 0;
  bool open = true;
  while (true) {
    const ssize_t n = ::read(stream.fd.get(), buffer_.data(), buffer_.size());
    if (n > 0) {
      stream.prefixer.feed(std::string_view(buffer_.data(), static_cast<size_t>(n)), pending_);
      total += static_cast<size_t>(n);
      if (drain && total < kDrainLimit) continue;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n == 0 || errno != EAGAIN) {
      open = false;  // end of file; EIO and friends end the stream too
    }
    break;
  }
  if (!open) stream.prefixer.finish(pending_);
  if (!pending_.empty()) {
    write_all(stream.dest, pending_);
    pending_.clear();
  }
  return open;
}

void Job::close_stream(std::unique_ptr<Stream>& stream) {
  if (!stream) return;
  stream->prefixer.finish(pending_);
  if (!pending_.empty()) {
    write_all(stream->dest, pending_);
    pending_.clear();
  }
  stream.reset();
}

void Job::on_exit(Rank& rank) {
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(rank.process.pid, &status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == 0) return;  // not exited after all
  if (reaped < 0) {
    // ECHILD: someone else (a SIGCHLD handler of the program) reaped it.
    BATON_LOG_WARN(log::Subsys::kLaunch)
        << describe_rank(rank.outcome) << " was reaped elsewhere; its exit status is unknown";
    rank.outcome.status = ExitStatus::exited(255);
  } else {
    rank.outcome.status = ExitStatus::from_wait_status(status);
  }
  rank.running = false;
  rank.process.pidfd.reset();
  // Everything the rank printed before it exited comes before the news.
  if (rank.out && !read_stream(*rank.out, true)) rank.out.reset();
  if (rank.err && !read_stream(*rank.err, true)) rank.err.reset();

  BATON_LOG_INFO(log::Subsys::kLaunch)
      << describe_rank(rank.outcome) << " " << rank.outcome.status.describe();
  if (stopping_ || rank.outcome.status.success()) return;
  const auto now = Clock::now();
  failures_.push_back({rank.outcome, now});
  if (!settle_until_) settle_until_ = now + kSettleTime;
  if (running_count() == 0) settle_failures();
}

void Job::settle_failures() {
  settle_until_.reset();
  std::vector<Failure> order = failures_;
  std::stable_sort(order.begin(), order.end(), blame_first);
  const Failure& culprit = order.front();
  end_ = JobEnd::kRankFailed;
  failed_ = culprit.outcome;
  const size_t others = running_count();
  // A rank stopped while the others failed is their cause (they timed out
  // waiting for it): it is named first.
  for (const Rank& r : ranks_) {
    if (r.running && is_stopped(r.process.pid)) {
      say(describe_rank(r.outcome) +
          " is stopped (process state T: SIGSTOP, SIGTSTP or a "
          "debugger) and has stopped answering; the failures below are its peers giving up on it");
    }
  }
  say(describe_rank(culprit.outcome) + " " + culprit.outcome.status.describe() + "; " +
      (others == 0
           ? std::string("no other ranks are running")
           : "stopping " + std::to_string(others) + " other" + (others == 1 ? " rank" : " ranks")));
  for (size_t i = 1; i < order.size(); ++i) {
    const Failure& f = order[i];
    const bool before = f.at < culprit.at;
    say("also: " + describe_rank(f.outcome) + " " + f.outcome.status.describe() + ", " +
        format_millis(before ? culprit.at - f.at : f.at - culprit.at) +
        (before ? " before " : " after ") + "rank " + std::to_string(culprit.outcome.rank));
  }
  begin_stop(SIGTERM);
}

void Job::on_signal(int sig) {
  if (settle_until_) settle_failures();  // the failure came first
  const size_t running = running_count();
  if (!stopping_) {
    end_ = JobEnd::kInterrupted;
    signal_ = sig;
    say("received " + signal_name(sig) + "; forwarding it to " + plural_ranks(running) +
        " (SIGKILL after " + format_seconds(options_.grace_period) + ")");
    begin_stop(sig);
  } else if (!killed_) {
    if (end_ == JobEnd::kSucceeded) end_ = JobEnd::kInterrupted;
    say("received " + signal_name(sig) + " while stopping; sending SIGKILL to " +
        plural_ranks(running));
    killed_ = true;
    signal_running(SIGKILL);
  }
}

JobResult Job::wait() {
  std::optional<Clock::time_point> deadline;
  if (options_.timeout.count() > 0) deadline = Clock::now() + options_.timeout;
  std::optional<Clock::time_point> linger_until;
  std::vector<pollfd> fds;
  std::vector<Watch> watches;

  while (true) {
    const auto now = Clock::now();
    if (running_count() == 0) {
      if (!any_stream_open()) break;
      if (!linger_until) linger_until = now + kLinger;
      if (now >= *linger_until) break;
    }
    if (settle_until_ && now >= *settle_until_) settle_failures();
    if (deadline && !stopping_ && !settle_until_ && now >= *deadline) {
      end_ = JobEnd::kTimedOut;
      say("job still running after " + format_seconds(options_.timeout) +
          " (its timeout); stopping " + plural_ranks(running_count()));
      begin_stop(SIGTERM);
    }
    if (stopping_ && !killed_ && now >= kill_at_) kill_remaining();

    // Sleep until something happens or the next deadline.
    std::optional<Clock::time_point> wake;
    auto consider = [&](Clock::time_point t) { wake = wake ? std::min(*wake, t) : t; };
    if (settle_until_) consider(*settle_until_);
    if (stopping_ && !killed_) consider(kill_at_);
    if (deadline && !stopping_) consider(*deadline);
    if (linger_until) consider(*linger_until);
    int timeout_ms = -1;
    if (wake) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }

    fds.clear();
    watches.clear();
    if (signals_) {
      fds.push_back({signals_->fd(), POLLIN, 0});
      watches.push_back({Source::kSignal, nullptr, nullptr});
    }
    for (Rank& r : ranks_) {
      for (Stream* s : {r.out.get(), r.err.get()}) {
        if (s == nullptr) continue;
        fds.push_back({s->fd.get(), POLLIN, 0});
        watches.push_back({Source::kStream, &r, s});
      }
      if (r.running) {
        fds.push_back({r.process.pidfd.get(), POLLIN, 0});
        watches.push_back({Source::kExit, &r, nullptr});
      }
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw IoError("launch: poll failed: " + net::error_text(errno));
    }
    // Signals first, then output, then exits (whose output is drained first).
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const Watch& w = watches[i];
      if (w.source == Source::kSignal) {
        for (int sig = signals_->next(); sig != 0; sig = signals_->next()) on_signal(sig);
      } else if (w.source == Source::kStream) {
        if (!read_stream(*w.stream, false)) {
          (w.stream == w.rank->out.get() ? w.rank->out : w.rank->err).reset();
        }
      }
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && watches[i].source == Source::kExit) on_exit(*watches[i].rank);
    }
  }
  for (Rank& r : ranks_) {
    close_stream(r.out);
    close_stream(r.err);
  }

  JobResult result;
  result.end = end_;
  for (const Rank& r : ranks_) result.ranks.push_back(r.outcome);
  switch (end_) {
    case JobEnd::kSucceeded: break;
    case JobEnd::kRankFailed:
      result.failed = failed_;
      result.exit_code = failed_->status.shell_code();
      result.reason = describe_rank(*failed_) + " " + failed_->status.describe();
      break;
    case JobEnd::kInterrupted:
      result.signal = signal_;
      result.exit_code = 128 + signal_;
      result.reason = "interrupted by " + signal_name(signal_);
      break;
    case JobEnd::kTimedOut:
      result.exit_code = 124;
      result.reason = "timed out after " + format_seconds(options_.timeout);
      break;
  }
  return result;
}

void Job::kill_and_reap_all() {
  for (Rank& r : ranks_) {
    if (!r.running) continue;
    send_signal(r.process, SIGKILL);
    int status = 0;
    while (::waitpid(r.process.pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.running = false;
  }
}

}  // namespace

std::string describe_rank(const RankOutcome& rank) {
  return "rank " + std::to_string(rank.rank) + " (local rank " + std::to_string(rank.local_rank) +
         ", pid " + std::to_string(rank.pid) + ")";
}

JobResult run_job(const std::vector<ChildSpec>& specs, const SupervisorOptions& options) {
  if (specs.empty()) throw InvalidArgument("launch: a job needs at least one rank, got none");
  Job job(options);
  job.start(specs);
  return job.wait();
}

}  // namespace baton::launch
