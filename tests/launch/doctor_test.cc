// The doctor (launch/doctor.hpp): the table has every check, and settings
// broken on purpose are found. Each broken setting is real: a port that is
// held, a 1 MiB tmpfs mounted in a private mount namespace, RLIMIT_NOFILE of
// 16, one CPU, loopback down (or no route) in a network namespace,
// process_vm_readv or fork refused by a seccomp filter. Whatever changes the process runs in a
// forked child (tests/launch/doctor_child.hpp), which sends its rows back; a setting this machine
// cannot make (no CAP_SYS_ADMIN for a namespace) skips with why.
#include "launch/doctor.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "auth/secret.hpp"
#include "baton/tcp_store.hpp"
#include "core/net_interface.hpp"
#include "core/socket.hpp"
#include "launch/doctor/checks.hpp"
#include "launch/job_env.hpp"
#include "tests/launch/doctor_child.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::launch {
namespace {

using doctor::Rows;
using testing::ScopedEnv;

const DoctorRow& row(const Rows& rows, std::string_view check) {
  for (const DoctorRow& r : rows) {
    if (r.check == check) return r;
  }
  static const DoctorRow missing{"(missing)", Verdict::kSkipped, "no such row", ""};
  ADD_FAILURE() << "no row '" << check << "' among " << rows.size();
  return missing;
}

std::string describe(const DoctorRow& r) {
  return std::string(verdict_name(r.verdict)) + " | " + r.detail + " | fix: " + r.fix;
}

void expect_row(const Rows& rows, std::string_view check, Verdict verdict,
                std::initializer_list<std::string> parts) {
  const DoctorRow& r = row(rows, check);
  EXPECT_EQ(r.verdict, verdict) << check << ": " << describe(r);
  for (const std::string& part : parts) {
    EXPECT_NE((r.detail + " | " + r.fix).find(part), std::string::npos)
        << check << " should say '" << part << "': " << describe(r);
  }
}
// The row named `check` has `verdict`, and its detail or fix says each part.
#define BATON_EXPECT_ROW(rows, check, verdict, ...)  \
  do {                                               \
    SCOPED_TRACE(check);                             \
    expect_row(rows, check, verdict, {__VA_ARGS__}); \
  } while (0)

DoctorOptions quick(int nproc = 2) {
  DoctorOptions o;
  o.nproc_per_node = nproc;
  o.master_port = find_free_port("127.0.0.1");
  o.connect_timeout = std::chrono::milliseconds(300);
  o.sample_time = std::chrono::milliseconds(0);
  return o;
}

constexpr const char* kChecks[] = {
    "interface",        "master port", "store",          "clock",
    "open files",       "cpus",        "/dev/shm space", "shm between processes",
    "process_vm_readv", "backends",    "job secret",     "cuda",
    "tcp loopback",     "shm copy"};

TEST(Doctor, TableHasEveryCheckOnceAligned) {
  DoctorOptions o = quick();
  o.sample_time = std::chrono::milliseconds(200);
  const Rows rows = run_checks(o);
  ASSERT_EQ(rows.size(), std::size(kChecks));
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].check, kChecks[i]);
  // What this machine must have for the rest of the suite to pass anyway.
  BATON_EXPECT_ROW(rows, "master port", Verdict::kOk, std::to_string(o.master_port), "free");
  BATON_EXPECT_ROW(rows, "shm between processes", Verdict::kOk, "crossed each way");
  EXPECT_NE(row(rows, "tcp loopback").verdict, Verdict::kFail)
      << describe(row(rows, "tcp loopback"));
  EXPECT_NE(row(rows, "shm copy").verdict, Verdict::kFail) << describe(row(rows, "shm copy"));
  EXPECT_NE(row(rows, "tcp loopback").detail.find("/s"), std::string::npos);

  const std::string table = format_table(rows);
  const size_t verdict_column = std::string("shm between processes").size() + 2;
  size_t lines = 0;
  for (size_t at = 0, end; (end = table.find('\n', at)) != std::string::npos; at = end + 1) {
    const std::string line = table.substr(at, end - at);
    ++lines;
    for (const char* check : kChecks) {
      if (line.rfind(std::string(check) + " ", 0) == 0) {
        const std::string verdict = line.substr(verdict_column, 4);
        EXPECT_TRUE(verdict == "ok  " || verdict == "warn" || verdict == "FAIL" ||
                    verdict == "skip")
            << "misaligned: " << line;
      }
    }
    EXPECT_LE(line.size(), 100u) << line;
  }
  EXPECT_GT(lines, rows.size() + 1);
  EXPECT_EQ(table.rfind("check ", 0), 0u) << table;
  EXPECT_NE(table.find(rows_pass(rows) ? "the job would run (exit 0)" : "would not run (exit 1)"),
            std::string::npos)
      << table;
}

