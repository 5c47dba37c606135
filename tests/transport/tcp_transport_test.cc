// The TCP transport: the conformance suite, plus what only TCP has (mesh
// setup, the handshake, strays, garbage on the wire).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <future>

#include "baton/hash_store.hpp"
#include "core/net_interface.hpp"
#include "core/socket.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/transport/tcp_test_util.hpp"
#include "tests/transport/transport_suite.hpp"
#include "transport/tcp/context.hpp"
#include "transport/tcp/factory.hpp"
#include "transport/tcp/handshake.hpp"
#include "transport/tcp/listener.hpp"

namespace baton::transport::testing {
namespace {

using ::testing::Not;

TransportFactory tcp_factory() {
  return {"tcp", [](Store& store, const std::string& key, int rank, int size,
                    const SuiteOptions& options) {
            TcpOptions tcp;
            tcp.timeout = options.setup_timeout;
            tcp.unexpected_bytes = options.unexpected_bytes;
            tcp.describe_op = suite_describe_op;
            return make_tcp_context(store, key, rank, size, tcp);
          }};
}

INSTANTIATE_TEST_SUITE_P(Tcp, TransportTest, ::testing::Values(tcp_factory()), factory_name);

// ---------------------------------------------------------------- TCP only

using TcpSetupTest = TcpTempDirTest;

void exchange_one_message(Context& ctx, int rank) {
  const auto payload = pattern(1000, 42);
  std::vector<std::byte> buffer(1000);
  auto r = ctx.irecv(1 - rank, p2p(0), buffer);
  wait_ok(ctx.isend(1 - rank, p2p(0), payload));
  wait_ok(r);
  expect_pattern(buffer, 1000, 42);
}

TEST_F(TcpSetupTest, StrayConnectionsDuringSetupAreRefusedAndSetupCompletes) {
  const std::string path = store_path();
  baton::testing::run_ranks(2, [&](int rank, int size) {
    FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "suite"});
    TcpOptions options;
    options.job_id = "jobA";
    options.timeout = 30s;
    if (rank == 0) {
      auto ctx = make_tcp_context(store, "g", 0, size, options);
      exchange_one_message(*ctx, 0);
      store_barrier(store, "end", rank, size);
      return;
    }
    // Rank 0 is in its setup, waiting for rank 1: send it strays first.
    await(store, "g/tcp/0");
    const std::string address = store.get_string("g/tcp/0");
    const tcp::Hello good{.token = read_token(store, "g"),
                          .group_hash = tcp::fnv1a64("g"),
                          .from_rank = 1,
                          .to_rank = 0,
                          .world_size = 2,
                          .job_id = "jobA"};
    UniqueFd idle = raw_connect(address);         // says nothing, stays open during setup
    { UniqueFd scanner = raw_connect(address); }  // connect, then close at once
    const std::string http = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_refused(address, std::as_bytes(std::span(http)), "an HTTP request");
    auto variant = [&](auto change) {
      tcp::Hello h = good;
      change(h);
      return tcp::encode_hello(h);
    };
    expect_refused(address, variant([](auto& h) { h.job_id = "jobB"; }), "another job's hello",
                   tcp::Refusal::kJobId);
    expect_refused(address, variant([](auto& h) { h.group_hash = tcp::fnv1a64("other"); }),
                   "another group's hello", tcp::Refusal::kGroup);
    expect_refused(address, variant([](auto& h) { h.token ^= 1; }), "a stale token",
                   tcp::Refusal::kToken);
    expect_refused(address, variant([](auto& h) { h.world_size = 3; }), "another world size",
                   tcp::Refusal::kWorldSize);
    expect_refused(address, variant([](auto& h) { h.to_rank = 1; }), "a hello for rank 1",
                   tcp::Refusal::kDestination);
    expect_refused(address, variant([](auto& h) { h.from_rank = 0; }), "a lower rank",
                   tcp::Refusal::kSourceRank);
    // Now the real rank 1.
    auto ctx = make_tcp_context(store, "g", 1, size, options);
    exchange_one_message(*ctx, 1);
    store_barrier(store, "end", rank, size);
  });
}

