// The job secret on TcpStore connections: both sides with the same secret
// work; every disagreement (wrong secret, one side without) is an
// AuthenticationError naming the server, counted by the server, and no
// request of an unauthenticated connection is ever read. Every test runs a
// real server on 127.0.0.1 with the environment's secrets cleared.
#include <gtest/gtest.h>

#include <thread>

#include "auth/secret.hpp"
#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "core/log.hpp"
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

const std::string kSecret = "store-auth-test-secret-0123456789";
const std::string kOtherSecret = "another-jobs-secret-9876543210";

std::vector<uint8_t> set_frame(std::string_view key, std::string_view value) {
  tcp::Request r;
  r.command = tcp::Command::kSet;
  r.key = key;
  r.value = std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size());
  return tcp::encode_request(r, 1 << 20);
}

class StoreAuth : public ::testing::Test {
 protected:
  StoreAuth() { env_.unset("BATON_SECRET").unset("BATON_SECRET_FILE"); }

  TcpStoreOptions options(const std::string& secret, milliseconds timeout = seconds(10)) {
    return TcpStoreOptions{.timeout = timeout, .secret = secret};
  }

  ScopedEnv env_;  // first: cleared before any server or client resolves its secret
};

class WithSecret : public StoreAuth {
 protected:
  TcpStoreServer server_{TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .secret = kSecret}};
};

TEST_F(WithSecret, BothSidesWithTheSecretWork) {
  TcpStore a("127.0.0.1", server_.port(), options(kSecret));
  TcpStore b("127.0.0.1", server_.port(), options(kSecret));
  a.set("k", std::string_view("v-731"));
  EXPECT_EQ(b.get_string("k"), "v-731");
  EXPECT_EQ(a.add("n", 41), 41);
  EXPECT_EQ(b.add("n", 1), 42);
  EXPECT_GE(server_.stats().connections_authenticated, 2u);
  EXPECT_EQ(server_.stats().auth_failures, 0u);
  EXPECT_EQ(server_.stats().connections_in_handshake, 0u);
}

TEST_F(WithSecret, IsServerUsesTheSameSecretForItsServer) {
  TcpStore rank0("127.0.0.1", 0,
                 TcpStoreOptions{.is_server = true, .timeout = seconds(10), .secret = kSecret});
  TcpStore rank1("127.0.0.1", rank0.port(), options(kSecret));
  rank1.set("from", std::string_view("rank 1"));
  EXPECT_EQ(rank0.get_string("from"), "rank 1");
  EXPECT_THROW(TcpStore("127.0.0.1", rank0.port(), options("")), AuthenticationError);
}

TEST_F(WithSecret, TheSecretComesFromTheEnvironmentByDefault) {
  env_.set("BATON_SECRET", kSecret);
  TcpStore client("127.0.0.1", server_.port(), options(""));
  client.set("env", std::string_view("ok"));
  EXPECT_EQ(client.get_string("env"), "ok");
}

TEST_F(WithSecret, AWrongSecretIsRefusedCountedAndWritesNothing) {
  TcpStore good("127.0.0.1", server_.port(), options(kSecret));
  const std::string what = message_of<AuthenticationError>(
      [&] { TcpStore bad("127.0.0.1", server_.port(), options(kOtherSecret)); });
  EXPECT_TRUE(contains(what, server_.address())) << what;
  EXPECT_TRUE(contains(what, "wrong job secret")) << what;
  EXPECT_EQ(server_.stats().auth_failures, 1u);

  // A raw client that proves the wrong secret and sends a set anyway.
  RawSocket raw(server_.port());
  const auto challenge = raw.challenge();
  ASSERT_EQ(challenge.ack.status, tcp::HelloStatus::kChallenge);
  const auto other = auth::Secret::from_text(kOtherSecret, "test");
  raw.send(RawSocket::proof_for(challenge, *other));
  raw.send(set_frame("stolen", "x"));
  EXPECT_TRUE(raw.wait_closed(seconds(5)));
  EXPECT_EQ(server_.stats().auth_failures, 2u);
  EXPECT_FALSE(good.check(std::vector<std::string>{"stolen"}));
  EXPECT_EQ(good.num_keys(), 0);
}

TEST_F(WithSecret, AClientWithoutASecretIsToldTheServerRequiresOne) {
  const std::string what = message_of<AuthenticationError>(
      [&] { TcpStore none("127.0.0.1", server_.port(), options("")); });
  EXPECT_TRUE(contains(what, "the store server at " + server_.address() +
                                 " requires the job secret (BATON_SECRET / BATON_SECRET_FILE) "
                                 "and this process has none"))
      << what;
  EXPECT_EQ(server_.stats().auth_failures, 1u);
}