TEST(Doctor, FormatTableWrapsDetailAndFixUnderTheDetailColumn) {
  const std::vector<DoctorRow> rows = {
      {"a", Verdict::kOk, "short", ""},
      {"longer name", Verdict::kFail, std::string(150, 'x') + " tail words here", "do this"},
      {"s", Verdict::kSkipped, "no netns", ""}};
  const std::string table = format_table(rows);
  EXPECT_NE(table.find("a            ok       short\n"), std::string::npos) << table;
  EXPECT_NE(table.find("longer name  FAIL     xxxx"), std::string::npos) << table;
  EXPECT_NE(table.find("\n                      tail words here\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\n                      fix: do this\n"), std::string::npos) << table;
  EXPECT_NE(table.find("s            skip     skipped: no netns\n"), std::string::npos) << table;
  EXPECT_NE(table.find("1 check failed, 0 warnings: the job would not run (exit 1)"),
            std::string::npos)
      << table;
  EXPECT_FALSE(rows_pass(rows));
  EXPECT_TRUE(rows_pass(std::span(rows).first(1)));
}

TEST(DoctorNetwork, HeldMasterPortFailsNamingThePortAndTheFix) {
  const UniqueFd holder = net::listen_tcp("127.0.0.1", 0);
  const int port = net::local_address(holder.get()).port();
  DoctorOptions o = quick();
  o.master_port = port;
  const Rows rows = doctor::network_checks(o);
  BATON_EXPECT_ROW(rows, "master port", Verdict::kFail, "port " + std::to_string(port), "in use",
                   "--master-port", "sport = :" + std::to_string(port));
  // It listens but never answers the hello: not a Baton store.
  BATON_EXPECT_ROW(rows, "store", Verdict::kWarn, "not a Baton store");
  BATON_EXPECT_ROW(rows, "interface", Verdict::kOk, "127.0.0.1");

  // run_doctor prints the table and exits 1 for it; 0 once the port is free.
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&text, &size);
  EXPECT_EQ(run_doctor(o, out), 1);
  std::fclose(out);
  const std::string printed(text, size);
  std::free(text);
  EXPECT_NE(printed.find("master port"), std::string::npos) << printed;
  EXPECT_NE(printed.find("would not run (exit 1)"), std::string::npos) << printed;
  out = std::fopen("/dev/null", "w");
  EXPECT_EQ(run_doctor(quick(), out), 0) << "a healthy node with a free port";
  std::fclose(out);
}

TEST(DoctorNetwork, MasterAddressOfAnotherHostIsRefusedOnRankZerosNode) {
  DoctorOptions o = quick();
  o.master_addr = "203.0.113.7";  // TEST-NET-3: never this host's
  o.nnodes = 2;
  BATON_EXPECT_ROW(doctor::network_checks(o), "master port", Verdict::kFail,
                   "not an address of this host", "--node-rank");
}

