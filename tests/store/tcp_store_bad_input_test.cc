// Garbage, strangers and oversized frames sent to a TcpStore server: each bad
// connection is closed with a logged reason, the server keeps serving the
// well-behaved clients, and it never allocates what a bad frame claims.
//
// This binary replaces the global operator new to record the largest single
// allocation, so "the server did not allocate 4 GiB" is checked directly.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <new>
#include <random>
#include <thread>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "store/bytes.hpp"
#include "store/tcp_protocol.hpp"
#include "tests/store/raw_socket.hpp"
#include "tests/store/store_test_util.hpp"

namespace {
std::atomic<size_t> g_largest_allocation{0};
}  // namespace

// GCC cannot see that these replace the global pair, and warns that free()
// meets memory from operator new.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (seen < size &&
         !g_largest_allocation.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace baton::testing {
namespace {

namespace tcp = store::tcp;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kCloseWithin = seconds(5);

std::vector<uint8_t> frame(uint32_t length, uint8_t kind, std::span<const uint8_t> body = {}) {
  const auto header = tcp::encode_frame_header(length, kind);
  std::vector<uint8_t> out(header.size() + body.size());
  std::copy(header.begin(), header.end(), out.begin());
  std::copy(body.begin(), body.end(), out.begin() + static_cast<ptrdiff_t>(header.size()));
  return out;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = std::make_unique<TcpStore>("127.0.0.1", server_.port(),
                                       TcpStoreOptions{.timeout = seconds(30)});
    good_->set("before", std::string_view("1"));
  }

  // The well-behaved client still gets answers, and a fresh one can join.
  void expect_server_still_serves() {
    good_->set("after", std::string_view("2"));
    EXPECT_EQ(good_->get_string("before"), "1");
    EXPECT_EQ(good_->add("count", 1), ++adds_);
    TcpStore fresh("127.0.0.1", server_.port(), TcpStoreOptions{.timeout = seconds(30)});
    EXPECT_EQ(fresh.get_string("after"), "2");
  }

  // Sends `bytes` (after a valid handshake when asked) and expects the
  // server to close the connection with a log line naming the peer and
  // containing `reason`.
  void expect_closed(std::span<const uint8_t> bytes, bool handshake, const std::string& reason) {
    const uint64_t rejected = server_.stats().connections_rejected;
    ::testing::internal::CaptureStderr();
    RawSocket raw(server_.port());
    if (handshake) {
      ASSERT_EQ(raw.handshake().status, tcp::HelloStatus::kAccepted);
    }
    raw.send(bytes);
    const bool closed = raw.wait_closed(kCloseWithin);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(closed) << "the server kept a connection that sent bad bytes (" << reason << ")";
    EXPECT_NE(log.find(raw.local_name()), std::string::npos)
        << "log does not name the peer: " << log;
    EXPECT_NE(log.find(reason), std::string::npos)
        << "log does not give the reason '" << reason << "': " << log;
    EXPECT_EQ(server_.stats().connections_rejected, rejected + 1);
    expect_server_still_serves();
  }

  TcpStoreServer server_{
      TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .max_value_bytes = 1 << 20}};
  std::unique_ptr<TcpStore> good_;
  int64_t adds_ = 0;
};

TEST_F(BadInput, GarbageInsteadOfAHelloIsClosedWithoutAnAnswer) {
  ::testing::internal::CaptureStderr();
  RawSocket raw(server_.port());
  raw.send("GET / HTTP/1.1\r\nHost: store\r\n\r\n");
  std::vector<uint8_t> answer;
  EXPECT_TRUE(raw.wait_closed(kCloseWithin, &answer));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(answer.empty()) << "the server answered a stranger";
  EXPECT_NE(log.find(raw.local_name()), std::string::npos) << log;
  EXPECT_NE(log.find("not a baton store hello"), std::string::npos) << log;
  expect_server_still_serves();
}

TEST_F(BadInput, WrongMagicIsClosed) {
  const auto hello = tcp::encode_hello({.magic = 0x58585858});
  expect_closed(hello, /*handshake=*/false, "not a baton store hello");
}

