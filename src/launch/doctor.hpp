// The doctor: pre-flight checks of what makes a job fail or run slowly
// (`baton-run --doctor`).
//
// run_checks looks at this node as a job with the given layout would use it
// and returns one Row per check, each with a verdict and, unless it is ok, a
// fix: the network (the interface the ranks bind, the master port, the store
// behind it), the clock, /dev/shm (its room against the job's segment, and
// whether shared memory and process_vm_readv work between two processes),
// the limits (open files, CPUs), what this build holds (backends, job
// secrets, CUDA) and a short loopback sample (TCP and shared memory, latency
// and bandwidth). Every check can fail for real; one that cannot run here
// says "skipped: why". The groups live in src/launch/doctor/, one file each.
//
// Side effects: the checks bind and close sockets, connect to the master
// address, fork short-lived children (killed and reaped before a check
// returns, whatever happens) and create and unlink one small file in the
// shm directory. They leave nothing behind.
//
// Blocking: run_checks takes about 2 * sample_time plus, when the master is
// another host, up to 2 * connect_timeout; no step blocks longer than its
// timeout. Nothing throws: a check that breaks becomes its own row.
//
// Thread safety: call from one thread, before the job's threads start (the
// checks fork; the children only touch memory and call async-signal-safe
// functions).
#pragma once

#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton::launch {

struct DoctorOptions {
  // The job, as baton-run's layout has it.
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;   // 0: picked when the job starts (--standalone)
  bool hosts_master = true;  // this node runs rank 0, which binds master_port
  // The job secret the ranks will prove, as text (JobSecret::resolve_text),
  // and where it came from, for messages ("generated", "--secret-file /p",
  // "BATON_SECRET"); "" when the job has none.
  std::string secret;
  std::string secret_source;
  // Where to look; tests point these elsewhere.
  std::string shm_dir = "/dev/shm";
  std::string nvidia_gpus_dir = "/proc/driver/nvidia/gpus";
  // Connecting to the master and the store's hello, each at most this long.
  std::chrono::milliseconds connect_timeout{1000};
  // Each of the two loopback samples (TCP, shared memory); 0 skips them.
  std::chrono::milliseconds sample_time{1000};
};

enum class Verdict { kOk, kWarn, kFail, kSkipped };

struct DoctorRow {
  std::string check;  // "master port"
  Verdict verdict = Verdict::kOk;
  std::string detail;  // what was found, with the numbers
  std::string fix;     // what to do ("" when ok)
};

// "ok", "warn", "FAIL", "skip".
std::string_view verdict_name(Verdict verdict);

// Every check, in table order. Does not throw.
std::vector<DoctorRow> run_checks(const DoctorOptions& options);

// The rows as an aligned table (check, verdict, detail; the fix on a line of
// its own under the detail) and a last line with the outcome.
std::string format_table(std::span<const DoctorRow> rows);

// Whether no row failed: the job would run (warnings allowed).
bool rows_pass(std::span<const DoctorRow> rows);

// Runs the checks, prints a heading and the table to `out`, and returns 0
// when the job would run, 1 when a check failed.
int run_doctor(const DoctorOptions& options, std::FILE* out = stdout);

}  // namespace baton::launch
