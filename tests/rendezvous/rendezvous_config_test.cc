// rendezvous() with bad configuration and addresses: every mistake fails
// fast with its name, and the store server binds only the address it is told.
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "core/socket.hpp"
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

TEST(Rendezvous, Ipv6Loopback) {
  const std::vector<net::SocketAddress> v6 =
      resolve_before("::1", 1, std::chrono::steady_clock::now() + 1s, "::1");
  if (!is_local_address(v6.front())) GTEST_SKIP() << "no IPv6 loopback on this machine";
  UniqueFd probe = net::listen_tcp("::1", 0, 1);
  const uint16_t port = net::local_address(probe.get()).port();
  probe.reset();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        env.clear_launcher_variables();
        check_and_leave(rendezvous({.init_method = "tcp://[::1]:" + std::to_string(port),
                                    .rank = rank,
                                    .world_size = world,
                                    .timeout = 20s}),
                        rank, world);
      },
      kProcesses);
}

// An address of this host that is not loopback, or "" when there is none.
std::string external_ipv4_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) != 0 || (i->ifa_flags & IFF_UP) == 0) continue;
    found = net::SocketAddress(i->ifa_addr, sizeof(sockaddr_in)).host();
  }
  ::freeifaddrs(list);
  return found;
}

// Whether something accepts TCP connections at host:port right now.
bool accepts(const std::string& host, uint16_t port) {
  const auto address =
      resolve_before(host, port, std::chrono::steady_clock::now() + 1s, host).front();
  return net::connect_tcp(address, std::chrono::steady_clock::now() + 1s).fd.valid();
}

TEST(Rendezvous, LoopbackMasterAddrBindsLoopbackOnly) {
  const std::string external = external_ipv4_address();
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        set_torchrun_env(env, 0, 1, free_port(), "127.0.0.1");
        const Result r = rendezvous({.timeout = 10s});
        const uint16_t port = dynamic_cast<TcpStore&>(*r.store).server()->port();
        EXPECT_TRUE(accepts("127.0.0.1", port));
        if (!external.empty()) {
          EXPECT_FALSE(accepts(external, port)) << "the server listens on " << external;
        }
      },
      kProcesses);
}

TEST(Rendezvous, ExternalMasterAddrBindsThatAddressNotEveryInterface) {
  const std::string external = external_ipv4_address();
  if (external.empty()) GTEST_SKIP() << "this machine has no external IPv4 address";
  const uint16_t port = free_port();
  run_ranks(
      2,
      [&](int rank, int world) {
        ScopedEnv env;
        set_torchrun_env(env, rank, world, port, external);
        const Result r = rendezvous({.timeout = 20s});
        if (rank == 0) {
          auto& tcp = dynamic_cast<TcpStore&>(*r.store);
          EXPECT_EQ(tcp.server()->host(), external);
          EXPECT_TRUE(accepts(external, port));
          EXPECT_FALSE(accepts("127.0.0.1", port)) << "the server listens on every interface";
        }
        check_and_leave(r, rank, world);
      },
      kProcesses);
}

TEST(Rendezvous, RankZeroCannotServeAnotherHostsAddress) {
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        set_torchrun_env(env, 0, 2, free_port(), "192.0.2.1");  // TEST-NET-1: nobody's address
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.timeout = 10s});
          ADD_FAILURE() << "rank 0 served an address that is not its own";
        } catch (const ConnectionError& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find("MASTER_ADDR='192.0.2.1'"), std::string::npos) << what;
          EXPECT_NE(what.find("not an address of this host"), std::string::npos) << what;
        }
        EXPECT_LT(seconds_since(start), 1.0);
      },
      kProcesses);
}

TEST(Rendezvous, PortInUseIsNamed) {
  UniqueFd taken = net::listen_tcp("127.0.0.1", 0, 1);
  const uint16_t port = net::local_address(taken.get()).port();
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        set_torchrun_env(env, 0, 2, port);
        try {
          rendezvous({.timeout = 10s});
          ADD_FAILURE() << "rank 0 served a port in use";
        } catch (const ConnectionError& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find("rank 0 cannot serve the store at MASTER_ADDR='127.0.0.1'"),
                    std::string::npos)
              << what;
          EXPECT_NE(what.find("in use"), std::string::npos) << what;
        }
      },
      kProcesses);
}

TEST(Rendezvous, UnresolvableMasterAddrIsNamedWithinTheTimeout) {
  run_ranks(
      1,
      [&](int, int) {
        ScopedEnv env;
        set_torchrun_env(env, 1, 2, 29500, "no-such-host.invalid");
        const auto start = std::chrono::steady_clock::now();
        try {
          rendezvous({.timeout = 2s});
          ADD_FAILURE() << "rendezvous succeeded";
        } catch (const ConnectionError& e) {
          EXPECT_NE(std::string(e.what()).find("cannot resolve MASTER_ADDR='no-such-host.invalid'"),
                    std::string::npos)
              << e.what();
        }
        EXPECT_LT(seconds_since(start), 3.0);
      },
      kProcesses);
}