TEST_F(TcpSetupTest, GarbageFromAConnectedPeerIsAProtocolErrorNamingIt) {
  const std::string path = store_path();
  baton::testing::run_ranks(2, [&](int rank, int size) {
    FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "suite"});
    TcpOptions options;
    options.job_id = "jobG";
    if (rank == 0) {
      auto ctx = make_tcp_context(store, "g", 0, size, options);
      std::vector<std::byte> buffer(64);
      auto r = ctx->irecv(1, p2p(0), buffer);
      signal(store, "posted");
      const std::string what = wait_error<ProtocolError>(r);
      EXPECT_THAT(what, HasSubstr("rank 1"));
      EXPECT_THAT(what, HasSubstr("bad magic"));
      EXPECT_THAT(wait_error<ProtocolError>(ctx->isend(1, p2p(0), buffer)), HasSubstr("rank 1"));
      return;
    }
    // A fake rank 1: a correct handshake, then bytes that are not frames.
    await(store, "g/tcp/0");
    UniqueFd fd = raw_connect(store.get_string("g/tcp/0"));
    const auto hello = tcp::encode_hello({.token = read_token(store, "g"),
                                          .group_hash = tcp::fnv1a64("g"),
                                          .from_rank = 1,
                                          .to_rank = 0,
                                          .world_size = 2,
                                          .job_id = "jobG"});
    ASSERT_EQ(net::send_all(fd.get(), u8(hello), Clock::now() + 10s), net::IoStatus::kDone);
    tcp::HelloBytes reply{};
    ASSERT_EQ(
        net::recv_all(fd.get(), std::span(reinterpret_cast<uint8_t*>(reply.data()), reply.size()),
                      Clock::now() + 10s),
        net::IoStatus::kDone);
    std::string why;
    const auto decoded = tcp::decode_hello(reply, &why);
    ASSERT_TRUE(decoded) << why;
    EXPECT_EQ(decoded->from_rank, 0);
    EXPECT_EQ(decoded->to_rank, 1);
    await(store, "posted");
    const std::string garbage(48, 'Z');
    ASSERT_EQ(net::send_all(fd.get(), u8(std::as_bytes(std::span(garbage))), Clock::now() + 10s),
              net::IoStatus::kDone);
    uint8_t byte = 0;  // rank 0 closes the connection
    EXPECT_EQ(net::recv_all(fd.get(), std::span<uint8_t>(&byte, 1), Clock::now() + 10s),
              net::IoStatus::kClosed);
  });
}

TEST_F(TcpSetupTest, SetupTimeoutNamesTheRanksThatDidNotConnect) {
  const std::string path = store_path();
  // A group of 3 whose rank 2 never starts.
  baton::testing::run_ranks(2, [&](int rank, int) {
    FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "suite"});
    TcpOptions options;
    options.timeout = 1500ms;
    const auto start = Clock::now();
    try {
      make_tcp_context(store, "g", rank, 3, options);
      ADD_FAILURE() << "setup succeeded without rank 2";
    } catch (const TimeoutError& e) {
      EXPECT_THAT(e.what(),
                  HasSubstr("rank 2 (it never connected to rank " + std::to_string(rank)));
      EXPECT_THAT(e.what(), Not(HasSubstr("rank " + std::to_string(1 - rank) + " (")));
    }
    EXPECT_LT(Clock::now() - start, 10s);
  });
}

TEST_F(TcpSetupTest, MissingRankZeroIsNamed) {
  FileStore store(store_path(), FileStoreOptions{.timeout = 30s, .job_id = "suite"});
  TcpOptions options;
  options.timeout = 300ms;
  try {
    make_tcp_context(store, "g", 1, 2, options);
    ADD_FAILURE() << "setup succeeded without rank 0";
  } catch (const TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("waiting for rank 0 to publish the group's token"));
  }
  EXPECT_THROW(make_tcp_context(store, "g", 2, 2, options), InvalidArgument);
}