TEST(DoctorNetwork, UnreachableMasterFailsAndARefusingOneWarns) {
  // A network namespace has no route anywhere: the master is unreachable.
  const ChildRows child = rows_in_child([]() -> ChildRows {
    if (::unshare(CLONE_NEWNET) != 0) return skip_child("unshare(CLONE_NEWNET): " + errno_text());
    DoctorOptions o;
    o.nnodes = 2;
    o.node_rank = 1;
    o.hosts_master = false;
    o.master_addr = "203.0.113.7";  // TEST-NET-3
    o.connect_timeout = std::chrono::milliseconds(300);
    return {doctor::network_checks(o), ""};
  });
  if (!child.skip.empty()) GTEST_SKIP() << child.skip;
  BATON_EXPECT_ROW(child.rows, "master port", Verdict::kFail, "cannot reach 203.0.113.7:29500",
                   "unreachable", "firewalls");
  BATON_EXPECT_ROW(child.rows, "store", Verdict::kSkipped, "master port check failed");

  // Nobody on the port: node 0 not started yet, a warning.
  DoctorOptions o = quick();
  o.hosts_master = false;
  const Rows rows = doctor::network_checks(o);
  BATON_EXPECT_ROW(rows, "master port", Verdict::kWarn,
                   "connection refused at 127.0.0.1:" + std::to_string(o.master_port), "node 0");
  BATON_EXPECT_ROW(rows, "store", Verdict::kSkipped, "nothing listens");
}

// Rank 1's node asks the store on the master (this host's outside address).
TEST(DoctorNetwork, StoreHelloFromAnotherNodeAndItsSecret) {
  const net::SocketAddress outside = net::default_interface_address();
  if (outside.host().rfind("127.", 0) == 0 || outside.host() == "::1") {
    GTEST_SKIP() << "this host has no address but loopback";
  }
  DoctorOptions o = quick();
  o.nnodes = 2;
  o.node_rank = 1;
  o.hosts_master = false;
  o.master_addr = outside.host();
  {
    TcpStoreServer server(TcpStoreServerOptions{.host = outside.host(), .port = 0, .secret = ""});
    o.master_port = server.port();
    const Rows rows = doctor::network_checks(o);
    BATON_EXPECT_ROW(rows, "interface", Verdict::kOk, outside.host());
    BATON_EXPECT_ROW(rows, "master port", Verdict::kOk, "reachable");
    BATON_EXPECT_ROW(rows, "store", Verdict::kOk, "a Baton store answers the hello", "0 keys");
  }
  if (!auth::supported()) GTEST_SKIP() << "no libcrypto: no secrets to check";
  const std::string secret(40, 's');
  TcpStoreServer server(TcpStoreServerOptions{.host = outside.host(), .port = 0, .secret = secret});
  o.master_port = server.port();
  ScopedEnv no_env_secret("BATON_SECRET", std::nullopt);
  ScopedEnv no_env_file("BATON_SECRET_FILE", std::nullopt);
  BATON_EXPECT_ROW(doctor::network_checks(o), "store", Verdict::kFail, "reachable, secret needed");
  o.secret = std::string(40, 't');
  o.secret_source = "BATON_SECRET";
  BATON_EXPECT_ROW(doctor::network_checks(o), "store", Verdict::kFail, "refuses this job's secret");
  o.secret = secret;
  BATON_EXPECT_ROW(doctor::network_checks(o), "store", Verdict::kOk, "a Baton store answers");
}

TEST(DoctorNetwork, LoopbackDownInANetworkNamespaceFailsBindAndSample) {
  const ChildRows child = rows_in_child([]() -> ChildRows {
    if (::unshare(CLONE_NEWNET) != 0) return skip_child("unshare(CLONE_NEWNET): " + errno_text());
    DoctorOptions o;  // a new namespace: nothing holds port 29500, and its loopback is down
    o.nproc_per_node = 2;
    o.connect_timeout = std::chrono::milliseconds(300);
    o.sample_time = std::chrono::milliseconds(100);
    Rows rows = doctor::network_checks(o);
    for (DoctorRow& r : doctor::sample_checks(o)) rows.push_back(std::move(r));
    return {rows, ""};
  });
  if (!child.skip.empty()) GTEST_SKIP() << child.skip;
  BATON_EXPECT_ROW(child.rows, "interface", Verdict::kFail, "no network interface is up",
                   "lo (down)");
  BATON_EXPECT_ROW(child.rows, "master port", Verdict::kFail, "127.0.0.1:29500", "cannot connect",
                   "ip link set lo up");
  BATON_EXPECT_ROW(child.rows, "tcp loopback", Verdict::kFail, "cannot connect to 127.0.0.1",
                   "loopback down", "ip link set lo up");
  EXPECT_NE(row(child.rows, "shm copy").verdict, Verdict::kFail) << "shm needs no network";
}