TEST_F(BadInput, WrongVersionGetsTheServersVersionThenIsClosed) {
  ::testing::internal::CaptureStderr();
  RawSocket raw(server_.port());
  raw.send(tcp::encode_hello({.version = 99}));
  std::vector<uint8_t> answer;
  EXPECT_TRUE(raw.wait_closed(kCloseWithin, &answer));
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(answer.size(), tcp::kHelloAckBytes);
  const auto ack = tcp::decode_hello_ack(
      std::span<const uint8_t, tcp::kHelloAckBytes>(answer.data(), answer.size()));
  EXPECT_EQ(ack.magic, tcp::kHelloAckMagic);
  EXPECT_EQ(ack.version, tcp::kProtocolVersion);
  EXPECT_EQ(ack.status, tcp::HelloStatus::kVersionMismatch);
  EXPECT_NE(log.find("protocol version 99, expected 2"), std::string::npos) << log;
  expect_server_still_serves();
}

TEST_F(BadInput, AFrameClaiming4GiBIsClosedWithoutAllocatingIt) {
  // A client blocked in get() on the same server must be unaffected.
  auto blocked = std::async(std::launch::async, [this] {
    TcpStore waiter("127.0.0.1", server_.port(), TcpStoreOptions{.timeout = seconds(30)});
    return waiter.get_string("released");
  });
  ASSERT_TRUE(eventually([&] { return server_.stats().pending_waits == 1; }));

  g_largest_allocation = 0;
  const auto claim = frame(0xFFFFFFFFu, static_cast<uint8_t>(tcp::Command::kSet));
  expect_closed(claim, /*handshake=*/true, "frame claims 4294967295 bytes");
  EXPECT_LT(g_largest_allocation.load(), size_t{1} << 20);
  EXPECT_LT(server_.stats().largest_read_buffer, uint64_t{1} << 20);

  good_->set("released", std::string_view("yes"));
  EXPECT_EQ(blocked.get(), "yes");
}

TEST_F(BadInput, AFrameThatClaimsMuchButSendsLittleHoldsLittle) {
  // Within the limit (1 MiB + 64 KiB), but only a few bytes ever arrive: the
  // server's buffer follows what arrived, not what was claimed.
  g_largest_allocation = 0;
  RawSocket raw(server_.port());
  ASSERT_EQ(raw.handshake().status, tcp::HelloStatus::kAccepted);
  raw.send(frame((1u << 20) + 1000, static_cast<uint8_t>(tcp::Command::kSet)));
  raw.send(std::vector<uint8_t>(1000, 0xAB));
  // Wait until the server has acted on the header: a buffer for the first
  // bytes (right) or one for the whole claim (wrong).
  ASSERT_TRUE(eventually([&] {
    return server_.stats().largest_read_buffer > 0 ||
           g_largest_allocation.load() >= (size_t{1} << 20);
  }));
  expect_server_still_serves();
  EXPECT_LE(server_.stats().largest_read_buffer, 256u * 1024);
  EXPECT_LT(g_largest_allocation.load(), size_t{512} * 1024);
}

TEST_F(BadInput, UnknownCommandIsClosed) {
  expect_closed(frame(0, 0x77), /*handshake=*/true, "unknown command 119");
}

TEST_F(BadInput, NonZeroReservedBytesAreClosed) {
  auto bytes = frame(0, static_cast<uint8_t>(tcp::Command::kNumKeys));
  bytes[6] = 1;
  expect_closed(bytes, /*handshake=*/true, "reserved bytes");
}

TEST_F(BadInput, AKeyLengthBeyondTheFrameIsClosed) {
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  w.u32(1000);  // key length, but only 3 bytes follow
  w.bytes(std::string_view("abc"));
  expect_closed(frame(static_cast<uint32_t>(body.size()),
                      static_cast<uint8_t>(tcp::Command::kDeleteKey), body),
                /*handshake=*/true, "key claims 1000 bytes");
}