TEST_F(StoreAuth, AClientWithASecretRefusesAServerWithout) {
  TcpStoreServer open_server(TcpStoreServerOptions{.host = "127.0.0.1", .port = 0});
  const std::string what = message_of<AuthenticationError>(
      [&] { TcpStore client("127.0.0.1", open_server.port(), options(kSecret)); });
  EXPECT_TRUE(contains(what, open_server.address())) << what;
  EXPECT_TRUE(contains(what, "does not authenticate")) << what;
  EXPECT_TRUE(contains(what, "refusing to trust it")) << what;
  EXPECT_EQ(open_server.stats().requests, 0u);
}

TEST_F(WithSecret, GarbageInsteadOfAProofNeverGetsAReplyToALaterRequest) {
  TcpStore good("127.0.0.1", server_.port(), options(kSecret));
  const uint64_t requests = server_.stats().requests;
  RawSocket raw(server_.port());
  const auto challenge = raw.challenge();
  ASSERT_EQ(challenge.ack.status, tcp::HelloStatus::kChallenge);
  raw.send(std::vector<uint8_t>(auth::kProofBytes, 0x5A));
  raw.send(set_frame("stolen", "x"));
  std::vector<uint8_t> received;
  ASSERT_TRUE(raw.wait_closed(seconds(5), &received));
  // All that came back is one error frame (code 4, authentication): no
  // answer to the set.
  ASSERT_GE(received.size(), tcp::kFrameHeaderBytes + 1);
  const auto header = tcp::decode_frame_header(
      std::span<const uint8_t, tcp::kFrameHeaderBytes>(received.data(), tcp::kFrameHeaderBytes));
  EXPECT_EQ(header.kind, static_cast<uint8_t>(tcp::Status::kError));
  EXPECT_EQ(received[tcp::kFrameHeaderBytes],
            static_cast<uint8_t>(tcp::WireError::kAuthentication));
  EXPECT_EQ(received.size(), tcp::kFrameHeaderBytes + header.length);
  EXPECT_EQ(server_.stats().requests, requests);
  EXPECT_FALSE(good.check(std::vector<std::string>{"stolen"}));
}

// 200 strangers of five kinds, each followed by a set it hopes is read.
TEST_F(WithSecret, EveryUnauthenticatedAttemptIsRefusedBeforeAnyRequest) {
  TcpStore good("127.0.0.1", server_.port(), options(kSecret));
  good.set("mine", std::string_view("1"));
  const auto other = auth::Secret::from_text(kOtherSecret, "test");
  const TcpStoreServerStats before = server_.stats();
  constexpr int kAttempts = 200;
  int closed = 0;
  int answered_a_request = 0;
  ::testing::internal::CaptureStderr();  // rate-limited warnings
  for (int i = 0; i < kAttempts; ++i) {
    RawSocket raw(server_.port());
    const std::string key = "stolen/" + std::to_string(i);
    std::vector<uint8_t> expected_prefix;
    switch (i % 5) {
      case 0: raw.send(tcp::encode_hello({})); break;              // no secret
      case 1: raw.send(tcp::encode_hello({.version = 1})); break;  // protocol 1
      case 2: raw.send(std::string_view("GET / HTTP/1.1\r\n\r\n")); break;
      case 3: {  // garbage proof
        raw.challenge();
        raw.send(std::vector<uint8_t>(auth::kProofBytes, static_cast<uint8_t>(i)));
        break;
      }
      case 4: {  // a proof by another secret
        const auto c = raw.challenge();
        raw.send(RawSocket::proof_for(c, *other));
        break;
      }
    }
    raw.send(set_frame(key, "x"));
    std::vector<uint8_t> received;
    if (raw.wait_closed(seconds(5), &received)) ++closed;
    // An OK reply frame is 8 zero bytes; no refusal contains one after its answer.
    for (size_t at = 0; at + 8 <= received.size(); ++at) {
      if (std::all_of(received.begin() + static_cast<ptrdiff_t>(at),
                      received.begin() + static_cast<ptrdiff_t>(at + 8),
                      [](uint8_t b) { return b == 0; })) {
        ++answered_a_request;
        break;
      }
    }
  }
  ::testing::internal::GetCapturedStderr();
  const TcpStoreServerStats after = server_.stats();
  EXPECT_EQ(closed, kAttempts);
  EXPECT_EQ(answered_a_request, 0);
  EXPECT_EQ(after.requests, before.requests);
  EXPECT_EQ(after.auth_failures - before.auth_failures, uint64_t{kAttempts} * 3 / 5);
  EXPECT_EQ(after.connections_authenticated, before.connections_authenticated);
  EXPECT_EQ(good.num_keys(), 1);
  EXPECT_EQ(good.get_string("mine"), "1");
}