// A tmpfs of `size` (mount options) at a fresh directory, in this (child's)
// private mount namespace; "" or why not.
std::string mount_tmpfs(const std::string& dir, const char* options, unsigned long flags = 0) {
  if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS): " + errno_text();
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return "mount --make-rprivate /: " + errno_text();
  }
  if (::mount("tmpfs", dir.c_str(), "tmpfs", flags, options) != 0) {
    return "mount -t tmpfs -o " + std::string(options) + ": " + errno_text();
  }
  return "";
}

TEST(DoctorShm, TinyTmpfsFailsTheSpaceCheck) {
  const TempDir dir;
  const ChildRows child = rows_in_child([&]() -> ChildRows {
    if (std::string why = mount_tmpfs(dir.path(), "size=1m"); !why.empty()) return skip_child(why);
    DoctorOptions o = quick(4);
    o.shm_dir = dir.path();
    Rows rows = doctor::shm_checks(o);
    o.nproc_per_node = 1;
    DoctorRow one = doctor::shm_checks(o).front();
    one.check = "one rank";
    rows.push_back(one);
    return {rows, ""};
  });
  if (!child.skip.empty()) GTEST_SKIP() << child.skip;
  DoctorOptions four = quick(4);
  const uint64_t need = doctor::shm_bytes_needed(four);
  EXPECT_GT(need, 12u << 20) << "twelve rings of 1 MiB";
  BATON_EXPECT_ROW(
      child.rows, "/dev/shm space", Verdict::kFail, "4 ranks needs " + doctor::format_bytes(need),
      "1.0 MiB free of 1.0 MiB", dir.path(), "BATON_TRANSPORT=tcp",
      // 1 MiB there plus four segments, in whole MiB as mount takes it
      "remount,size=" + std::to_string(((1 << 20) + 4 * need + (1 << 20) - 1) >> 20) + "m");
  // The segment test needs only 4 KiB: it still works there.
  BATON_EXPECT_ROW(child.rows, "shm between processes", Verdict::kOk, dir.path());
  BATON_EXPECT_ROW(child.rows, "one rank", Verdict::kOk, "not used by this job", "1.0 MiB free");
}

TEST(DoctorShm, RoomyTmpfsPassesAndReadOnlyOneFailsTheExchange) {
  const TempDir roomy;
  const TempDir read_only;
  const ChildRows child = rows_in_child([&]() -> ChildRows {
    if (std::string why = mount_tmpfs(roomy.path(), "size=64m"); !why.empty())
      return skip_child(why);
    if (::mount("tmpfs", read_only.path().c_str(), "tmpfs", MS_RDONLY, "size=1m") != 0) {
      return skip_child("mount -o ro tmpfs: " + errno_text());
    }
    DoctorOptions o = quick(2);
    o.shm_dir = roomy.path();
    Rows rows = doctor::shm_checks(o);
    o.shm_dir = read_only.path();
    for (DoctorRow r : doctor::shm_checks(o)) {
      r.check = "ro " + r.check;
      rows.push_back(std::move(r));
    }
    return {rows, ""};
  });
  if (!child.skip.empty()) GTEST_SKIP() << child.skip;
  BATON_EXPECT_ROW(child.rows, "/dev/shm space", Verdict::kOk, "2 ranks needs", "free of 64.0 MiB");
  BATON_EXPECT_ROW(child.rows, "shm between processes", Verdict::kOk, "crossed each way");
  BATON_EXPECT_ROW(child.rows, "ro shm between processes", Verdict::kFail, "Read-only file system",
                   "BATON_TRANSPORT=tcp");
}

