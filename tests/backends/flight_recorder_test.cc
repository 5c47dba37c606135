// The flight recorder: its ring, its dump format (read back by the report
// parser), and a real job whose rank 2 stops issuing collectives: the
// report names the operation the others wait in and the rank they wait for.
#include "backends/flight_recorder.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "baton/baton.hpp"
#include "collectives/op_kind.hpp"
#include "collectives/select.hpp"
#include "launch/flight_report.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::backends {
namespace {

using testing::contains;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/baton-flight-test-XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path());
    return out;
  }

 private:
  std::string path_;
};

size_t dir_count(const std::string& path) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(path))
    n += e.path().extension() == ".flight";
  return n;
}

FlightRecorder::Identity identity(const std::string& name, int rank, int size) {
  FlightRecorder::Identity id;
  id.group_name = name;
  id.rank = rank;
  id.size = size;
  return id;
}

FlightOp collective(uint64_t seq, collectives::OpKind kind, uint64_t count) {
  FlightOp op;
  op.seq = seq;
  op.desc.kind = static_cast<uint8_t>(kind);
  op.desc.dtype = static_cast<uint8_t>(DType::Float32);
  op.desc.count = count;
  op.bytes = 4 * count;
  return op;
}

TEST(FlightRecorder, KeepsTheLastEntriesInOrder) {
  auto rec = FlightRecorder::make(identity("world", 0, 2), 4);
  ASSERT_NE(rec, nullptr);
  for (uint64_t s = 1; s <= 10; ++s) {
    const uint64_t t = rec->issued(collective(s, collectives::OpKind::kAllReduce, s));
    rec->started(t);
    if (s != 10) rec->ended(t, true, 1);
  }
  const auto snap = rec->snapshot();
  ASSERT_EQ(snap.size(), 4u);
  EXPECT_EQ(snap.front().seq, 7u);
  EXPECT_EQ(snap.back().seq, 10u);
  EXPECT_EQ(snap.back().state, FlightState::kStarted);
  EXPECT_EQ(snap[2].state, FlightState::kCompleted);
  EXPECT_EQ(snap[2].count, 9u);
  EXPECT_EQ(snap[2].bytes, 36u);
  // A ticket overwritten by later entries is not touched.
  rec->ended(1, false);
  EXPECT_EQ(rec->snapshot().front().seq, 7u);
}

TEST(FlightRecorder, OffWhenConfiguredToZero) {
  testing::ScopedEnv env("BATON_FLIGHT_RECORDER_ENTRIES", "0");
  EXPECT_EQ(FlightRecorder::make(identity("world", 0, 1)), nullptr);
}

TEST(FlightRecorder, DumpReadsBackThroughTheReportParser) {
  TempDir dir;
  testing::ScopedEnv env("BATON_FLIGHT_DIR", dir.path());
  auto rec = FlightRecorder::make(
      {.group_name = "group 1", .rank = 1, .size = 2, .world_ranks = {4, 6}, .transport = "shm"},
      8);
  const uint64_t a = rec->issued(collective(1, collectives::OpKind::kBroadcast, 16));
  rec->ended(a, true, static_cast<uint8_t>(collectives::Algorithm::kBinomialTree) + 1);
  rec->issued(collective(2, collectives::OpKind::kAllReduce, 1024), FlightState::kStarted);
  FlightOp send;
  send.peer = 0;
  send.tag = 7;
  send.is_send = true;
  send.bytes = 12;
  rec->issued(send, FlightState::kPosted);
  ASSERT_TRUE(dump_flight_records("a test\nwith two lines"));
  const auto files = dir.files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(contains(files[0], "/rank6." + std::to_string(::getpid()) + ".flight")) << files[0];
  std::ifstream in(files[0]);
  std::stringstream text;
  text << in.rdbuf();
  const launch::FlightDump dump = launch::parse_flight_dump(text.str(), files[0]);
  EXPECT_EQ(dump.rank, 6);
  EXPECT_EQ(dump.pid, ::getpid());
  EXPECT_EQ(dump.reason, "a test with two lines");
  ASSERT_EQ(dump.groups.size(), 1u);
  const launch::FlightGroup& g = dump.groups[0];
  EXPECT_EQ(g.name, "group 1");
  EXPECT_EQ(g.world_ranks, (std::vector<int>{4, 6}));
  ASSERT_EQ(g.ops.size(), 3u);
  EXPECT_EQ(g.ops[0].kind, "broadcast");
  EXPECT_EQ(g.ops[0].algorithm, "binomial_tree");
  EXPECT_EQ(g.ops[0].state, "completed");
  EXPECT_EQ(g.ops[1].kind, "all_reduce");
  EXPECT_EQ(g.ops[1].count, 1024u);
  EXPECT_EQ(g.ops[1].state, "started");
  EXPECT_EQ(g.ops[2].kind, "send");
  EXPECT_EQ(g.ops[2].tag, 7);
  EXPECT_EQ(g.ops[2].state, "posted");
  // A record cut short (a crash while writing) is an error naming the file.
  const std::string cut = text.str().substr(0, text.str().size() - 4);
  EXPECT_THROW(launch::parse_flight_dump(cut, "x"), ProtocolError);
}

// Rank 2 stops issuing collectives after two all_reduces (busy elsewhere);
// ranks 0 and 1 time out in the third and write their records, then rank 2
// gets SIGTERM (as baton-run stops the ranks of a failed job) and writes its
// own from the signal handler. The report says who waits for whom.
TEST(FlightRecorder, ReportNamesTheRankTheOthersWaitFor) {
  TempDir dir;
  testing::JobDir job;
  testing::ScopedEnv env("BATON_FLIGHT_DIR", dir.path());
  const auto results = testing::try_run_ranks(3, [&](int rank, int n) {
    InitOptions options;
    options.init_method = job.init_method();
    options.rank = rank;
    options.world_size = n;
    options.timeout = std::chrono::milliseconds(1000);
    init_process_group(options);
    Tensor t = Tensor::ones({64});
    all_reduce(t);
    all_reduce(t);
    if (rank == 2) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (dir_count(dir.path()) < 2 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::raise(SIGTERM);
    }
    EXPECT_THROW(all_reduce(t), TimeoutError);
    destroy_process_group();
  });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok) << results[0].what;
  EXPECT_TRUE(results[1].ok) << results[1].what;
  EXPECT_TRUE(contains(results[2].what, "signal 15")) << results[2].what;
  std::string problems;
  const auto dumps = launch::read_flight_dumps(dir.path(), &problems);
  EXPECT_EQ(problems, "");
  ASSERT_EQ(dumps.size(), 3u);
  EXPECT_EQ(dumps[2].reason, "signal SIGTERM");
  const std::string report = launch::flight_report(dumps, 3);
  EXPECT_TRUE(
      contains(report, "ranks 0, 1 wait in all_reduce #3 on world for rank 2 (last completed #2)"))
      << report;
  EXPECT_TRUE(contains(report, "rank 2: last completed all_reduce #2 (float32 x 64")) << report;
}

}  // namespace
}  // namespace baton::backends