TEST_F(TcpSetupTest, ContextsOfThreadsInOneProcess) {
  // Several contexts (and progress threads) in one process, sharing a HashStore.
  HashStore store(30s);
  baton::testing::run_ranks(
      4,
      [&](int rank, int size) {
        TcpOptions options;
        options.listen_address = "127.0.0.1";
        auto ctx = make_tcp_context(store, "threads", rank, size, options);
        std::vector<std::vector<std::byte>> in(4, std::vector<std::byte>(5000));
        std::vector<std::vector<std::byte>> out;
        for (int p = 0; p < size; ++p)
          out.push_back(pattern(5000, static_cast<uint64_t>(rank * 10 + p)));
        std::vector<RequestPtr> recvs(4), sends;
        for (int p = 0; p < size; ++p) {
          if (p == rank) continue;
          recvs[static_cast<size_t>(p)] = ctx->irecv(p, p2p(1), in[static_cast<size_t>(p)]);
          sends.push_back(ctx->isend(p, p2p(1), out[static_cast<size_t>(p)]));
        }
        for (auto& s : sends) wait_ok(s);
        for (int p = 0; p < size; ++p) {
          if (p == rank) continue;
          wait_ok(recvs[static_cast<size_t>(p)]);
          expect_pattern(in[static_cast<size_t>(p)], 5000, static_cast<uint64_t>(p * 10 + rank));
        }
        store_barrier(store, "end", rank, size);
      },
      {.mode = baton::testing::RankMode::kThreads, .timeout = 60s});
}

// Caller-driven progress: with both ranks' progress threads blocked, ranks
// that wait on their requests still exchange small messages and a large one
// (more than the socket buffers hold, streamed into the posted receive),
// reading and writing the sockets themselves.
TEST_F(TcpSetupTest, WaitingCallersProgressWhileTheProgressThreadIsBlocked) {
  const std::string path = store_path();
  baton::testing::run_ranks(2, [&](int rank, int size) {
    FileStore store(path, FileStoreOptions{.timeout = 30s, .job_id = "suite"});
    TcpOptions options;
    options.job_id = "jobP";
    options.timeout = 30s;
    auto ctx = make_tcp_context(store, "g", rank, size, options);
    auto* tcp_ctx = dynamic_cast<tcp::TcpContext*>(ctx.get());
    ASSERT_NE(tcp_ctx, nullptr);
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> blocked;
    tcp_ctx->run_on_progress_thread([&blocked, released] {
      blocked.set_value();
      released.wait();
    });
    blocked.get_future().wait();
    // Waits in 1 ms slices: each slice polls (a sleeping waiter would need
    // the blocked progress thread to wake it).
    auto wait_polling = [](const RequestPtr& r) {
      const auto deadline = Clock::now() + 20s;
      while (!r->wait_until(std::min(deadline, Clock::now() + 1ms)) && Clock::now() < deadline) {
      }
      ASSERT_TRUE(r->done()) << "request did not complete with the progress thread blocked";
      ASSERT_EQ(r->error(), nullptr);
    };
    const int peer = 1 - rank;
    constexpr int kRounds = 200;
    std::vector<std::byte> small(8);
    for (int i = 0; i < kRounds; ++i) {
      const auto payload = pattern(8, static_cast<uint64_t>(i));
      if (rank == 0) wait_polling(ctx->isend(peer, p2p(0), payload));
      auto r = ctx->irecv(peer, p2p(0), small);
      wait_polling(r);
      expect_pattern(small, 8, static_cast<uint64_t>(i));
      if (rank == 1) wait_polling(ctx->isend(peer, p2p(0), payload));
    }
    constexpr size_t kLarge = 16u << 20;
    if (rank == 1) {
      std::vector<std::byte> large(kLarge);
      auto r = ctx->irecv(peer, p2p(1), large);
      wait_polling(ctx->isend(peer, p2p(2), small));  // "posted"
      wait_polling(r);
      expect_pattern(large, kLarge, 7);
    } else {
      wait_polling(ctx->irecv(peer, p2p(2), small));
      const auto payload = pattern(kLarge, 7);
      wait_polling(ctx->isend(peer, p2p(1), payload));
    }
    // Most receives were posted before their message was read, so a caller's
    // poll completed them (a message read while its rank waited on a send
    // is buffered and copied when the receive is posted, also on the caller).
    EXPECT_GE(tcp_ctx->caller_receives(), static_cast<uint64_t>(kRounds / 2));
    release.set_value();
    store_barrier(store, "end", rank, size);
  });
}

