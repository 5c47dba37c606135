// Floods of hostile connections against a real TcpStore server on
// 127.0.0.1: 10,000 of them (idle, half a handshake, garbage, no secret,
// unread gets of a large value) opened by a forked child while an
// authenticated client keeps working within a loose bound and the server's
// memory stays bounded; idle handshakes cannot keep a real client out; a
// full server answers "full" until room is made.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "auth/secret.hpp"
#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "store/tcp_protocol.hpp"
#include "tests/store/raw_socket.hpp"
#include "tests/store/store_test_util.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::testing {
namespace {

namespace tcp = store::tcp;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "store-flood-test-secret-0123456789";
constexpr uint64_t kMiB = uint64_t{1} << 20;

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::vector<uint8_t> get_frame(std::string_view key) {
  tcp::Request r;
  r.command = tcp::Command::kGet;
  r.key = key;
  r.timeout_ms = 60'000;
  return tcp::encode_request(r, kMiB);
}

struct FloodSummary {
  int opened = 0;
  int unread_gets = 0;
};

// The hostile child: opens `count` connections of five kinds and holds them
// until `quit` reaches EOF. Never returns.
[[noreturn]] void flood(int port_fd, int ready_fd, int quit_fd, int count) {
  ::alarm(60);  // whatever happens, this child does not outlive the test
  raise_fd_limit();
  uint16_t port = 0;
  if (::read(port_fd, &port, sizeof(port)) != sizeof(port)) ::_exit(2);
  const auto secret = auth::Secret::from_text(kSecret, "test");
  std::vector<std::unique_ptr<RawSocket>> held;
  held.reserve(static_cast<size_t>(count));
  FloodSummary summary;
  try {
    for (int i = 0; i < count; ++i) {
      const bool unread_get = i % 5 == 4 && summary.unread_gets < 100;
      auto raw = std::make_unique<RawSocket>(port, unread_get ? 4096 : 0);
      switch (i % 5) {
        case 0: break;  // idle after the TCP connect
        case 1:         // a hello and nonce, then idle in the handshake
          raw->send(tcp::encode_hello({.flags = tcp::kHelloHasSecret}));
          raw->send(std::vector<uint8_t>(auth::kNonceBytes, 7));
          break;
        case 2: raw->send(std::string_view("GET / HTTP/1.1\r\nHost: store\r\n\r\n")); break;
        case 3: raw->send(tcp::encode_hello({})); break;  // no secret
        case 4:
          if (unread_get && raw->authenticate(*secret)) {
            raw->send(get_frame("big"));  // and never read the reply
            ++summary.unread_gets;
          } else {
            raw->send(std::vector<uint8_t>(64, 0xEE));
          }
          break;
      }
      held.push_back(std::move(raw));
      ++summary.opened;
    }
  } catch (const std::exception&) {
    // Report what was opened.
  }
  if (::write(ready_fd, &summary, sizeof(summary)) != sizeof(summary)) ::_exit(3);
  char c = 0;
  while (::read(quit_fd, &c, 1) > 0) {
  }
  ::_exit(0);
}

// The largest resident set seen while it runs.
class RssSampler {
 public:
  RssSampler()
      : thread_([this] {
          while (!stop_) {
            raise_to(peak_, rss_bytes());
            std::this_thread::sleep_for(milliseconds(5));
          }
        }) {}
  ~RssSampler() { stop(); }
  uint64_t peak() const { return peak_.load(); }
  uint64_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_.load();
  }

