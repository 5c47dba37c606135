// Helpers shared by the end-to-end rendezvous tests: free ports, a temporary
// directory, the launcher environment of one rank, and the checks (and the
// orderly goodbye) every successful rendezvous must pass.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/socket.hpp"
#include "rendezvous/rendezvous.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::rendezvous::testing {

using baton::testing::ScopedEnv;

inline constexpr baton::testing::RunOptions kProcesses{.mode = baton::testing::RankMode::kProcesses,
                                                       .timeout = std::chrono::seconds(60)};

inline uint16_t free_port() {
  UniqueFd fd = net::listen_tcp("127.0.0.1", 0, 1);
  return net::local_address(fd.get()).port();
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "baton_rdzv_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The checks every successful rendezvous of a one-host job must pass, then
// a goodbye through the store so that rank 0 (which may serve it) leaves last.
inline void check_and_leave(const Result& r, int rank, int world) {
  EXPECT_EQ(r.rank, rank);
  EXPECT_EQ(r.world_size, world);
  EXPECT_EQ(r.local_rank, rank) << "every rank runs on this host";
  EXPECT_EQ(r.local_world_size, world);
  ASSERT_EQ(r.hosts.size(), static_cast<size_t>(world));
  for (const HostIdentity& h : r.hosts) EXPECT_EQ(h, local_host_identity());
  EXPECT_FALSE(r.job_id.empty());
  ASSERT_NE(r.store, nullptr);
  Store& store = *r.store;
  store.set("test/job/" + std::to_string(rank), r.job_id);
  store.set("test/left/" + std::to_string(rank), "1");
  if (rank != 0) return;
  std::vector<std::string> keys;
  for (int q = 1; q < world; ++q) keys.push_back("test/left/" + std::to_string(q));
  store.wait(keys, std::chrono::seconds(20));
  for (int q = 1; q < world; ++q) {
    EXPECT_EQ(store.get_string("test/job/" + std::to_string(q)), r.job_id)
        << "rank " << q << " disagrees with rank 0 on the job id";
  }
}

inline void set_torchrun_env(ScopedEnv& env, int rank, int world, uint16_t port,
                             const std::string& addr = "127.0.0.1") {
  env.clear_launcher_variables();
  env.set("RANK", std::to_string(rank)).set("WORLD_SIZE", std::to_string(world));
  env.set("MASTER_ADDR", addr).set("MASTER_PORT", std::to_string(port));
}

}  // namespace baton::rendezvous::testing