TEST(TcpListenHostTest, ConfiguredThenMasterAddrThenLoopback) {
  baton::testing::ScopedEnv ifname("BATON_SOCKET_IFNAME", std::nullopt);
  EXPECT_EQ(tcp::choose_listen_host("10.1.2.3"), "10.1.2.3");
  const char* saved = std::getenv("MASTER_ADDR");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("MASTER_ADDR");
  EXPECT_EQ(tcp::choose_listen_host(""), "127.0.0.1");
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  EXPECT_EQ(tcp::choose_listen_host(""), "127.0.0.1");
  ::setenv("MASTER_ADDR", "no-such-host.invalid", 1);
  EXPECT_EQ(tcp::choose_listen_host(""), "127.0.0.1");
  if (saved) {
    ::setenv("MASTER_ADDR", saved_value.c_str(), 1);
  } else {
    ::unsetenv("MASTER_ADDR");
  }
}

// BATON_SOCKET_IFNAME comes after the configured address and before the
// route to MASTER_ADDR; one that selects nothing is an error, not loopback.
TEST(TcpListenHostTest, IfnameOutranksMasterAddr) {
  baton::testing::ScopedEnv env("MASTER_ADDR", "127.0.0.1");
  std::optional<net::Interface> external;
  for (const net::Interface& i :
       net::select_interfaces(net::InterfaceFilter{}, net::list_interfaces())) {
    if (!i.loopback && !external) external = i;
  }
  if (external) {
    env.set("BATON_SOCKET_IFNAME", "=" + external->name);
    EXPECT_EQ(tcp::choose_listen_host(""), external->address.host());
  }
  env.set("BATON_SOCKET_IFNAME", "=lo");
  env.set("MASTER_ADDR", external ? external->address.host() : "127.0.0.1");
  EXPECT_EQ(tcp::choose_listen_host(""), "127.0.0.1");
  EXPECT_EQ(tcp::choose_listen_host("10.1.2.3"), "10.1.2.3");
  env.set("BATON_SOCKET_IFNAME", "baton-none");
  EXPECT_THROW(tcp::choose_listen_host(""), InvalidArgument);
}

// A listener beyond loopback without a secret warns that anyone can join.
TEST(TcpListenHostTest, LoopbackAddressesAreTold) {
  auto loopback = [](const std::string& host) {
    return tcp::is_loopback(net::resolve(host, 1).front());
  };
  EXPECT_TRUE(loopback("127.0.0.1"));
  EXPECT_TRUE(loopback("127.1.2.3"));
  EXPECT_TRUE(loopback("::1"));
  EXPECT_TRUE(loopback("::ffff:127.0.0.1"));
  EXPECT_FALSE(loopback("0.0.0.0"));
  EXPECT_FALSE(loopback("::"));
  EXPECT_FALSE(loopback("10.1.2.3"));
  EXPECT_FALSE(loopback("128.0.0.1"));
  EXPECT_FALSE(loopback("::ffff:10.0.0.1"));
}

}  // namespace
}  // namespace baton::transport::testing
