// The doctor's checks of this host's limits: the clock's synchronisation,
// open files (RLIMIT_NOFILE) against the connections a rank holds, and the
// CPUs this process may use against the ranks it would start.
//
// Clock: there is no store-recorded time to compare CLOCK_REALTIME with
// before the job starts, so the check asks the kernel instead: adjtimex(2)
// (reading only) says whether a time service keeps the clock synchronised
// (STA_UNSYNC clear) and how far off it may be (maxerror). Unsynchronised
// clocks do not stop a job, but timestamps of different hosts (logs,
// traces) then disagree.
//
// Open files: a rank holds about two sockets per peer (its connections and
// the peer's to it), a pidfd per rank of its node, and some more (the store's
// connection pool, epoll and event fds, the program's own files); baton-run
// holds two pipes and a pidfd per rank. Ranks inherit baton-run's limit.
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/socket.hpp"
#include "launch/doctor/checks.hpp"

namespace baton::launch::doctor {
namespace {

constexpr long kMaxErrorWarnUs = 100'000;  // 100 ms

std::string text_us(long us) {
  return format_latency(std::chrono::microseconds(us));
}

DoctorRow open_files_row(const DoctorOptions& o) {
  const std::string name = "open files";
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return skipped(name, "getrlimit(RLIMIT_NOFILE): " + net::error_text(errno));
  }
  const uint64_t need = open_files_needed(o);
  auto text = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
  };
  const std::string detail =
      "soft limit " + text(limit.rlim_cur) + ", hard " + text(limit.rlim_max) + "; a rank of " +
      std::to_string(o.nnodes * o.nproc_per_node) + " needs about " + std::to_string(need);
  const bool hard_enough = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= 2 * need;
  const std::string fix = hard_enough
                              ? "`ulimit -n " + std::to_string(std::max<uint64_t>(2 * need, 4096)) +
                                    "` before baton-run"
                              : "raise the hard limit (/etc/security/limits.conf `nofile`, systemd "
                                "LimitNOFILE, docker --ulimit nofile=" +
                                    std::to_string(std::max<uint64_t>(2 * need, 65536)) + ")";
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < need) {
    return fail(name, detail + ": connections would fail with EMFILE", fix);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 2 * need) {
    return warn(name, detail + ": little room for the program's own files", fix);
  }
  return ok(name, detail);
}

// CPUs a cgroup v2 quota allows (cpu.max "quota period"), or 0 for none.
double cgroup_cpus() {
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  try {
    return std::stod(quota) / period;
  } catch (const std::exception&) {
    return 0;
  }
}

DoctorRow cpus_row(const DoctorOptions& o) {
  const std::string name = "cpus";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    return skipped(name, "sched_getaffinity: " + net::error_text(errno));
  }
  const int affinity = CPU_COUNT(&set);
  int cpus = affinity;
  std::string detail =
      std::to_string(affinity) + (affinity == 1 ? " CPU" : " CPUs") + " in this process's affinity";
  if (const double quota = cgroup_cpus(); quota > 0 && quota < affinity) {
    cpus = std::max(1, static_cast<int>(std::floor(quota)));
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", quota);
    detail += std::string(", a cgroup quota of ") + text + " CPUs";
  }
  const std::string ranks = std::to_string(o.nproc_per_node) +
                            (o.nproc_per_node == 1 ? " rank" : " ranks") + " on this node";
  if (o.nproc_per_node > cpus) {
    return warn(name,
                ranks + ", " + detail +
                    ": oversubscribed, so waiting ranks yield their core and collectives slow down",
                "--nproc-per-node " + std::to_string(cpus) +
                    " (or fewer), or give the job more CPUs (taskset, the cgroup's cpuset)");
  }
  return ok(name, ranks + ", " + detail);
}

}  // namespace

DoctorRow clock_row(int state, const timex& tx, int nnodes) {
  const std::string name = "clock";
  if (state < 0) return skipped(name, "adjtimex(2) failed: " + net::error_text(errno));
  const bool unsync = (tx.status & STA_UNSYNC) != 0 || state == TIME_ERROR;
  const std::string errors =
      "maxerror " + text_us(tx.maxerror) + ", esterror " + text_us(tx.esterror);
  const std::string fix = "run a time service (chrony, systemd-timesyncd or ntpd) on every node";
  const std::string why = nnodes > 1 ? "timestamps of different nodes (logs, traces) disagree"
                                     : "wall-clock timestamps in logs may be off";
  if (unsync) {
    return warn(name,
                "CLOCK_REALTIME is not synchronised (adjtimex: STA_UNSYNC; " + errors + "): " + why,
                fix);
  }
  if (tx.maxerror > kMaxErrorWarnUs) {
    return warn(name, "synchronised, but " + errors + ": " + why, fix);
  }
  return ok(name, "synchronised (adjtimex; " + errors + ")");
}

uint64_t open_files_needed(const DoctorOptions& o) {
  const auto world = static_cast<uint64_t>(o.nnodes) * static_cast<uint64_t>(o.nproc_per_node);
  const auto local = static_cast<uint64_t>(o.nproc_per_node);
  const uint64_t rank = 2 * world + local + 32;
  const uint64_t launcher = 3 * local + 32;
  return std::max(rank, launcher);
}

Rows limits_checks(const DoctorOptions& options) {
  Rows rows;
  timex tx{};
  tx.modes = 0;  // read only
  const int state = ::adjtimex(&tx);
  rows.push_back(clock_row(state, tx, options.nnodes));
  rows.push_back(open_files_row(options));
  rows.push_back(cpus_row(options));
  return rows;
}

}  // namespace baton::launch::doctor