 private:
  static void raise_to(std::atomic<uint64_t>& a, uint64_t v) {
    uint64_t now = a.load();
    while (now < v && !a.compare_exchange_weak(now, v)) {
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

TEST(StoreFlood, TenThousandHostileConnectionsDoNotStopAnAuthenticatedClient) {
  ScopedEnv env;
  env.unset("BATON_SECRET").unset("BATON_SECRET_FILE");
  constexpr int kHostile = 10'000;
  constexpr uint64_t kCap = 256 * kMiB;
  // What the server may grow by: during the flood, its connections' state
  // (at most 1024 in the handshake, ~1 KiB each) and kernel-side nothing; with
  // the 16 MiB overwrite below, also that value's transient copies (the
  // test's, the client's frame, the server's body, the map's: 4 x 16 MiB).
  constexpr uint64_t kFloodSlack = 32 * kMiB;
  constexpr uint64_t kSlack = 96 * kMiB;
  int port_pipe[2];
  int ready_pipe[2];
  int quit_pipe[2];
  ASSERT_EQ(::pipe2(port_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(ready_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(quit_pipe, O_CLOEXEC), 0);
  // Forked before the server's thread exists.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(quit_pipe[1]);
    flood(port_pipe[0], ready_pipe[1], quit_pipe[0], kHostile);
  }
  ::close(port_pipe[0]);
  ::close(ready_pipe[1]);
  ::close(quit_pipe[0]);
  raise_fd_limit();

  TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1",
                                              .port = 0,
                                              .max_value_bytes = 16 * kMiB,
                                              .secret = kSecret,
                                              .max_buffered_bytes = kCap});
  TcpStore good("127.0.0.1", server.port(),
                TcpStoreOptions{.timeout = seconds(30), .secret = kSecret});
  good.set("big", std::vector<uint8_t>(16 * kMiB, 0xB7));
  const uint64_t rss_before = rss_bytes();
  RssSampler sampler;

  const uint16_t port = server.port();
  ::testing::internal::CaptureStderr();  // thousands of (rate-limited) warnings
  ASSERT_EQ(::write(port_pipe[1], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  ::close(port_pipe[1]);

  // The good client works throughout, each operation within a loose bound.
  std::atomic<bool> flood_done{false};
  milliseconds slowest{0};
  int ops = 0;
  std::string wrong;
  std::thread worker([&] {
    int after_flood = 0;
    while (after_flood < 200) {
      if (flood_done) ++after_flood;
      const std::string value = "v" + std::to_string(ops * 7919);
      Stopwatch watch;
      good.set("g/" + std::to_string(ops % 50), value);
      const std::string back = good.get_string("g/" + std::to_string(ops % 50));
      const int64_t count = good.add("count", 1);
      slowest = std::max(slowest, watch.elapsed());
      if (back != value || count != ops + 1) {
        wrong = "op " + std::to_string(ops) + ": got " + back + " and " + std::to_string(count);
        return;
      }
      ++ops;
    }
  });
  FloodSummary summary;
  const ssize_t got = ::read(ready_pipe[0], &summary, sizeof(summary));
  flood_done = true;
  const TcpStoreServerStats during = server.stats();
  worker.join();
  const uint64_t rss_flood_peak = sampler.peak();

  // The replies the 100 connections never read now hold the old value.
  good.set("big", std::vector<uint8_t>(16 * kMiB, 0xB8));
  const TcpStoreServerStats orphaned = server.stats();
  const uint64_t rss_peak = sampler.stop();
  ::testing::internal::GetCapturedStderr();

  ::close(quit_pipe[1]);  // the child lets its connections go
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(ready_pipe[0]);

  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(summary)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "flood child status " << status;
  EXPECT_EQ(summary.opened, kHostile);
  EXPECT_EQ(summary.unread_gets, 100);
  EXPECT_EQ(wrong, "");
  EXPECT_GE(ops, 200);
  EXPECT_LT(slowest, seconds(5)) << "slowest set+get+add of the good client";
  EXPECT_LE(during.connections_in_handshake, 1024u);
  EXPECT_GT(during.handshakes_evicted, 0u);
  EXPECT_GT(during.auth_failures, 0u);
  EXPECT_GE(orphaned.buffered_bytes, 16 * kMiB);
  EXPECT_LE(orphaned.buffered_bytes, kCap);
  // No reply copies the value: the flood itself costs the server little.
  EXPECT_LT(rss_flood_peak - rss_before, kFloodSlack);
  EXPECT_LT(rss_peak - rss_before, kCap + kSlack);
  std::printf(
      "[ figures  ] %d hostile connections (%d unread gets of 16 MiB), good client: %d "
      "rounds, slowest %lld ms; server RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB) "
      "during the flood, +%.1f MiB with the 16 MiB overwrite; "
      "in handshake %llu, evicted %llu, auth failures %llu, buffered after the "
      "overwrite %.1f MiB\n",
      summary.opened, summary.unread_gets, ops, static_cast<long long>(slowest.count()),
      static_cast<double>(rss_before) / kMiB, static_cast<double>(rss_flood_peak) / kMiB,
      static_cast<double>(rss_flood_peak - rss_before) / kMiB,
      static_cast<double>(rss_peak - rss_before) / kMiB,
      static_cast<unsigned long long>(during.connections_in_handshake),
      static_cast<unsigned long long>(during.handshakes_evicted),
      static_cast<unsigned long long>(during.auth_failures),
      static_cast<double>(orphaned.buffered_bytes) / kMiB);

  // Once the flood has gone, nothing of it is left.
  EXPECT_TRUE(eventually([&] { return server.stats().connections_in_handshake == 0; }));
  EXPECT_TRUE(eventually([&] { return server.stats().buffered_bytes < kMiB; }));
  EXPECT_TRUE(eventually([&] { return server.stats().connections_open <= 8; }));
  EXPECT_EQ(good.get("big").size(), 16 * kMiB);
}

TEST(StoreFlood, IdleHandshakesCannotKeepARealClientOut) {
  ScopedEnv env;
  env.unset("BATON_SECRET").unset("BATON_SECRET_FILE");
  TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1",
                                              .port = 0,
                                              .max_connections = 80,
                                              .secret = kSecret,
                                              .max_handshakes = 50});
  ::testing::internal::CaptureStderr();
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<RawSocket>(server.port()));
  ASSERT_TRUE(eventually([&] { return server.stats().connections_accepted == 200; }));
  EXPECT_LE(server.stats().connections_in_handshake, 50u);
  TcpStore client("127.0.0.1", server.port(),
                  TcpStoreOptions{.timeout = seconds(10), .secret = kSecret});
  client.set("in", std::string_view("yes"));
  EXPECT_EQ(client.get_string("in"), "yes");
  ::testing::internal::GetCapturedStderr();
  EXPECT_GE(server.stats().handshakes_evicted, 150u);
}

TEST(StoreFlood, AFullServerAnswersFullUntilRoomIsMade) {
  ScopedEnv env;
  env.unset("BATON_SECRET").unset("BATON_SECRET_FILE");
  constexpr int kMax = 20;
  TcpStoreServer server(
      TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .max_connections = kMax});
  std::vector<std::unique_ptr<RawSocket>> holders;
  for (int i = 0; i < kMax; ++i) {
    holders.push_back(std::make_unique<RawSocket>(server.port()));
    ASSERT_EQ(holders.back()->handshake().status, tcp::HelloStatus::kAccepted);
  }
  ::testing::internal::CaptureStderr();
  Stopwatch watch;
  const std::string what = message_of<ConnectionError>([&] {
    TcpStore newcomer("127.0.0.1", server.port(), TcpStoreOptions{.timeout = milliseconds(600)});
  });
  const auto waited = watch.elapsed();
  EXPECT_TRUE(contains(what, server.address())) << what;
  EXPECT_TRUE(contains(what, "full")) << what;
  EXPECT_TRUE(contains(what, "0.6 s")) << what;
  EXPECT_GE(waited.count(), 600);
  EXPECT_LT(waited.count(), 3000);
  EXPECT_GE(server.stats().refused_full, 3u) << "the newcomer retried with backoff";

  // A raw newcomer reads the answer itself: status 5, then the close.
  RawSocket raw(server.port());
  std::vector<uint8_t> answer;
  EXPECT_TRUE(raw.wait_closed(seconds(5), &answer));
  ASSERT_EQ(answer.size(), tcp::kHelloAckBytes);
  EXPECT_EQ(tcp::decode_hello_ack(
                std::span<const uint8_t, tcp::kHelloAckBytes>(answer.data(), answer.size()))
                .status,
            tcp::HelloStatus::kServerFull);
  ::testing::internal::GetCapturedStderr();

  holders.clear();
  ASSERT_TRUE(eventually([&] { return server.stats().connections_open == 0; }));
  TcpStore later("127.0.0.1", server.port(), TcpStoreOptions{.timeout = seconds(10)});
  EXPECT_EQ(later.add("n", 5), 5);
}

}  // namespace
}  // namespace baton::testing
