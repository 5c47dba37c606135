// Reading the ranks' flight records (backends/flight_recorder.hpp) and
// saying what each rank was doing and which rank the others wait for.
//
// baton-run gives every rank BATON_FLIGHT_DIR; when a job fails it reads the
// records found there and prints flight_report(). `baton-run --flight-report
// DIR` does the same for the records of a job started another way (mpirun,
// srun with BATON_FLIGHT_DIR set), docs/observability.md.
//
// Thread safety: free functions on values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace baton::launch {

struct FlightOpRecord {
  uint64_t ticket = 0;
  uint64_t seq = 0;  // 0 for point-to-point
  std::string kind;  // "all_reduce", ..., "send", "recv"
  std::string dtype;
  std::string algorithm;  // "-" when none
  std::string state;      // issued, started, completed, failed, posted
  uint64_t count = 0, bytes = 0;
  int64_t root = -1, peer = -1, tag = 0;
  int64_t issued_us = 0, started_us = 0, ended_us = 0;
};

struct FlightGroup {
  std::string name;
  int rank = 0;  // group rank of the writer
  int size = 0;
  std::string transport;
  std::vector<int> world_ranks;  // per group rank
  std::vector<FlightOpRecord> ops;
};

struct FlightDump {
  std::string path;
  int64_t pid = 0;
  int rank = -1;  // world rank of the writer
  std::string reason;
  int64_t now_us = 0;  // the writer's coarse monotonic clock at the dump
  std::vector<FlightGroup> groups;
};

// Parses one dump. ProtocolError naming `path` and the line for anything
// malformed (a dump cut short by a crash: no "end" line).
FlightDump parse_flight_dump(std::string_view text, const std::string& path);
// Every "*.flight" file of `dir` (a rank's newest when it wrote several).
// IoError when `dir` cannot be read; a malformed file is skipped with a line
// about it in *problems.
std::vector<FlightDump> read_flight_dumps(const std::string& dir, std::string* problems);
// The report: per group, each rank's last completed and pending operations,
// then who waits for whom. `world_size` (-1: unknown) names the ranks that
// wrote nothing.
std::string flight_report(const std::vector<FlightDump>& dumps, int world_size);

}  // namespace baton::launch
