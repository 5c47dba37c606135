// The address a rank publishes for its transports (Result::publish_host):
// the route to the TcpStore for env:// and tcp://, the first non-loopback
// interface for file://, BATON_SOCKET_IFNAME's choice over both, and a
// BATON_SOCKET_IFNAME that selects nothing failing fast, before a store is
// served or a file made.
#include <gtest/gtest.h>

#include <filesystem>

#include "baton/error.hpp"
#include "baton/hash_store.hpp"
#include "baton/tcp_store.hpp"
#include "core/net_interface.hpp"
#include "rendezvous/address.hpp"
#include "rendezvous/rendezvous.hpp"
#include "tests/rendezvous/rendezvous_test_util.hpp"

namespace baton::rendezvous {
namespace {

using namespace std::chrono_literals;
using baton::testing::run_ranks;
using testing::check_and_leave;
using testing::free_port;
using testing::kProcesses;
using testing::ScopedEnv;
using testing::seconds_since;
using testing::set_torchrun_env;
using testing::TempDir;

// The first interface that is up, not loopback, with an IPv4 address; its
// name and address, or nullopt.
std::optional<net::Interface> external_ipv4_interface() {
  for (const net::Interface& i :
       net::select_interfaces(net::InterfaceFilter{}, net::list_interfaces())) {
    if (!i.loopback && i.address.family() == AF_INET) return i;
  }
  return std::nullopt;
}

std::string tcp_url(const std::string& host, uint16_t port) {
  return "tcp://" + host + ":" + std::to_string(port);
}

TEST(PublishHost, TcpLoopbackStorePublishesLoopback) {
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const Result r = rendezvous({.init_method = tcp_url("127.0.0.1", port),
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        EXPECT_EQ(r.publish_host, "127.0.0.1") << "rank " << rank;
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

// The store at an external address: both the server's rank and the client
// publish that address (the route to it), not loopback.
TEST(PublishHost, TcpExternalStorePublishesTheRouteToIt) {
  const std::optional<net::Interface> external = external_ipv4_interface();
  if (!external) GTEST_SKIP() << "this machine has no external IPv4 address";
  const std::string host = external->address.host();
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const Result r = rendezvous({.init_method = tcp_url(host, port),
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        EXPECT_EQ(r.publish_host, host) << "rank " << rank;
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

// BATON_SOCKET_IFNAME outranks the route: the store stays where the URL
// says, the ranks publish the chosen interface.
TEST(PublishHost, IfnameOutranksTheRouteToTheStore) {
  const std::optional<net::Interface> external = external_ipv4_interface();
  if (!external) GTEST_SKIP() << "this machine has no external IPv4 address";
  const std::string host = external->address.host();
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables().set("BATON_SOCKET_IFNAME", "=lo");
        const Result r = rendezvous({.init_method = tcp_url(host, port),
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        EXPECT_EQ(r.publish_host, "127.0.0.1") << "rank " << rank;
        if (rank == 0) {
          EXPECT_EQ(dynamic_cast<TcpStore&>(*r.store).server()->host(), host);
        }
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST(PublishHost, EnvPublishesTheRouteToMasterAddr) {
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port, "127.0.0.1");
        const Result r = rendezvous({.timeout = 20s});
        EXPECT_EQ(r.publish_host, "127.0.0.1") << "rank " << rank;
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST(PublishHost, FilePublishesTheFirstNonLoopbackInterface) {
  const std::optional<net::Interface> external = external_ipv4_interface();
  const std::string expected =
      net::select_interfaces(net::InterfaceFilter{}, net::list_interfaces()).front().address.host();
  if (external) {
    ASSERT_NE(expected, "127.0.0.1") << "loopback comes last";
  }
  TempDir dir;
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const Result r = rendezvous({.init_method = "file://" + dir.path() + "/store",
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        EXPECT_EQ(r.publish_host, expected) << "rank " << rank;
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST(PublishHost, FileWithIfnamePublishesTheChosenInterface) {
  TempDir dir;
  const std::optional<net::Interface> external = external_ipv4_interface();
  // Each rank a different way of saying it: loopback by exact name; the
  // external interface by its name as a prefix; everything but loopback.
  const std::string by_name = external ? external->name : "lo";
  const std::string by_name_address = external ? external->address.host() : "127.0.0.1";
  const net::InterfaceFilter not_lo = net::parse_interface_filter("^lo");
  const std::vector<net::Interface> rest = net::select_interfaces(not_lo, net::list_interfaces());
  const std::string not_lo_value = rest.empty() ? "=lo" : "^lo";
  const std::string not_lo_address = rest.empty() ? "127.0.0.1" : rest.front().address.host();
  run_ranks(
      3,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        const std::string value = rank == 0 ? "=lo" : rank == 1 ? by_name : not_lo_value;
        const std::string expected = rank == 0   ? "127.0.0.1"
                                     : rank == 1 ? by_name_address
                                                 : not_lo_address;
        env.set("BATON_SOCKET_IFNAME", value);
        const Result r = rendezvous({.init_method = "file://" + dir.path() + "/store",
                                     .rank = rank,
                                     .world_size = world,
                                     .timeout = 20s});
        EXPECT_EQ(r.publish_host, expected) << "rank " << rank << ", BATON_SOCKET_IFNAME=" << value;
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST(PublishHost, GivenStoreLeavesTheChoiceToTheTransport) {
  ScopedEnv env;
  env.clear_launcher_variables();
  const Result r = rendezvous(
      {.rank = 0, .world_size = 1, .timeout = 5s, .store = std::make_shared<HashStore>()});
  EXPECT_EQ(r.publish_host, "");
}

// No match fails at once with the variable, its value and the interfaces,
// and rank 0 has served nothing.
TEST(PublishHost, IfnameWithoutAMatchFailsBeforeServing) {
  const uint16_t port = free_port();
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        env.clear_launcher_variables().set("BATON_SOCKET_IFNAME", "=baton-none0");
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.init_method = tcp_url("127.0.0.1", port),
                      .rank = 0,
                      .world_size = 2,
                      .timeout = 10s});
          ADD_FAILURE() << "rendezvous succeeded";
        } catch (const InvalidArgument& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find("BATON_SOCKET_IFNAME='=baton-none0' selects no interface"),
                    std::string::npos)
              << what;
          EXPECT_NE(what.find("this host has: "), std::string::npos) << what;
          EXPECT_NE(what.find("lo 127.0.0.1"), std::string::npos) << what;
        }
        EXPECT_LT(seconds_since(start), 1.0);
        // Nothing listens on the port: it is free to take.
        EXPECT_NO_THROW(net::listen_tcp("127.0.0.1", port, 1));
      },
      kProcesses);
}

TEST(PublishHost, IfnameWithoutAMatchFailsBeforeMakingTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/store";
  std::string every = "^=";  // every interface of this host, excluded by name
  for (const net::Interface& i : net::list_interfaces()) every += i.name + ",";
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        env.clear_launcher_variables().set("BATON_SOCKET_IFNAME", every);
        try {
          rendezvous({.init_method = "file://" + path, .rank = 0, .world_size = 2, .timeout = 10s});
          ADD_FAILURE() << "rendezvous succeeded";
        } catch (const InvalidArgument& e) {
          EXPECT_NE(std::string(e.what()).find("excludes every interface"), std::string::npos)
              << e.what();
        }
        EXPECT_FALSE(std::filesystem::exists(path));
      },
      kProcesses);
}

}  // namespace
}  // namespace baton::rendezvous