TEST(DoctorShm, ProcessVmReadvRefusedBySeccomp) {
  for (const char* single_copy : {"1", "0"}) {
    const ChildRows child = rows_in_child([&]() -> ChildRows {
      if (std::string why = refuse_syscalls({SYS_process_vm_readv}, EPERM); !why.empty()) {
        return skip_child(why);
      }
      ::setenv("BATON_SHM_SINGLE_COPY", single_copy, 1);
      return {doctor::shm_checks(quick(2)), ""};
    });
    if (!child.skip.empty()) GTEST_SKIP() << child.skip;
    if (single_copy[0] == '1') {
      BATON_EXPECT_ROW(child.rows, "process_vm_readv", Verdict::kWarn, "Operation not permitted",
                       "BATON_SHM_SINGLE_COPY=1 has no effect", "ptrace_scope");
    } else {
      BATON_EXPECT_ROW(child.rows, "process_vm_readv", Verdict::kOk, "Operation not permitted",
                       "unused while BATON_SHM_SINGLE_COPY=0");
    }
    BATON_EXPECT_ROW(child.rows, "shm between processes", Verdict::kOk, "crossed each way");
  }
}

// No process can be forked (as under a full pids cgroup): both samples and
// the exchange fail, naming fork.
TEST(DoctorSample, NoForkFailsBothSamplesAndTheExchange) {
  const ChildRows child = rows_in_child([]() -> ChildRows {
    if (std::string why = refuse_syscalls({SYS_clone, SYS_clone3, SYS_fork, SYS_vfork}, EAGAIN);
        !why.empty()) {
      return skip_child(why);
    }
    DoctorOptions o = quick(2);
    o.sample_time = std::chrono::milliseconds(100);
    Rows rows = doctor::sample_checks(o);
    rows.push_back(doctor::shm_checks(o)[1]);
    return {rows, ""};
  });
  if (!child.skip.empty()) GTEST_SKIP() << child.skip;
  BATON_EXPECT_ROW(child.rows, "tcp loopback", Verdict::kFail, "cannot fork", "temporarily");
  BATON_EXPECT_ROW(child.rows, "shm copy", Verdict::kFail, "cannot fork");
  BATON_EXPECT_ROW(child.rows, "shm between processes", Verdict::kFail, "cannot fork", "ulimit -u");
}

TEST(DoctorLimits, LowOpenFilesLimitFails) {
  const ChildRows child = rows_in_child([]() -> ChildRows {
    // Lowering limits needs no privilege; raising the hard one again would.
    rlimit roomier{50, 1000};
    if (::setrlimit(RLIMIT_NOFILE, &roomier) != 0) return skip_child("setrlimit: " + errno_text());
    DoctorRow low_soft = doctor::limits_checks(quick(2))[1];
    low_soft.check = "low soft";
    rlimit sixteen{16, 16};
    if (::setrlimit(RLIMIT_NOFILE, &sixteen) != 0) return skip_child("setrlimit: " + errno_text());
    Rows rows = doctor::limits_checks(quick(2));
    rows.push_back(low_soft);
    return {rows, ""};
  });
  ASSERT_TRUE(child.skip.empty()) << child.skip;
  DoctorOptions two = quick(2);
  EXPECT_EQ(doctor::open_files_needed(two), 2u * 2 + 2 + 32);
  BATON_EXPECT_ROW(child.rows, "open files", Verdict::kFail, "soft limit 16, hard 16",
                   "needs about 38", "EMFILE", "hard limit");
  BATON_EXPECT_ROW(child.rows, "low soft", Verdict::kWarn, "soft limit 50, hard 1000", "ulimit -n");
  // 1024 ranks need more than a default soft limit of 1024.
  two.nnodes = 512;
  EXPECT_GT(doctor::open_files_needed(two), 2048u);
}

