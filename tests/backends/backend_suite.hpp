// The backend conformance suite: every operation of the public API, checked
// with exact expectations, on world sizes 1 to 8.
//
// A backend (or a backend over one transport) is done when its one
// instantiation line passes:
//   BATON_INSTANTIATE_BACKEND_SUITE(NativeTcp, {.name = "native_tcp", .backend = "native",
//                                               .env = {{"BATON_TRANSPORT", "tcp"}}});
// (backend_instances.cc holds the lines). Each test runs its ranks as forked
// processes (tests/support/rank_runner.hpp); every rank sets the parameter's
// environment variables, joins a job through a FileStore in a fresh scratch
// directory, runs the test body and leaves with destroy_process_group().
// Tests that do not apply to a world size skip themselves.
//
// To keep the whole suite within a few minutes on two cores it samples: the
// small element counts (0, 1, 3, 1000) for every collective at every world
// size, blocking and async; more than 1 Mi elements at a few world sizes;
// every dtype x op at world sizes 2, 3 and 5.
//
// Thread safety: GoogleTest fixtures, used from the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "baton/distributed.hpp"
#include "tests/backends/suite_support.hpp"

namespace baton::testing {

struct BackendParam {
  std::string name;     // test name suffix: "native_tcp"
  std::string backend;  // InitOptions::backend
  // Environment set in every rank before init_process_group.
  std::vector<std::pair<std::string, std::string>> env;
  // > 0: ranks claim to run on hosts of this many ranks each (BATON_HOST_ID
  // "suite-host-<rank / ranks_per_host>"), so one machine runs a group that
  // spans "hosts": shared memory inside each, tcp between them.
  int ranks_per_host = 0;
};

// GoogleTest prints a parameter by its name.
inline void PrintTo(const BackendParam& param, std::ostream* os) {
  *os << param.name;
}

using SuiteParam = std::tuple<BackendParam, int>;  // backend, world size

inline constexpr int kSuiteWorldSizes[] = {1, 2, 3, 4, 5, 6, 7, 8};

class BackendSuite : public ::testing::TestWithParam<SuiteParam> {
 protected:
  const BackendParam& param() const { return std::get<0>(GetParam()); }
  int world_size() const { return std::get<1>(GetParam()); }

  // The InitOptions a rank of this test's job uses (FileStore rendezvous).
  InitOptions init_options(int rank, int n) const;

  // Runs body(rank, n) on n = world_size() forked ranks, each between
  // init_process_group and destroy_process_group. Fails the test for every
  // rank that fails, crashes or outlives `timeout`.
  void run(const std::function<void(int rank, int n)>& body,
           std::chrono::milliseconds timeout = std::chrono::seconds(90));
  // The same on n ranks without initialising anything (the body does).
  void run_plain(int n, const std::function<void(int rank, int n)>& body,
                 std::chrono::milliseconds timeout = std::chrono::seconds(90));
  // Sets the parameter's environment in the calling (child) process, rank `rank`.
  void apply_env(int rank) const;

  JobDir dir_;
};

std::string suite_param_name(const ::testing::TestParamInfo<SuiteParam>& info);

}  // namespace baton::testing

// One instantiation of the suite: a prefix for test names and a BackendParam.
#define BATON_INSTANTIATE_BACKEND_SUITE(prefix, ...)                                    \
  INSTANTIATE_TEST_SUITE_P(                                                             \
      prefix, BackendSuite,                                                             \
      ::testing::Combine(::testing::Values(::baton::testing::BackendParam __VA_ARGS__), \
                         ::testing::ValuesIn(::baton::testing::kSuiteWorldSizes)),      \
      ::baton::testing::suite_param_name)
