// The TCP transport's listener under a flood during setup: hundreds of idle
// connections (more than its 256 handshake slots) and some that send
// garbage, still arriving while the real peer connects. Setup completes
// well within its deadline (the oldest pending handshakes are closed for
// newcomers, and a real peer whose handshake was closed retries), and the
// ranks' logs stay short (rate-limited warnings; stderr is captured and
// its lines counted).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <thread>

#include "auth/secret.hpp"
#include "baton/file_store.hpp"
#include "core/log.hpp"
#include "tests/support/rank_runner.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/transport/tcp_test_util.hpp"
#include "transport/tcp/factory.hpp"
#include "transport/tcp/listener.hpp"

namespace baton::transport::testing {
namespace {

using ::testing::HasSubstr;

// Sends this process's stderr to a file until stop(); returns its lines.
class CapturedStderr {
 public:
  explicit CapturedStderr(std::string path) : path_(std::move(path)) {
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~CapturedStderr() { stop(); }
  std::vector<std::string> stop() {
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
    std::vector<std::string> lines;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::string path_;
  int saved_ = -1;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

constexpr int kIdle = 320;
constexpr int kGarbage = 40;

class TcpFloodTest : public TcpTempDirTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !auth::supported()) GTEST_SKIP() << "built without libcrypto";
    TcpTempDirTest::SetUp();
  }
};

TEST_P(TcpFloodTest, SetupCompletesWithinItsDeadlineAndTheLogStaysShort) {
  const std::string path = store_path();
  const bool with_secret = GetParam();
  const std::string dir = dir_;
  baton::testing::run_ranks(
      3,
      [&](int rank, int) {
        baton::testing::ScopedEnv env("BATON_LOG", std::nullopt);  // warn level
        log::reload_from_env();
        FileStore store(path, FileStoreOptions{.timeout = 60s, .job_id = "suite"});
        if (rank == 2) {  // the flood, on rank 0's listener
          await(store, "g/tcp/0");
          const std::string address = store.get_string("g/tcp/0");
          std::deque<UniqueFd> fds;
          for (int i = 0; i < kIdle; ++i) fds.push_back(raw_connect(address));
          const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
          const std::string zeds(100, 'Z');
          for (int i = 0; i < kGarbage; ++i) {
            fds.push_back(raw_connect(address));
            const std::string& bytes = i % 2 == 0 ? http : zeds;
            net::send_all(fds.back().get(), u8(std::as_bytes(std::span(bytes))), Clock::now() + 5s);
          }
          signal(store, "flooded");
          // Go on while rank 1 sets up: one new idle connection per ms.
          const std::vector<std::string> done = {"connected/1"};
          int more = 0;
          while (!store.check(done) && more < 20000) {
            try {
              fds.push_back(raw_connect(address));
            } catch (const ConnectionError&) {
              break;  // rank 0's setup is over: its listener is closed
            }
            if (fds.size() > 600) fds.pop_front();
            ++more;
            std::this_thread::sleep_for(1ms);
          }
          EXPECT_GT(more, 0);
          store_barrier(store, "end", rank, 3);
          return;
        }
        TcpOptions options;
        options.job_id = "jobF";
        options.timeout = 20s;
        options.listen_address = "127.0.0.1";
        if (with_secret)
          options.secret = auth::Secret::from_text("the flood test's secret", "test");
        CapturedStderr captured(dir + "/stderr" + std::to_string(rank));
        if (rank == 1) await(store, "flooded");
        const auto start = Clock::now();
        std::unique_ptr<Context> ctx;
        try {
          ctx = make_tcp_context(store, "g", rank, 2, options);
        } catch (const std::exception& e) {
          const auto lines = captured.stop();
          FAIL() << "setup failed: " << e.what() << "\nlog:\n" << joined(lines);
        }
        const auto took = Clock::now() - start;
        if (rank == 1) signal(store, "connected/1");
        const auto payload = pattern(16 << 10, static_cast<uint64_t>(rank + 5));
        std::vector<std::byte> got(16 << 10);
        auto r = ctx->irecv(1 - rank, p2p(0), got);
        wait_ok(ctx->isend(1 - rank, p2p(0), payload));
        wait_ok(r);
        expect_pattern(got, 16 << 10, static_cast<uint64_t>(1 - rank + 5));
        const auto lines = captured.stop();
        EXPECT_LT(took, 10s) << "rank " << rank;
        EXPECT_LT(lines.size(), 50u) << "rank " << rank << " logged:\n" << joined(lines);
        if (rank == 0) {
          // The flood was seen, and its warnings were cut short.
          EXPECT_THAT(joined(lines), HasSubstr("refused a connection from 127.0.0.1:"));
          EXPECT_THAT(joined(lines), HasSubstr("warnings about them were suppressed"));
        }
        store_barrier(store, "end", rank, 3);
      },
      {.timeout = 60s});
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpFloodTest, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "WithSecret" : "NoSecret";
                         });

}  // namespace
}  // namespace baton::transport::testing
