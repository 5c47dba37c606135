// BATON_SOCKET_IFNAME: parsing, and choosing from a made-up interface list
// (prefixes, exact names, exclusions, order, loopback last, down interfaces,
// IPv6 link-local, no match); then the real list and the environment.
#include "core/net_interface.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "baton/error.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::net {
namespace {

using baton::testing::ScopedEnv;

SocketAddress ip(const std::string& text) {
  sockaddr_storage s{};
  if (text.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&s);
    in->sin_family = AF_INET;
    EXPECT_EQ(::inet_pton(AF_INET, text.c_str(), &in->sin_addr), 1) << text;
    return SocketAddress(reinterpret_cast<const sockaddr*>(&s), sizeof(sockaddr_in));
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&s);
  in6->sin6_family = AF_INET6;
  EXPECT_EQ(::inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr), 1) << text;
  return SocketAddress(reinterpret_cast<const sockaddr*>(&s), sizeof(sockaddr_in6));
}

Interface nic(const std::string& name, const std::string& address, bool up = true) {
  return {.name = name,
          .address = address.empty() ? SocketAddress() : ip(address),
          .up = up,
          .loopback = name == "lo"};
}

// In getifaddrs order: loopback first, as Linux lists it.
const std::vector<Interface> kHost = {
    nic("lo", "127.0.0.1"),
    nic("docker0", "172.17.0.1"),
    nic("eth1", "10.1.0.1", /*up=*/false),
    nic("eth0", "fe80::1"),  // link-local: listed before eth0's other addresses
    nic("eth0", "2001:db8::5"),
    nic("eth0", "10.0.0.5"),
    nic("eth10", "10.10.0.5"),
    nic("ib0", "192.168.7.5"),
    nic("lo", "::1"),
    nic("wlan0", ""),  // up, no address
};

std::string pick(const std::string& value, const std::vector<Interface>& host = kHost) {
  const Interface chosen = choose_interface(parse_interface_filter(value), host);
  return chosen.name + " " + chosen.address.host();
}

