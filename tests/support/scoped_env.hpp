// ScopedEnv: sets and unsets environment variables for one test, restoring
// every one it touched when it goes out of scope.
//
// clear_launcher_variables() unsets every variable a rendezvous reads, so a
// test sees the same environment whether ctest runs it bare, under
// baton-run, mpirun or Slurm.
//
// Thread safety: none; use from the test's main thread (or a forked rank).
#pragma once

#include <stdlib.h>

#include <map>
#include <optional>
#include <string>

namespace baton::testing {

class ScopedEnv {
 public:
  ScopedEnv() = default;
  // One variable for the scope: set to `value`, or unset when nullopt.
  ScopedEnv(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      set(name, *value);
    } else {
      unset(name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_) {
      if (old) {
        ::setenv(name.c_str(), old->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

  ScopedEnv& set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
    return *this;
  }
  ScopedEnv& unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
    return *this;
  }

  ScopedEnv& clear_launcher_variables() {
    for (const char* name : {"RANK",
                             "WORLD_SIZE",
                             "LOCAL_RANK",
                             "LOCAL_WORLD_SIZE",
                             "OMPI_COMM_WORLD_RANK",
                             "OMPI_COMM_WORLD_SIZE",
                             "OMPI_COMM_WORLD_LOCAL_RANK",
                             "OMPI_COMM_WORLD_LOCAL_SIZE",
                             "PMI_RANK",
                             "PMI_SIZE",
                             "MPI_LOCALRANKID",
                             "MPI_LOCALNRANKS",
                             "SLURM_PROCID",
                             "SLURM_NTASKS",
                             "SLURM_LOCALID",
                             "MASTER_ADDR",
                             "MASTER_PORT",
                             "BATON_AGENT_STORE",
                             "BATON_JOB_ID",
                             "BATON_SECRET",
                             "BATON_SECRET_FILE",
                             "BATON_SOCKET_IFNAME",
                             "BATON_TIMEOUT"}) {
      unset(name);
    }
    return *this;
  }

 private:
  void remember(const std::string& name) {
    if (saved_.count(name) != 0) return;
    const char* old = ::getenv(name.c_str());
    saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
  }

  std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace baton::testing