TEST_F(StoreAuth, AServerThatFailsToProveTheSecretIsRefused) {
  RawListener fake;
  std::thread server([&] {
    UniqueFd peer = fake.accept();
    std::array<uint8_t, tcp::kHelloBytes + auth::kNonceBytes> hello{};
    ::recv(peer.get(), hello.data(), hello.size(), MSG_WAITALL);
    const auto ack = tcp::encode_hello_ack({.status = tcp::HelloStatus::kChallenge, .epoch = 7});
    std::vector<uint8_t> answer(ack.begin(), ack.end());
    answer.resize(answer.size() + auth::kNonceBytes, 0x11);
    ::send(peer.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    std::array<uint8_t, auth::kProofBytes> proof{};
    ::recv(peer.get(), proof.data(), proof.size(), MSG_WAITALL);
    // "OK" with a proof it cannot have made.
    const auto reply = tcp::encode_reply(tcp::Status::kOk, std::vector<uint8_t>(32, 0x22));
    ::send(peer.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    char sink[16];
    while (::recv(peer.get(), sink, sizeof(sink), 0) > 0) {
    }
  });
  const std::string what = message_of<AuthenticationError>(
      [&] { TcpStore client("127.0.0.1", fake.port(), options(kSecret)); });
  server.join();
  EXPECT_TRUE(contains(what, "127.0.0.1:" + std::to_string(fake.port()))) << what;
  EXPECT_TRUE(contains(what, "failed to prove the job secret")) << what;
}

TEST_F(StoreAuth, AHandshakeNotFinishedInTimeIsClosed) {
  TcpStoreServer server(TcpStoreServerOptions{
      .host = "127.0.0.1", .port = 0, .secret = kSecret, .handshake_timeout = milliseconds(200)});
  ::testing::internal::CaptureStderr();
  RawSocket silent(server.port());
  RawSocket half(server.port());
  ASSERT_EQ(half.challenge().ack.status, tcp::HelloStatus::kChallenge);  // and no proof
  Stopwatch watch;
  EXPECT_TRUE(silent.wait_closed(seconds(5)));
  EXPECT_TRUE(half.wait_closed(seconds(5)));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_LT(watch.elapsed().count(), 3000);
  EXPECT_EQ(server.stats().handshake_timeouts, 2u);
  EXPECT_TRUE(contains(log, "did not finish its handshake within 200 ms")) << log;
  // A real client is unaffected.
  TcpStore client("127.0.0.1", server.port(), options(kSecret));
  EXPECT_EQ(client.add("n", 3), 3);
}

TEST_F(StoreAuth, TheFingerprintIsLoggedNeverTheSecret) {
  std::string log;
  {
    ScopedEnv level("BATON_LOG", std::string("info:store"));
    log::reload_from_env();
    ::testing::internal::CaptureStderr();
    {
      TcpStoreServer server(
          TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .secret = kSecret});
      TcpStore client("127.0.0.1", server.port(), options(kSecret));
      client.set("k", std::string_view("v"));
    }
    log = ::testing::internal::GetCapturedStderr();
  }
  log::reload_from_env();
  const std::string fingerprint = auth::Secret::from_text(kSecret, "test")->fingerprint();
  EXPECT_TRUE(contains(log, "job secret " + fingerprint)) << log;
  EXPECT_FALSE(contains(log, kSecret)) << log;
}

TEST_F(StoreAuth, AServerBeyondLoopbackWithoutASecretWarns) {
  const std::string warning = "anyone who can reach it can read and write every key";
  ::testing::internal::CaptureStderr();
  { TcpStoreServer loopback(TcpStoreServerOptions{.host = "127.0.0.1", .port = 0}); }
  {
    TcpStoreServer guarded(TcpStoreServerOptions{.host = "0.0.0.0", .port = 0, .secret = kSecret});
  }
  EXPECT_FALSE(contains(::testing::internal::GetCapturedStderr(), warning));
  ::testing::internal::CaptureStderr();
  { TcpStoreServer everywhere(TcpStoreServerOptions{.host = "0.0.0.0", .port = 0}); }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, warning)) << log;
  EXPECT_TRUE(contains(log, "BATON_SECRET")) << log;
}

TEST_F(StoreAuth, AVersionOneClientGetsTheVersionMismatch) {
  TcpStoreServer server(TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .secret = kSecret});
  ::testing::internal::CaptureStderr();
  RawSocket raw(server.port());
  raw.send(tcp::encode_hello({.version = 1}));
  std::vector<uint8_t> answer;
  EXPECT_TRUE(raw.wait_closed(seconds(5), &answer));
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(answer.size(), tcp::kHelloAckBytes);
  const auto ack = tcp::decode_hello_ack(
      std::span<const uint8_t, tcp::kHelloAckBytes>(answer.data(), answer.size()));
  EXPECT_EQ(ack.version, 2);
  EXPECT_EQ(ack.status, tcp::HelloStatus::kVersionMismatch);
}

}  // namespace
}  // namespace baton::testing
