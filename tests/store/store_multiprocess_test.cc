// Stores shared by forked processes: 8 processes x 1000 add() on one key
// must give exactly 8000, and a store-based barrier must release everyone,
// for TcpStore and FileStore.
#include <gtest/gtest.h>

#include <filesystem>

#include "baton/file_store.hpp"
#include "baton/tcp_store.hpp"
#include "tests/store/store_test_util.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/support/store_server_process.hpp"

namespace baton::testing {
namespace {

using std::chrono::seconds;

constexpr int kProcesses = 8;
constexpr int kAddsPerProcess = 1000;
const RunOptions kRun{.mode = RankMode::kProcesses, .timeout = seconds(90)};

// Every rank: 1000 adds on one counter, then a barrier through the store.
void hammer_and_meet(Store& store, int rank, int world) {
  for (int i = 0; i < kAddsPerProcess; ++i) store.add("counter", 1);
  store.set("arrived/" + std::to_string(rank), std::string_view("1"));
  std::vector<std::string> everyone;
  for (int r = 0; r < world; ++r) everyone.push_back("arrived/" + std::to_string(r));
  store.wait(everyone, seconds(60));
  // After the barrier every add is in.
  EXPECT_EQ(store.add("counter", 0), int64_t{kProcesses} * kAddsPerProcess) << "rank " << rank;
}

TEST(StoreMultiProcess, TcpStoreCountsExactlyAcrossEightProcesses) {
  StoreServerProcess server;  // not a thread here: the ranks are forked
  const uint16_t port = server.port();
  run_ranks(
      kProcesses,
      [port](int rank, int world) {
        TcpStore store("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(60)});
        hammer_and_meet(store, rank, world);
      },
      kRun);
  TcpStore check("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(30)});
  EXPECT_EQ(check.add("counter", 0), int64_t{kProcesses} * kAddsPerProcess);
}

TEST(StoreMultiProcess, FileStoreCountsExactlyAcrossEightProcesses) {
  TempDir dir;
  const std::string path = dir.file("store");
  const FileStoreOptions options{.timeout = seconds(60), .job_id = "multiprocess"};
  {
    FileStore keeper(path, options);  // keeps the file alive for the check below
    run_ranks(
        kProcesses,
        [&](int rank, int world) {
          FileStore store(path, options);
          hammer_and_meet(store, rank, world);
        },
        kRun);
    EXPECT_EQ(keeper.add("counter", 0), int64_t{kProcesses} * kAddsPerProcess);
  }
  // Every process closed its store, so the last one removed the file.
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace baton::testing