std::string choose_error(const std::string& value, const std::vector<Interface>& host = kHost) {
  try {
    const Interface chosen = choose_interface(parse_interface_filter(value), host);
    return "chose " + chosen.name + " " + chosen.address.host();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
}

TEST(SocketIfname, ParsesPrefixesExactNamesAndExclusions) {
  InterfaceFilter f = parse_interface_filter(" eth , ib ");
  EXPECT_FALSE(f.exclude);
  EXPECT_FALSE(f.exact);
  EXPECT_EQ(f.names, (std::vector<std::string>{"eth", "ib"}));

  f = parse_interface_filter("=eth0");
  EXPECT_TRUE(f.exact);
  EXPECT_FALSE(f.exclude);
  EXPECT_EQ(f.names, std::vector<std::string>{"eth0"});

  f = parse_interface_filter("^lo,docker,");
  EXPECT_TRUE(f.exclude);
  EXPECT_FALSE(f.exact);
  EXPECT_EQ(f.names, (std::vector<std::string>{"lo", "docker"}));

  f = parse_interface_filter("^=eth0");
  EXPECT_TRUE(f.exclude);
  EXPECT_TRUE(f.exact);
  EXPECT_TRUE(f.listed("eth0"));
  EXPECT_FALSE(f.listed("eth01"));

  f = parse_interface_filter("   ");
  EXPECT_TRUE(f.names.empty());
  EXPECT_FALSE(f.exclude);
}

TEST(SocketIfname, ValueWithoutANameIsAnError) {
  for (const char* value : {"^", "=", "^=", ",", "^ , "}) {
    try {
      parse_interface_filter(value);
      FAIL() << "expected InvalidArgument for '" << value << "'";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("BATON_SOCKET_IFNAME='" + std::string(value) + "'"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(SocketIfname, PrefixMatchesInListOrderIpv4First) {
  // eth1 is down, so "eth" lands on eth0; its IPv4 address beats its IPv6
  // one although getifaddrs lists the IPv6 one first.
  EXPECT_EQ(pick("eth"), "eth0 10.0.0.5");
  // A prefix: eth1 is down, eth10 starts with "eth1".
  EXPECT_EQ(pick("eth1"), "eth10 10.10.0.5");
  // Earlier names win over getifaddrs' order.
  EXPECT_EQ(pick("ib,eth"), "ib0 192.168.7.5");
  EXPECT_EQ(pick("eth,ib"), "eth0 10.0.0.5");
  // Loopback when asked for.
  EXPECT_EQ(pick("lo"), "lo 127.0.0.1");
}

TEST(SocketIfname, ExactNames) {
  EXPECT_EQ(pick("=eth0"), "eth0 10.0.0.5");
  EXPECT_EQ(pick("=eth10"), "eth10 10.10.0.5");
  EXPECT_EQ(pick("=eth1,ib0"), "ib0 192.168.7.5");  // eth1 is down
  const std::string e = choose_error("=eth");
  EXPECT_NE(e.find("BATON_SOCKET_IFNAME='=eth' selects no interface"), std::string::npos) << e;
}

TEST(SocketIfname, ExclusionsSkipLoopbackUnlessNothingElseIsLeft) {
  EXPECT_EQ(pick("^lo"), "docker0 172.17.0.1");
  EXPECT_EQ(pick("^lo,docker"), "eth0 10.0.0.5");
  EXPECT_EQ(pick("^docker"), "eth0 10.0.0.5");  // not lo, although lo is listed first
  EXPECT_EQ(pick("^docker,eth"), "ib0 192.168.7.5");
  // Exact exclusion: eth0 goes, eth10 stays.
  EXPECT_EQ(pick("^=docker0,eth0"), "eth10 10.10.0.5");
  // Everything else excluded: loopback is what is left.
  EXPECT_EQ(pick("^docker,eth,ib"), "lo 127.0.0.1");
}

TEST(SocketIfname, NoFilterIsTheFirstNonLoopbackInterface) {
  EXPECT_EQ(pick(""), "docker0 172.17.0.1");
  const std::vector<Interface> only_loopback = {nic("lo", "::1"), nic("lo", "127.0.0.1")};
  EXPECT_EQ(pick("", only_loopback), "lo 127.0.0.1");
  const std::vector<Interface> v6 = {nic("lo", "127.0.0.1"), nic("eth0", "fe80::2"),
                                     nic("eth0", "2001:db8::9")};
  EXPECT_EQ(pick("", v6), "eth0 2001:db8::9");
  // The order of every usable address: non-loopback IPv4, IPv6, then loopback.
  std::string order;
  for (const Interface& i : select_interfaces(InterfaceFilter{}, kHost)) {
    order += i.name + "=" + i.address.host() + " ";
  }
  EXPECT_EQ(order,
            "docker0=172.17.0.1 eth0=10.0.0.5 eth10=10.10.0.5 ib0=192.168.7.5 eth0=2001:db8::5 "
            "lo=127.0.0.1 lo=::1 ");
}

TEST(SocketIfname, NoMatchNamesTheVariableTheValueAndTheInterfaces) {
  const std::string e = choose_error("bond");
  EXPECT_NE(e.find("BATON_SOCKET_IFNAME='bond' selects no interface that is up"), std::string::npos)
      << e;
  EXPECT_NE(e.find("write =bond for an exact name"), std::string::npos) << e;
  // Every interface, with its addresses and state.
  EXPECT_NE(e.find("this host has: lo 127.0.0.1 ::1, docker0 172.17.0.1, eth1 (down) 10.1.0.1, "
                   "eth0 fe80::1 2001:db8::5 10.0.0.5, eth10 10.10.0.5, ib0 192.168.7.5, "
                   "wlan0 (no address)"),
            std::string::npos)
      << e;
  // A down interface named exactly, and one without an address.
  EXPECT_NE(choose_error("=eth1").find("selects no interface"), std::string::npos);
  EXPECT_NE(choose_error("wlan").find("selects no interface"), std::string::npos);
  const std::string all = choose_error("^lo,docker,eth,ib");
  EXPECT_NE(all.find("BATON_SOCKET_IFNAME='^lo,docker,eth,ib' excludes every interface"),
            std::string::npos)
      << all;
  const std::string none = choose_error("", {nic("lo", "127.0.0.1", false)});
  EXPECT_NE(none.find("no network interface is up"), std::string::npos) << none;
}

// The real host: Linux always has lo with 127.0.0.1.
TEST(SocketIfname, ListsThisHostsLoopback) {
  const std::vector<Interface> here = list_interfaces();
  bool found = false;
  for (const Interface& i : here) {
    if (i.name == "lo" && i.address.family() == AF_INET) {
      EXPECT_EQ(i.address.host(), "127.0.0.1");
      EXPECT_TRUE(i.loopback);
      found = i.up;
    }
  }
  EXPECT_TRUE(found) << describe_interfaces(here);
}

TEST(SocketIfname, FromTheEnvironment) {
  {
    ScopedEnv env("BATON_SOCKET_IFNAME", std::nullopt);
    EXPECT_FALSE(address_from_ifname_env().has_value());
    // The default: first non-loopback interface that is up, as select_interfaces says.
    const std::vector<Interface> here = list_interfaces();
    EXPECT_EQ(default_interface_address().host(),
              select_interfaces(InterfaceFilter{}, here).front().address.host());
  }
  {
    ScopedEnv env("BATON_SOCKET_IFNAME", "=lo");
    ASSERT_TRUE(address_from_ifname_env().has_value());
    EXPECT_EQ(address_from_ifname_env()->host(), "127.0.0.1");
    EXPECT_EQ(default_interface_address().host(), "127.0.0.1");
  }
  {
    ScopedEnv env("BATON_SOCKET_IFNAME", "=baton-none0");
    try {
      address_from_ifname_env();
      FAIL() << "expected InvalidArgument";
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("BATON_SOCKET_IFNAME='=baton-none0'"), std::string::npos) << what;
      EXPECT_NE(what.find("lo 127.0.0.1"), std::string::npos) << what;
    }
  }
}

TEST(SocketIfname, RouteAndOwnership) {
  const std::optional<SocketAddress> towards = local_address_towards(ip("127.0.0.1"));
  ASSERT_TRUE(towards.has_value());
  EXPECT_EQ(towards->host(), "127.0.0.1");
  EXPECT_TRUE(is_address_of(ip("10.0.0.5"), kHost));
  EXPECT_FALSE(is_address_of(ip("10.0.0.6"), kHost));
}

}  // namespace
}  // namespace baton::net