TEST(DoctorLimits, MoreRanksThanCpusWarns) {
  const ChildRows child = rows_in_child([]() -> ChildRows {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (::sched_setaffinity(0, sizeof one, &one) != 0)
      return skip_child("sched_setaffinity: " + errno_text());
    Rows rows = {doctor::limits_checks(quick(2))[2]};
    DoctorRow alone = doctor::limits_checks(quick(1))[2];
    alone.check = "alone";
    rows.push_back(alone);
    return {rows, ""};
  });
  ASSERT_TRUE(child.skip.empty()) << child.skip;
  BATON_EXPECT_ROW(child.rows, "cpus", Verdict::kWarn, "2 ranks on this node, 1 CPU",
                   "oversubscribed", "--nproc-per-node 1");
  BATON_EXPECT_ROW(child.rows, "alone", Verdict::kOk, "1 rank on this node, 1 CPU");
}

TEST(DoctorLimits, ClockVerdictFollowsAdjtimex) {
  timex tx{};
  tx.status = STA_UNSYNC;
  tx.maxerror = 16'000'000;
  tx.esterror = 16'000'000;
  BATON_EXPECT_ROW(Rows{doctor::clock_row(TIME_ERROR, tx, 2)}, "clock", Verdict::kWarn,
                   "STA_UNSYNC", "maxerror 16.0 s", "different nodes", "chrony");
  tx.status = STA_PLL;
  tx.maxerror = 2'000;
  tx.esterror = 150;
  BATON_EXPECT_ROW(Rows{doctor::clock_row(TIME_OK, tx, 2)}, "clock", Verdict::kOk, "synchronised",
                   "maxerror 2.00 ms", "esterror 150.0 us");
  tx.maxerror = 700'000;
  BATON_EXPECT_ROW(Rows{doctor::clock_row(TIME_OK, tx, 1)}, "clock", Verdict::kWarn,
                   "maxerror 700.00 ms");
}

TEST(DoctorBuild, FakeGpusWarnAndBadSettingsFail) {
  const TempDir gpus;
  for (const char* bus : {"0000:01:00.0", "0000:02:00.0"}) {
    std::filesystem::create_directory(gpus.path() + "/" + bus);
    std::ofstream(gpus.path() + "/" + bus + "/information")
        << "Model: \t NVIDIA H100 80GB HBM3\nIRQ: 1\n";
  }
  DoctorOptions o = quick();
  o.nvidia_gpus_dir = gpus.path();
  BATON_EXPECT_ROW(doctor::build_checks(o), "cuda", Verdict::kWarn,
                   "2 NVIDIA GPUs (NVIDIA H100 80GB HBM3)", "not built");
  o.nvidia_gpus_dir = gpus.path() + "/absent";
  BATON_EXPECT_ROW(doctor::build_checks(o), "cuda", Verdict::kOk, "no NVIDIA GPUs");

  {
    ScopedEnv nccl("BATON_BACKEND", "nccl");
    BATON_EXPECT_ROW(doctor::build_checks(o), "backends", Verdict::kFail, "BATON_BACKEND", "nccl",
                     "not built in");
  }
  BATON_EXPECT_ROW(doctor::build_checks(o), "backends", Verdict::kOk, "native", "BATON_BACKEND=");

  o.nnodes = 2;
  BATON_EXPECT_ROW(doctor::build_checks(o), "job secret", Verdict::kWarn, "none", "--secret-file");
  o.secret = "short";
  o.secret_source = "BATON_SECRET";
  BATON_EXPECT_ROW(doctor::build_checks(o), "job secret", Verdict::kFail,
                   auth::supported() ? "unusable" : "no libcrypto");
  if (auth::supported()) {
    o.secret = std::string(32, 'k');
    BATON_EXPECT_ROW(doctor::build_checks(o), "job secret", Verdict::kOk, "a secret (BATON_SECRET)",
                     "fingerprint");
  }
}

}  // namespace
}  // namespace baton::launch
