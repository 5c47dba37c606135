// The doctor's shared-memory checks: room in /dev/shm for the job's segment,
// and whether two processes can share a segment and read each other's
// memory (process_vm_readv), as the ranks of one host do.
//
// The segment's size is the transport's own formula (shm::Segment::bytes_for:
// a ring of BATON_SHM_RING_BYTES per ordered pair of the node's ranks, their
// slots, and each rank's shared area of 16 BATON_SHM_AREA_BYTES buffers). The
// exchange creates a 4 KiB file in the shm directory as shm_open(3) does
// (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, then posix_fallocate as the
// transport does), forks a child that opens and maps it by name, and passes
// a random value each way; the same child reads a word of the parent's
// memory written after the fork with process_vm_readv, which is what the
// single-copy path does between sibling ranks. The file is unlinked before
// the check returns.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/random.hpp"
#include "core/socket.hpp"
#include "launch/doctor/checks.hpp"
#include "launch/doctor/forked_child.hpp"
#include "transport/shm/area.hpp"
#include "transport/shm/segment.hpp"

namespace baton::launch::doctor {
namespace {

constexpr size_t kExchangeBytes = 4096;
constexpr auto kExchangeTimeout = std::chrono::seconds(2);

// One shared mapping, unmapped once.
class Mapping {
 public:
  Mapping(int fd, size_t bytes) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     fd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED, fd, 0);
    base_ = p == MAP_FAILED ? nullptr : p;
    error_ = p == MAP_FAILED ? errno : 0;
  }
  ~Mapping() {
    if (base_ != nullptr) ::munmap(base_, bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  void* get() const { return base_; }
  int error() const { return error_; }

 private:
  void* base_ = nullptr;
  size_t bytes_;
  int error_ = 0;
};

// What the child reports, in an anonymous shared page.
struct Report {
  std::atomic<uint64_t> go;  // the parent has written the probe and the segment's value
  int32_t open_error;        // -1: not tried
  int32_t map_error;
  int32_t value_seen;  // the child read the parent's value from the segment
  int32_t pvr_error;   // process_vm_readv's errno, 0 when it worked
  uint64_t pvr_value;
};

// The segment's two words: the parent's value, then the child's answer.
struct Words {
  std::atomic<uint64_t> from_parent;
  std::atomic<uint64_t> from_child;
};

std::string ptrace_scope() {
  std::ifstream in("/proc/sys/kernel/yama/ptrace_scope");
  int scope = -1;
  if (!(in >> scope)) return "";
  return std::to_string(scope);
}

std::string single_copy_setting() {
  try {
    return config::get_bool("BATON_SHM_SINGLE_COPY") ? "1" : "0";
  } catch (const Error&) {
    return "?";
  }
}

DoctorRow space_row(const DoctorOptions& o) {
  const std::string name = "/dev/shm space";
  uint64_t need = 0;
  try {
    need = shm_bytes_needed(o);
  } catch (const Error& e) {
    return fail(name, e.what(), "fix the variable it names (docs/configuration.md)");
  }
  struct statvfs vfs {};
  if (::statvfs(o.shm_dir.c_str(), &vfs) != 0) {
    const std::string why = o.shm_dir + ": " + net::error_text(errno);
    if (need == 0) return warn(name, why + " (this job does not need it)", "mount a tmpfs there");
    return fail(name, why + "; the job's segment needs " + format_bytes(need),
                "mount a tmpfs at " + o.shm_dir + " (`mount -t tmpfs -o size=1g tmpfs " +
                    o.shm_dir + "`), or set BATON_TRANSPORT=tcp");
  }
  const uint64_t total = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  const uint64_t free = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const std::string room = format_bytes(free) + " free of " + format_bytes(total);
  struct statfs fs {};
  const bool memory_backed = ::statfs(o.shm_dir.c_str(), &fs) == 0 &&
                             (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
  if (need == 0) {
    return ok(name, o.shm_dir + " has " + room + "; not used by this job (" +
                        (o.nproc_per_node < 2 ? "one rank on this node" : "BATON_TRANSPORT=tcp") +
                        ")");
  }
  const std::string needs = "the segment of " + std::to_string(o.nproc_per_node) + " ranks needs " +
                            format_bytes(need) +
                            " (BATON_SHM_RING_BYTES=" + config::get_string("BATON_SHM_RING_BYTES") +
                            " x " + std::to_string(o.nproc_per_node) + " x " +
                            std::to_string(o.nproc_per_node - 1) + " rings + shared areas)";
  // Room for four segments (new_group maps more), in whole MiB as mount takes it.
  const std::string size = std::to_string((total + 4 * need + (1 << 20) - 1) >> 20) + "m";
  const std::string resize = "enlarge it (`mount -o remount,size=" + size + " " + o.shm_dir +
                             "`; docker: --shm-size=" + size +
                             "), lower BATON_SHM_RING_BYTES, or set BATON_TRANSPORT=tcp";
  if (free < need) return fail(name, needs + "; " + o.shm_dir + " has " + room, resize);
  if (!memory_backed) {
    return warn(name,
                needs + "; " + o.shm_dir + " has " + room + " but is not a tmpfs (disk-backed)",
                "mount a tmpfs at " + o.shm_dir);
  }
  if (free < 2 * need) {
    return warn(name,
                needs + "; " + o.shm_dir + " has " + room +
                    ": room for the world group only (each new_group on this node maps one more)",
                resize);
  }
  return ok(name, needs + "; " + o.shm_dir + " has " + room);
}

}  // namespace

uint64_t shm_bytes_needed(const DoctorOptions& o) {
  if (o.nproc_per_node < 2 || config::get_string("BATON_TRANSPORT") == "tcp") return 0;
  const int64_t ring = config::get_int("BATON_SHM_RING_BYTES");
  const int64_t area = config::get_int("BATON_SHM_AREA_BYTES");
  if (ring < 4096) {
    throw InvalidArgument("BATON_SHM_RING_BYTES=" + std::to_string(ring) +
                          " is too small: a ring needs at least 4096 bytes");
  }
  if (area < 0) throw InvalidArgument("BATON_SHM_AREA_BYTES=" + std::to_string(area) + " < 0");
  return transport::shm::Segment::bytes_for(
      o.nproc_per_node, static_cast<size_t>(ring),
      transport::shm::area_bytes_for(static_cast<size_t>(area)));
}

Rows shm_checks(const DoctorOptions& o) {
  Rows rows;
  rows.push_back(space_row(o));
  uint64_t need = 0;
  try {
    need = shm_bytes_needed(o);
  } catch (const Error&) {
  }
  const bool shm_used = need > 0;

  // The parent's segment, made as shm_open(3) makes one.
  const std::string path =
      o.shm_dir + "/baton-doctor-" + std::to_string(::getpid()) + "-" + random_hex();
  int create_error = 0;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    create_error = errno;
  } else if (const int e = ::posix_fallocate(fd.get(), 0, kExchangeBytes); e != 0) {
    create_error = e;
  }
  struct Unlink {
    const std::string& path;
    bool armed;
    ~Unlink() {
      if (armed) ::unlink(path.c_str());
    }
  } unlink_file{path, fd.valid()};
  std::optional<Mapping> segment;
  if (create_error == 0) {
    segment.emplace(fd.get(), kExchangeBytes);
    if (segment->get() == nullptr) create_error = segment->error();
  }
  const bool have_segment = create_error == 0;
  fd.reset();

  Mapping report_page(-1, sizeof(Report));
  if (report_page.get() == nullptr) {
    rows.push_back(
        fail("shm between processes",
             "cannot map an anonymous shared page: " + net::error_text(report_page.error()),
             "check the memory limits (ulimit -v, the cgroup's memory.max)"));
    rows.push_back(skipped("process_vm_readv", "no page to report through"));
    return rows;
  }
  auto* report = new (report_page.get()) Report{};
  report->open_error = -1;
  report->pvr_error = -1;
  auto* probe = new std::atomic<uint64_t>(random_u64());  // the child keeps this value
  const std::unique_ptr<std::atomic<uint64_t>> own_probe(probe);
  const uint64_t value = random_u64() | 1;
  const uint64_t probe_value = probe->load() ^ 0x9e3779b97f4a7c15ull;

  ForkedChild child([&]() -> int {
    if (!wait_for_value(report->go, 1, Clock::now() + kExchangeTimeout)) return 3;
    if (have_segment) {
      UniqueFd mine(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
      report->open_error = mine ? 0 : errno;
      if (mine) {
        Mapping map(mine.get(), kExchangeBytes);
        report->map_error = map.get() == nullptr ? map.error() : 0;
        if (map.get() != nullptr) {
          auto* words = static_cast<Words*>(map.get());
          report->value_seen = words->from_parent.load(std::memory_order_acquire) == value;
          words->from_child.store(~value, std::memory_order_release);
        }
      }
    }
    uint64_t read = 0;
    iovec local{&read, sizeof read};
    iovec remote{probe, sizeof read};
    const ssize_t n = ::process_vm_readv(::getppid(), &local, 1, &remote, 1, 0);
    report->pvr_error = n == static_cast<ssize_t>(sizeof read) ? 0 : (n < 0 ? errno : EIO);
    report->pvr_value = read;
    return 0;
  });
  if (!child.started()) {
    const std::string why = "cannot fork: " + net::error_text(child.error());
    rows.push_back(fail("shm between processes", why, "raise the process limit (ulimit -u)"));
    rows.push_back(fail("process_vm_readv", why, "raise the process limit (ulimit -u)"));
    return rows;
  }
  probe->store(probe_value, std::memory_order_release);  // after the fork: only our copy
  Words* words = have_segment ? static_cast<Words*>(segment->get()) : nullptr;
  if (words != nullptr) words->from_parent.store(value, std::memory_order_release);
  report->go.store(1, std::memory_order_release);
  const std::optional<int> code =
      child.wait_until(Clock::now() + kExchangeTimeout + kExchangeTimeout);

  // Shared memory between two processes.
  {
    const std::string name = "shm between processes";
    auto bad = [&](const std::string& why) {
      const std::string fix = "make " + o.shm_dir +
                              " a writable tmpfs of this user (`mount -t tmpfs tmpfs " + o.shm_dir +
                              "`), or set BATON_TRANSPORT=tcp";
      return shm_used ? fail(name, why, fix) : warn(name, why + " (this job does not use it)", fix);
    };
    if (!have_segment) {
      rows.push_back(
          bad("cannot create a segment in " + o.shm_dir + ": " + net::error_text(create_error)));
    } else if (code != 0) {
      rows.push_back(bad("the forked child did not finish within " +
                         std::to_string(2 * kExchangeTimeout.count()) + " s"));
    } else if (report->open_error != 0) {
      rows.push_back(
          bad("a forked child cannot open the segment: " + net::error_text(report->open_error)));
    } else if (report->map_error != 0) {
      rows.push_back(
          bad("a forked child cannot map the segment: " + net::error_text(report->map_error)));
    } else if (report->value_seen == 0 ||
               words->from_child.load(std::memory_order_acquire) != ~value) {
      rows.push_back(bad("a value written to the segment did not reach the other process"));
    } else {
      rows.push_back(ok(name, "a forked child opened and mapped a segment in " + o.shm_dir +
                                  " by name; a value crossed each way"));
    }
  }
  // process_vm_readv (the single-copy path).
  {
    const std::string name = "process_vm_readv";
    const std::string setting = single_copy_setting();
    if (code != 0 || report->pvr_error < 0) {
      rows.push_back(skipped(name, "the forked child did not get to it"));
    } else if (report->pvr_error == 0 && report->pvr_value == probe_value) {
      rows.push_back(ok(name,
                        "a forked child read this process's memory (single copy can work; "
                        "BATON_SHM_SINGLE_COPY=" +
                            setting + ")"));
    } else {
      std::string why = report->pvr_error == 0 ? std::string("it read a stale value")
                                               : "it failed: " + net::error_text(report->pvr_error);
      const std::string scope = ptrace_scope();
      if (!scope.empty()) {
        why += " (kernel.yama.ptrace_scope=" + scope +
               (scope == "0" ? ""
                             : ": only a process's ancestors may read it, and ranks are "
                               "siblings") +
               ")";
      }
      const std::string detail = "a forked child cannot read this process's memory: " + why;
      const std::string fix =
          "`sysctl kernel.yama.ptrace_scope=0`, or give the ranks CAP_SYS_PTRACE (containers: "
          "--cap-add SYS_PTRACE); the rings carry every message meanwhile";
      if (setting == "1") {
        rows.push_back(warn(name, detail + "; BATON_SHM_SINGLE_COPY=1 has no effect", fix));
      } else {
        rows.push_back(ok(name, detail + "; unused while BATON_SHM_SINGLE_COPY=0"));
      }
    }
  }
  return rows;
}

}  // namespace baton::launch::doctor
