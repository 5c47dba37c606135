// TcpStore and TcpStoreServer beyond the conformance suite: binding, ports,
// server death and restart, foreign servers, limits, many clients.
#include "baton/tcp_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "baton/error.hpp"
#include "store/tcp_protocol.hpp"
#include "tests/store/raw_socket.hpp"
#include "tests/store/store_test_util.hpp"

namespace baton::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TcpStoreOptions client_options(milliseconds timeout = seconds(30)) {
  return TcpStoreOptions{.timeout = timeout};
}

std::string what_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(TcpStoreServer, PortZeroBindsAFreePortAndReportsIt) {
  TcpStoreServer a;
  TcpStoreServer b;
  EXPECT_NE(a.port(), 0);
  EXPECT_NE(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  EXPECT_EQ(a.address(), "127.0.0.1:" + std::to_string(a.port()));
  TcpStore client("127.0.0.1", a.port(), client_options());
  client.set("k", std::string_view("v"));
  EXPECT_EQ(client.get_string("k"), "v");
}

TEST(TcpStoreServer, SecondServerOnAPortInUseNamesThePort) {
  TcpStoreServer first;
  const std::string port = std::to_string(first.port());
  try {
    TcpStoreServer second(TcpStoreServerOptions{.host = "127.0.0.1", .port = first.port()});
    FAIL() << "a second server bound a port in use";
  } catch (const ConnectionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("port " + port), std::string::npos) << what;
    EXPECT_NE(what.find("in use"), std::string::npos) << what;
  }
}

TEST(TcpStoreServer, BindsOnlyTheAddressItIsGiven) {
  // Bound to 127.0.0.1 only, the same port is still free on 127.0.0.2 (also
  // loopback on Linux): the server did not take every interface.
  TcpStoreServer loopback(TcpStoreServerOptions{.host = "127.0.0.1", .port = 0});
  TcpStoreServer other(TcpStoreServerOptions{.host = "127.0.0.2", .port = loopback.port()});
  EXPECT_EQ(other.port(), loopback.port());

  // Asked for every interface, it does take them all.
  TcpStoreServer everywhere(TcpStoreServerOptions{.host = "0.0.0.0", .port = 0});
  EXPECT_THROW(
      TcpStoreServer(TcpStoreServerOptions{.host = "127.0.0.1", .port = everywhere.port()}),
      ConnectionError);
  TcpStore client("127.0.0.1", everywhere.port(), client_options());
  EXPECT_EQ(client.add("n", 2), 2);
}

TEST(TcpStoreServer, UnresolvableHostIsNamed) {
  const std::string what =
      what_of([] { TcpStoreServer s(TcpStoreServerOptions{.host = "no-such-host.invalid"}); });
  EXPECT_NE(what.find("no-such-host.invalid"), std::string::npos) << what;
}

TEST(TcpStore, IsServerStartsAServerOnAFreePort) {
  TcpStore rank0("127.0.0.1", 0, TcpStoreOptions{.is_server = true, .timeout = seconds(30)});
  ASSERT_NE(rank0.server(), nullptr);
  EXPECT_NE(rank0.port(), 0);
  EXPECT_EQ(rank0.port(), rank0.server()->port());
  TcpStore rank1("127.0.0.1", rank0.port(), client_options());
  rank1.set("hello", std::string_view("from rank 1"));
  EXPECT_EQ(rank0.get_string("hello"), "from rank 1");
  EXPECT_EQ(rank1.server(), nullptr);
}

TEST(TcpStore, StoppingTheServerFailsABlockedGetAtOnceNamingTheAddress) {
  TcpStoreServer server;
  TcpStore client("127.0.0.1", server.port(), client_options(seconds(60)));
  auto blocked = std::async(std::launch::async, [&] {
    Stopwatch watch;
    try {
      client.get("never");
      return std::string("get returned");
    } catch (const ConnectionError& e) {
      if (watch.elapsed() > seconds(5)) return std::string("took too long: ") + e.what();
      return std::string(e.what());
    } catch (const std::exception& e) {
      return std::string("wrong exception: ") + e.what();
    }
  });
  ASSERT_TRUE(eventually([&] { return server.stats().pending_waits == 1; }));
  Stopwatch watch;
  server.stop();
  const std::string what = blocked.get();
  EXPECT_LT(watch.elapsed().count(), 1000);
  EXPECT_NE(what.find(server.address()), std::string::npos) << what;
  EXPECT_NE(what.find("closed the connection"), std::string::npos) << what;

  // Later calls fail at once too (no waiting out the timeout on a dead server).
  Stopwatch again;
  EXPECT_THROW(client.set("k", std::string_view("v")), ConnectionError);
  EXPECT_LT(again.elapsed().count(), 1000);
}