TEST_F(BadInput, AKeyOverTheLimitIsClosed) {
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  w.blob(std::string(9000, 'k'));
  expect_closed(frame(static_cast<uint32_t>(body.size()),
                      static_cast<uint8_t>(tcp::Command::kDeleteKey), body),
                /*handshake=*/true, "key of 9000 bytes exceeds the limit of 8192");
}

TEST_F(BadInput, AKeyCountOf4BillionIsClosedWithoutReserving) {
  g_largest_allocation = 0;
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  w.u64(1000);         // timeout
  w.u32(0xFFFFFFFFu);  // key count
  expect_closed(
      frame(static_cast<uint32_t>(body.size()), static_cast<uint8_t>(tcp::Command::kWait), body),
      /*handshake=*/true, "key count 4294967295 exceeds the limit");
  EXPECT_LT(g_largest_allocation.load(), size_t{1} << 20);
}

TEST_F(BadInput, AValueOverTheServerLimitIsClosed) {
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  w.blob(std::string_view("k"));
  w.u32((1u << 20) + 1);  // value length over the 1 MiB limit
  body.resize(body.size() + (1u << 20) + 1);
  expect_closed(
      frame(static_cast<uint32_t>(body.size()), static_cast<uint8_t>(tcp::Command::kSet), body),
      /*handshake=*/true, "value of 1048577 bytes exceeds the limit of 1048576");
}

TEST_F(BadInput, TrailingBytesAfterABodyAreClosed) {
  std::vector<uint8_t> body;
  store::ByteWriter w(body);
  w.blob(std::string_view("k"));
  w.u8(0);
  expect_closed(frame(static_cast<uint32_t>(body.size()),
                      static_cast<uint8_t>(tcp::Command::kDeleteKey), body),
                /*handshake=*/true, "unexpected bytes after the body");
}

TEST_F(BadInput, AClientThatHangsUpWhileWaitingIsForgotten) {
  const uint64_t open_before = server_.stats().connections_open;
  {
    RawSocket raw(server_.port());
    ASSERT_EQ(raw.handshake().status, tcp::HelloStatus::kAccepted);
    std::vector<uint8_t> body;
    store::ByteWriter w(body);
    w.u64(60'000);
    w.blob(std::string_view("never"));
    raw.send(
        frame(static_cast<uint32_t>(body.size()), static_cast<uint8_t>(tcp::Command::kGet), body));
    ASSERT_TRUE(eventually([&] { return server_.stats().pending_waits == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return server_.stats().pending_waits == 0; }));
  EXPECT_TRUE(eventually([&] { return server_.stats().connections_open == open_before; }));
  expect_server_still_serves();
}

TEST_F(BadInput, SilentConnectionsDoNotStopOthers) {
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<RawSocket>(server_.port()));
  ASSERT_TRUE(eventually([&] { return server_.stats().connections_open >= 101; }));
  expect_server_still_serves();
}

TEST_F(BadInput, RandomBytesAfterAHelloNeverHurtTheServer) {
  std::mt19937 random(12345);
  std::atomic<bool> stop{false};
  std::atomic<int> good_ops{0};
  std::thread good([&] {
    TcpStore client("127.0.0.1", server_.port(), TcpStoreOptions{.timeout = seconds(30)});
    while (!stop) {
      client.set("g", std::to_string(good_ops.load()));
      EXPECT_EQ(client.get_string("g"), std::to_string(good_ops.load()));
      ++good_ops;
    }
  });
  ::testing::internal::CaptureStderr();  // hundreds of expected warnings
  for (int i = 0; i < 300; ++i) {
    RawSocket raw(server_.port());
    if (i % 2 == 0) raw.handshake();
    std::vector<uint8_t> junk(1 + random() % 64);
    for (auto& b : junk) b = static_cast<uint8_t>(random());
    raw.send(junk);
  }
  ::testing::internal::GetCapturedStderr();
  stop = true;
  good.join();
  EXPECT_GT(good_ops.load(), 0);
  expect_server_still_serves();
  EXPECT_TRUE(eventually([&] { return server_.stats().connections_open == 1; }));
  EXPECT_LT(server_.stats().largest_read_buffer, uint64_t{2} << 20);
}

}  // namespace
}  // namespace baton::testing
