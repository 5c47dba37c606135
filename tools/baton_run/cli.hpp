// The command line of baton-run, parsed and checked.
//
// parse_command_line reads torchrun's options (both --dash-names and
// --underscore_names) and the program to run; everything from the program on
// belongs to the program. It prints --help and --version itself and reports
// bad input as "baton-run: error: ..." on stderr.
//
// Thread safety: call once, from main.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "launch/job_env.hpp"
#include "launch/job_secret.hpp"

namespace baton::tools {

struct RunConfig {
  launch::JobLayout layout;          // ranks, master address and port, job id, secret
  launch::JobSecret secret;          // where layout's secret came from (launch/job_secret.hpp)
  std::vector<std::string> command;  // the program and its arguments
  bool standalone = false;           // serve the store in baton-run, on a free port (set by main)
  bool prefix_output = true;
  int max_restarts = 0;  // restarts of every rank after a failure (--max-restarts)
  std::chrono::milliseconds grace_period{std::chrono::seconds(3)};
  // --flight-report DIR: print the report of the records there and exit.
  std::string flight_report_dir;
  // --doctor: run the pre-flight checks (launch/doctor.hpp) first; with no
  // command, only them.
  bool doctor = false;
};

// The parsed configuration, or nullopt when baton-run should exit at once
// with *exit_code (0 after --help or --version, 2 after a usage error).
std::optional<RunConfig> parse_command_line(int argc, char** argv, int* exit_code);

}  // namespace baton::tools
