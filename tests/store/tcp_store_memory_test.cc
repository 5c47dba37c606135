// What clients can make a TcpStore server hold: replies share the stored
// value (30 unread gets of a 32 MiB value cost one value, not 30), values
// only unread replies still hold count against max_buffered_bytes, over it
// the longest-stalled replies are closed, and a request that still does not
// fit is answered "busy" while small requests keep working.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "store/bytes.hpp"
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

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kSmallReceiveBuffer = 4096;

std::vector<uint8_t> get_frame(std::string_view key) {
  tcp::Request r;
  r.command = tcp::Command::kGet;
  r.key = key;
  r.timeout_ms = 60'000;
  return tcp::encode_request(r, kMiB);
}

class StoreMemory : public ::testing::Test {
 protected:
  StoreMemory() { env_.unset("BATON_SECRET").unset("BATON_SECRET_FILE"); }

  // A connection that asks for `key` and never reads the reply; returns once
  // the server has taken the request.
  std::unique_ptr<RawSocket> unread_get(TcpStoreServer& server, std::string_view key) {
    auto raw = std::make_unique<RawSocket>(server.port(), kSmallReceiveBuffer);
    EXPECT_EQ(raw->handshake().status, tcp::HelloStatus::kAccepted);
    const uint64_t before = server.stats().requests;
    raw->send(get_frame(key));
    EXPECT_TRUE(eventually([&] { return server.stats().requests > before; }));
    return raw;
  }

  ScopedEnv env_;
};

TEST_F(StoreMemory, ThirtyUnreadGetsOfA32MiBValueShareIt) {
  TcpStoreServer server(
      TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .max_value_bytes = 40 * kMiB});
  TcpStore client("127.0.0.1", server.port(), TcpStoreOptions{.timeout = seconds(30)});
  std::vector<uint8_t> value(32 * kMiB);
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<uint8_t>(i * 31);
  client.set("big", value);
  value = {};
  client.num_keys();  // the server has finished the set (and freed its body) before this
  const uint64_t rss_before = rss_bytes();
  std::vector<std::unique_ptr<RawSocket>> readers;
  for (int i = 0; i < 30; ++i) readers.push_back(unread_get(server, "big"));
  const uint64_t rss_after = rss_bytes();
  const int64_t growth = static_cast<int64_t>(rss_after) - static_cast<int64_t>(rss_before);
  std::printf(
      "[ figures  ] 30 unread gets of one 32 MiB value: server RSS %.1f -> %.1f MiB "
      "(%+.1f MiB; a copy per reply would be +960 MiB)\n",
      static_cast<double>(rss_before) / kMiB, static_cast<double>(rss_after) / kMiB,
      static_cast<double>(growth) / kMiB);
  EXPECT_LT(growth, static_cast<int64_t>(16 * kMiB));
  // A reader that reads gets every byte of it (header and shared value).
  const Store::Bytes back = client.get("big");
  ASSERT_EQ(back.size(), 32 * kMiB);
  for (size_t i = 0; i < back.size(); ++i) {
    if (back[i] != static_cast<uint8_t>(i * 31)) FAIL() << "byte " << i << " is " << int(back[i]);
  }
  // While the key holds the value, the replies cost nothing more...
  EXPECT_LT(server.stats().buffered_bytes, kMiB);
  // ...and once it is gone they hold it, once.
  EXPECT_TRUE(client.delete_key("big"));
  const uint64_t held = server.stats().buffered_bytes;
  EXPECT_GE(held, 32 * kMiB);
  EXPECT_LT(held, 33 * kMiB);
  readers.clear();
  EXPECT_TRUE(eventually([&] { return server.stats().buffered_bytes < kMiB; }));
}