// Configuration errors fail at once, before any network activity.
struct BadConfig {
  const char* name;
  std::vector<std::pair<const char*, const char*>> env;
  Request request;
  ErrorCode code;
  const char* fragment;
};

// GoogleTest prints a parameter through PrintTo.
void PrintTo(const BadConfig& c, std::ostream* os) {
  *os << c.name;
}  // NOLINT(readability-identifier-naming)

class RendezvousBadConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(RendezvousBadConfig, FailsFastNamingTheProblem) {
  const BadConfig& c = GetParam();
  ScopedEnv env;
  env.clear_launcher_variables();
  for (const auto& [name, value] : c.env) env.set(name, value);
  const auto start = std::chrono::steady_clock::now();
  try {
    rendezvous(c.request);
    ADD_FAILURE() << "rendezvous succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(start), 1.0);
}

const Request kEnvRequest{.timeout = 30s};
std::vector<std::pair<const char*, const char*>> torchrun_env(const char* rank = "0",
                                                              const char* world = "2") {
  return {{"RANK", rank},
          {"WORLD_SIZE", world},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", "29500"}};
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RendezvousBadConfig,
    ::testing::Values(
        BadConfig{"UnknownScheme",
                  {},
                  {.init_method = "udp://h:1", .rank = 0, .world_size = 1},
                  ErrorCode::kInvalidArgument,
                  "init_method 'udp://h:1': unknown scheme 'udp'"},
        BadConfig{"TcpWithoutPort",
                  {},
                  {.init_method = "tcp://h", .rank = 0, .world_size = 1},
                  ErrorCode::kInvalidArgument,
                  "init_method 'tcp://h': the port is missing"},
        BadConfig{"RelativeFile",
                  {},
                  {.init_method = "file://x/y", .rank = 0, .world_size = 1},
                  ErrorCode::kInvalidArgument,
                  "the path must be absolute"},
        BadConfig{
            "NoRank",
            {{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}},
            kEnvRequest,
            ErrorCode::kInvalidArgument,
            "env:// needs RANK (or OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID); none is set"},
        BadConfig{"MalformedRank", torchrun_env("abc"), kEnvRequest, ErrorCode::kInvalidArgument,
                  "RANK='abc' is not an integer"},
        BadConfig{"RankOutOfRange", torchrun_env("2", "2"), kEnvRequest,
                  ErrorCode::kInvalidArgument, "rank 2 is out of range for world size 2"},
        BadConfig{"WorldSizeZero", torchrun_env("0", "0"), kEnvRequest, ErrorCode::kInvalidArgument,
                  "WORLD_SIZE='0': the world size must be at least 1"},
        BadConfig{"NoMasterAddr",
                  {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_PORT", "1"}},
                  kEnvRequest,
                  ErrorCode::kInvalidArgument,
                  "env:// needs MASTER_ADDR"},
        BadConfig{"NoMasterPort",
                  {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "127.0.0.1"}},
                  kEnvRequest,
                  ErrorCode::kInvalidArgument,
                  "env:// needs MASTER_PORT"},
        BadConfig{"MasterPortZero",
                  {{"RANK", "0"},
                   {"WORLD_SIZE", "1"},
                   {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", "0"}},
                  kEnvRequest,
                  ErrorCode::kInvalidArgument,
                  "MASTER_PORT='0' is out of range 1..65535"},
        BadConfig{"BadAgentStoreFlag",
                  {{"RANK", "0"},
                   {"WORLD_SIZE", "1"},
                   {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", "1"},
                   {"BATON_AGENT_STORE", "maybe"}},
                  kEnvRequest,
                  ErrorCode::kInvalidArgument,
                  "BATON_AGENT_STORE='maybe'"},
        BadConfig{"RankInUrlAndRequestDisagree",
                  {},
                  {.init_method = "tcp://h:1?rank=1", .rank = 0, .world_size = 2},
                  ErrorCode::kInvalidArgument,
                  "gives rank=1 but rank 0 was passed"},
        BadConfig{"NegativeTimeout",
                  {},
                  {.rank = 0, .world_size = 1, .timeout = -1ms},
                  ErrorCode::kInvalidArgument,
                  "timeout -1 ms is negative"},
        BadConfig{"FileInMissingDirectory",
                  {},
                  {.init_method = "file:///nonexistent-dir/x/store",
                   .rank = 0,
                   .world_size = 1,
                   .timeout = 5s},
                  ErrorCode::kIo,
                  "/nonexistent-dir/x"}),
    [](const ::testing::TestParamInfo<BadConfig>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace baton::rendezvous