TEST(TcpStore, ARestartedServerIsNotMistakenForTheOldOne) {
  auto server = std::make_unique<TcpStoreServer>();
  const uint16_t port = server->port();
  TcpStore client("127.0.0.1", port, client_options());
  client.set("k", std::string_view("v"));
  server.reset();
  server =
      std::make_unique<TcpStoreServer>(TcpStoreServerOptions{.host = "127.0.0.1", .port = port});
  // The pooled connection is dead; the reconnect meets a new epoch.
  std::string what;
  for (int attempt = 0; attempt < 3 && what.find("restarted") == std::string::npos; ++attempt) {
    what = what_of([&] { client.get("k"); });
  }
  EXPECT_NE(what.find("restarted"), std::string::npos) << what;
}

TEST(TcpStore, ASilentForeignServerFailsWithinTheTimeout) {
  RawListener foreign;  // accepts (in the kernel's backlog) but never answers
  Stopwatch watch;
  try {
    TcpStore client("127.0.0.1", foreign.port(), client_options(milliseconds(500)));
    FAIL() << "connected to something that is not a store";
  } catch (const ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find("not a baton store server"), std::string::npos)
        << e.what();
  }
  EXPECT_GE(watch.elapsed().count(), 500);
  EXPECT_LE(watch.elapsed().count(), 1500);
}

TEST(TcpStore, AChattyForeignServerIsRecognisedAtOnce) {
  RawListener foreign;
  std::thread banner([&] {
    UniqueFd peer = foreign.accept();
    const std::string text = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    ::send(peer.get(), text.data(), text.size(), MSG_NOSIGNAL);
    char sink[64];
    while (::recv(peer.get(), sink, sizeof(sink), 0) > 0) {
    }
  });
  Stopwatch watch;
  const std::string what =
      what_of([&] { TcpStore client("127.0.0.1", foreign.port(), client_options()); });
  EXPECT_NE(what.find("not a baton store server"), std::string::npos) << what;
  EXPECT_LT(watch.elapsed().count(), 2000);
  banner.join();
}

TEST(TcpStore, AForeignServerThatHangsUpIsRecognised) {
  RawListener foreign;
  std::thread closer([&] { foreign.accept(); });
  const std::string what =
      what_of([&] { TcpStore client("127.0.0.1", foreign.port(), client_options()); });
  closer.join();
  EXPECT_NE(what.find("not a baton store server"), std::string::npos) << what;
}

TEST(TcpStore, AServerOfAnotherProtocolVersionIsNamedWithBothVersions) {
  RawListener fake;
  std::thread server([&] {
    UniqueFd peer = fake.accept();
    uint8_t hello[store::tcp::kHelloBytes];
    ::recv(peer.get(), hello, sizeof(hello), MSG_WAITALL);
    const auto ack = store::tcp::encode_hello_ack(
        {.version = 3, .status = store::tcp::HelloStatus::kVersionMismatch, .epoch = 1});
    ::send(peer.get(), ack.data(), ack.size(), MSG_NOSIGNAL);
  });
  try {
    TcpStore client("127.0.0.1", fake.port(), client_options());
    FAIL() << "accepted a server of protocol version 3";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("protocol version 3, expected 2"), std::string::npos)
        << e.what();
  }
  server.join();
}

