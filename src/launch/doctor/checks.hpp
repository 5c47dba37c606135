// The doctor's groups of checks (launch/doctor.hpp), one file each, and the
// few helpers they share.
//
// Each group returns its rows in table order and never throws: an error
// inside a check becomes that check's row. The pure pieces (the verdict of a
// clock status, the open-files need of a layout) are separate functions so
// that tests can feed them states this machine is not in.
//
// Thread safety: as run_checks (one thread; some checks fork).
#pragma once

#include <sys/timex.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "launch/doctor.hpp"

namespace baton::launch::doctor {

using Rows = std::vector<DoctorRow>;

// network_checks.cc: "interface", "master port", "store".
Rows network_checks(const DoctorOptions& options);

// shm_checks.cc: "/dev/shm space", "shm between processes", "process_vm_readv".
Rows shm_checks(const DoctorOptions& options);
// The bytes of the job's shared-memory segment on this node (0 when it has
// none: one rank, or BATON_TRANSPORT=tcp).
uint64_t shm_bytes_needed(const DoctorOptions& options);

// limits_checks.cc: "clock", "open files", "cpus".
Rows limits_checks(const DoctorOptions& options);
// The verdict on a clock whose adjtimex(2) status is `tx` (state: its return).
DoctorRow clock_row(int state, const timex& tx, int nnodes);
// Open files one rank needs (and baton-run itself) for this layout.
uint64_t open_files_needed(const DoctorOptions& options);

// build_checks.cc: "backends", "job secret", "cuda".
Rows build_checks(const DoctorOptions& options);

// sample.cc: "tcp loopback", "shm copy" (skipped when sample_time is 0).
Rows sample_checks(const DoctorOptions& options);

// format.cc: units as the table writes them.
std::string format_bytes(uint64_t bytes);              // "1.0 MiB", "512 B", "24.0 GiB"
std::string format_rate(double bytes_per_second);      // "2.31 GB/s", "850 MB/s"
std::string format_latency(std::chrono::nanoseconds);  // "0.42 us", "18.3 us", "2.10 ms"

// Row builders.
DoctorRow ok(std::string check, std::string detail);
DoctorRow warn(std::string check, std::string detail, std::string fix);
DoctorRow fail(std::string check, std::string detail, std::string fix);
DoctorRow skipped(std::string check, std::string why);

}  // namespace baton::launch::doctor