TEST_F(StoreMemory, OverTheCapTheLongestStalledRepliesAreClosedFirst) {
  constexpr uint64_t kValue = 6 * kMiB;
  TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1",
                                              .port = 0,
                                              .max_value_bytes = 8 * kMiB,
                                              .max_buffered_bytes = 20 * kMiB});
  TcpStore client("127.0.0.1", server.port(), TcpStoreOptions{.timeout = seconds(30)});
  const auto value = [](int tag) {
    return std::vector<uint8_t>(kValue, static_cast<uint8_t>(tag));
  };
  const auto buffered = [&] { return server.stats().buffered_bytes; };
  ::testing::internal::CaptureStderr();

  // The oldest stalled reply, of a value the map still holds: it costs
  // nothing, so it is not closed while the map holds it.
  client.set("b", value(0xB));
  auto reader_b = unread_get(server, "b");
  // Three generations of "a", each read by replies never read, then
  // overwritten: only those replies hold them (6, 12, 18 MiB).
  std::vector<std::unique_ptr<RawSocket>> gen0;
  std::vector<std::unique_ptr<RawSocket>> gen1;
  std::vector<std::unique_ptr<RawSocket>> gen2;
  int generation = 0;
  for (auto* readers : {&gen0, &gen1, &gen2}) {
    client.set("a", value(++generation));
    const int count = readers == &gen2 ? 1 : 2;
    for (int i = 0; i < count; ++i) readers->push_back(unread_get(server, "a"));
    client.set("a", std::string_view("overwritten"));
  }
  EXPECT_GE(buffered(), 3 * kValue);
  EXPECT_EQ(server.stats().stalled_closed, 0u);

  // A 6 MiB set does not fit beside 18 MiB under 20: the oldest stalled
  // replies that free memory (generation 0, both) are closed; reader_b is
  // older but frees nothing.
  client.set("a", value(4));
  EXPECT_EQ(server.stats().stalled_closed, 2u);
  for (auto& raw : gen0) EXPECT_TRUE(raw->wait_closed(seconds(5)));
  EXPECT_GE(buffered(), 2 * kValue);
  auto reader_v4 = unread_get(server, "a");
  client.set("a", std::string_view("last"));
  EXPECT_GE(buffered(), 3 * kValue);
  EXPECT_EQ(server.stats().stalled_closed, 2u);

  // Deleting "b" leaves its value to reader_b alone: 24 MiB, over the cap;
  // reader_b, now the oldest that frees memory, is closed, and only it.
  EXPECT_TRUE(client.delete_key("b"));
  EXPECT_EQ(server.stats().stalled_closed, 3u);
  EXPECT_TRUE(reader_b->wait_closed(seconds(5)));
  EXPECT_LE(buffered(), 20 * kMiB);
  EXPECT_EQ(server.stats().connections_open, 1u + 2 + 1 + 1);  // client, gen1, gen2, reader_v4
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "its reply has been unread for")) << log;
  EXPECT_TRUE(contains(log, "BATON_STORE_MAX_BUFFERED_BYTES")) << log;
  EXPECT_EQ(client.get_string("a"), "last");
}

TEST_F(StoreMemory, ARequestThatCannotFitIsAnsweredBusyWhileSmallOnesWork) {
  TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1",
                                              .port = 0,
                                              .max_value_bytes = 8 * kMiB,
                                              .max_buffered_bytes = 20 * kMiB});
  TcpStore client("127.0.0.1", server.port(), TcpStoreOptions{.timeout = milliseconds(500)});
  // Two connections claim 8 MiB bodies each and send only a little: their
  // claims are counted from the header on.
  std::vector<std::unique_ptr<RawSocket>> hogs;
  for (int i = 0; i < 2; ++i) {
    hogs.push_back(std::make_unique<RawSocket>(server.port()));
    ASSERT_EQ(hogs.back()->handshake().status, tcp::HelloStatus::kAccepted);
    hogs.back()->send(tcp::encode_frame_header(8 * kMiB, static_cast<uint8_t>(tcp::Command::kSet)));
    hogs.back()->send(std::vector<uint8_t>(100, 1));
  }
  ASSERT_TRUE(eventually([&] { return server.stats().buffered_bytes >= 16 * kMiB; }));
  ::testing::internal::CaptureStderr();
  const std::vector<uint8_t> large(6 * kMiB, 0x6B);
  Stopwatch watch;
  const std::string what = message_of<ConnectionError>([&] { client.set("large", large); });
  EXPECT_TRUE(contains(what, "busy")) << what;
  EXPECT_TRUE(contains(what, "BATON_STORE_MAX_BUFFERED_BYTES")) << what;
  EXPECT_GE(watch.elapsed().count(), 500);
  EXPECT_GE(server.stats().requests_busy, 2u) << "the client retried";
  // Small requests still fit, on the same client.
  client.set("small", std::string_view("fits"));
  EXPECT_EQ(client.get_string("small"), "fits");
  EXPECT_FALSE(client.check(std::vector<std::string>{"large"}));
  ::testing::internal::GetCapturedStderr();
  // Once a hog goes, the large set fits.
  hogs.pop_back();
  ASSERT_TRUE(eventually([&] { return server.stats().buffered_bytes < 9 * kMiB; }));
  client.set("large", large);
  EXPECT_EQ(client.get("large"), large);
}

TEST_F(StoreMemory, ACapBelowOneLargestRequestIsRefused) {
  const std::string what = message_of<InvalidArgument>([] {
    TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1",
                                                .port = 0,
                                                .max_value_bytes = 8 * kMiB,
                                                .max_buffered_bytes = 4 * kMiB});
  });
  EXPECT_TRUE(contains(what, "less than one largest request")) << what;
  ScopedEnv cap("BATON_STORE_MAX_BUFFERED_BYTES", std::string("1000"));
  EXPECT_THROW(TcpStoreServer(TcpStoreServerOptions{.host = "127.0.0.1", .port = 0}),
               InvalidArgument);
}

}  // namespace
}  // namespace baton::testing