TEST(TcpStore, NobodyListeningFailsAfterRetryingForTheTimeout) {
  uint16_t port = 0;
  {
    RawListener probe;  // a port that was free a moment ago
    port = probe.port();
  }
  Stopwatch watch;
  const std::string what =
      what_of([&] { TcpStore client("127.0.0.1", port, client_options(milliseconds(300))); });
  EXPECT_NE(what.find("cannot connect"), std::string::npos) << what;
  EXPECT_NE(what.find(std::to_string(port)), std::string::npos) << what;
  EXPECT_GE(watch.elapsed().count(), 300);
  EXPECT_LE(watch.elapsed().count(), 1500);
}

TEST(TcpStore, AClientStartedBeforeItsServerConnectsWhenItComesUp) {
  uint16_t port = 0;
  {
    RawListener probe;
    port = probe.port();
  }
  auto client = std::async(std::launch::async, [port] {
    TcpStore c("127.0.0.1", port, client_options(seconds(20)));
    return c.get_string("ready");
  });
  TcpStore server("127.0.0.1", port, TcpStoreOptions{.is_server = true, .timeout = seconds(20)});
  server.set("ready", std::string_view("yes"));
  EXPECT_EQ(client.get(), "yes");
}

TEST(TcpStore, ValuesOverTheClientLimitAreRejectedBeforeSending) {
  TcpStoreServer server;
  TcpStore client("127.0.0.1", server.port(),
                  TcpStoreOptions{.timeout = seconds(30), .max_value_bytes = 1024});
  const uint64_t before = server.stats().requests;
  const std::vector<uint8_t> value(2048, 7);
  const std::string what = what_of([&] { client.set("k", value); });
  EXPECT_NE(what.find("2048"), std::string::npos) << what;
  EXPECT_NE(what.find("1024"), std::string::npos) << what;
  EXPECT_THROW(client.set("k", value), InvalidArgument);
  EXPECT_EQ(server.stats().requests, before);
}

TEST(TcpStore, ValuesOverTheServerLimitCloseOnlyThatConnection) {
  TcpStoreServer server(
      TcpStoreServerOptions{.host = "127.0.0.1", .port = 0, .max_value_bytes = 1024});
  TcpStore client("127.0.0.1", server.port(), client_options());
  const std::vector<uint8_t> value(2048, 7);
  try {
    client.set("k", value);
    FAIL() << "the server accepted a value over its limit";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit of 1024"), std::string::npos)
        << e.what();
  } catch (const ConnectionError&) {
    // The server's reason can be lost if its close resets the connection
    // before the client read it; the connection is closed either way.
  }
  EXPECT_EQ(server.stats().connections_rejected, 1u);
  // Values within the limit still work, on a new connection.
  client.set("k", std::vector<uint8_t>(1000, 1));
  EXPECT_EQ(client.get("k").size(), 1000u);
}

TEST(TcpStore, SixteenClientsHammerOneCounter) {
  TcpStoreServer server;
  constexpr int kClients = 16;
  constexpr int kAdds = 250;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&server, i] {
      TcpStore client("127.0.0.1", server.port(), client_options());
      for (int j = 0; j < kAdds; ++j) {
        client.add("counter", 1);
        client.set("last/" + std::to_string(i), std::to_string(j));
      }
    });
  }
  for (auto& t : threads) t.join();
  TcpStore check("127.0.0.1", server.port(), client_options());
  EXPECT_EQ(check.add("counter", 0), kClients * kAdds);
  EXPECT_EQ(check.get_string("last/3"), std::to_string(kAdds - 1));
  // Clients came and went; the server keeps no connection of theirs.
  EXPECT_TRUE(eventually([&] { return server.stats().connections_open == 1; }));
}

TEST(TcpStore, AWaitOnManyKeysCompletesAsTheyArrive) {
  TcpStoreServer server;
  TcpStore waiter("127.0.0.1", server.port(), client_options());
  TcpStore writer("127.0.0.1", server.port(), client_options());
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back("k" + std::to_string(i));
  auto done = std::async(std::launch::async, [&] { waiter.wait(keys, seconds(20)); });
  // Set them in reverse, so the waiter moves through its keys many times.
  for (int i = 999; i >= 0; --i) writer.set(keys[static_cast<size_t>(i)], std::string_view("x"));
  done.get();
  EXPECT_EQ(server.stats().pending_waits, 0u);
}

}  // namespace
}  // namespace baton::testing
