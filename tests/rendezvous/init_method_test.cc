// Parsing of every init_method form, and the message of every malformed one.
#include "rendezvous/init_method.hpp"

#include <gtest/gtest.h>

#include "baton/error.hpp"

namespace baton::rendezvous {
namespace {

// The InvalidArgument text parse_init_method gives for url ("" if none).
std::string parse_error(const std::string& url) {
  try {
    parse_init_method(url);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

#define BATON_EXPECT_PARSE_ERROR(url, fragment)                                           \
  do {                                                                                    \
    const std::string what = parse_error(url);                                            \
    EXPECT_NE(what.find("init_method '" + std::string(url) + "'"), std::string::npos)     \
        << "the message must name the URL: " << what;                                     \
    EXPECT_NE(what.find(fragment), std::string::npos) << "for " << (url) << ": " << what; \
  } while (0)

TEST(InitMethod, Env) {
  const InitMethod m = parse_init_method("env://");
  EXPECT_EQ(m.scheme, Scheme::kEnv);
  EXPECT_EQ(m.url, "env://");
  EXPECT_FALSE(m.rank);
  EXPECT_FALSE(m.world_size);
}

TEST(InitMethod, SchemeIsCaseInsensitive) {
  EXPECT_EQ(parse_init_method("ENV://").scheme, Scheme::kEnv);
  EXPECT_EQ(parse_init_method("Tcp://h:1").scheme, Scheme::kTcp);
}

TEST(InitMethod, TcpIpv4) {
  const InitMethod m = parse_init_method("tcp://10.1.2.3:29500");
  EXPECT_EQ(m.scheme, Scheme::kTcp);
  EXPECT_EQ(m.host, "10.1.2.3");
  EXPECT_EQ(m.port, 29500);
}

TEST(InitMethod, TcpHostname) {
  const InitMethod m = parse_init_method("tcp://node-7.cluster:1");
  EXPECT_EQ(m.host, "node-7.cluster");
  EXPECT_EQ(m.port, 1);
  EXPECT_EQ(parse_init_method("tcp://localhost:65535").port, 65535);
}

TEST(InitMethod, TcpIpv6InBrackets) {
  const InitMethod m = parse_init_method("tcp://[::1]:29500");
  EXPECT_EQ(m.host, "::1");
  EXPECT_EQ(m.port, 29500);
  EXPECT_EQ(parse_init_method("tcp://[fe80::1:2]:80").host, "fe80::1:2");
}

TEST(InitMethod, QueryGivesRankAndWorldSize) {
  const InitMethod t = parse_init_method("tcp://h:5?rank=2&world_size=4");
  EXPECT_EQ(t.host, "h");
  EXPECT_EQ(t.port, 5);
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(t.world_size, 4);
  const InitMethod f = parse_init_method("file:///tmp/s?world_size=3");
  EXPECT_EQ(f.path, "/tmp/s");
  EXPECT_FALSE(f.rank);
  EXPECT_EQ(f.world_size, 3);
  EXPECT_EQ(parse_init_method("env://?rank=0").rank, 0);
}

TEST(InitMethod, File) {
  const InitMethod m = parse_init_method("file:///tmp/baton/store");
  EXPECT_EQ(m.scheme, Scheme::kFile);
  EXPECT_EQ(m.path, "/tmp/baton/store");
  EXPECT_EQ(parse_init_method("file://localhost/tmp/x").path, "/tmp/x");
}

TEST(InitMethod, MalformedUrls) {
  BATON_EXPECT_PARSE_ERROR("", "empty");
  BATON_EXPECT_PARSE_ERROR("localhost:29500", "not a URL");
  BATON_EXPECT_PARSE_ERROR("udp://h:1", "unknown scheme 'udp'");
  BATON_EXPECT_PARSE_ERROR("udp://h:1", "expected env://, tcp://host:port or file:///path");
  BATON_EXPECT_PARSE_ERROR("env://host:1", "env:// takes no address");
}

TEST(InitMethod, MalformedTcp) {
  BATON_EXPECT_PARSE_ERROR("tcp://", "the host is empty");
  BATON_EXPECT_PARSE_ERROR("tcp://:29500", "the host is empty");
  BATON_EXPECT_PARSE_ERROR("tcp://[]:29500", "the host is empty");
  BATON_EXPECT_PARSE_ERROR("tcp://host", "the port is missing");
  BATON_EXPECT_PARSE_ERROR("tcp://host:", "the port is empty");
  BATON_EXPECT_PARSE_ERROR("tcp://host:0", "port='0' is out of range 1..65535");
  BATON_EXPECT_PARSE_ERROR("tcp://host:65536", "port='65536' is out of range 1..65535");
  BATON_EXPECT_PARSE_ERROR("tcp://host:-5", "port='-5' is out of range 1..65535");
  BATON_EXPECT_PARSE_ERROR("tcp://host:http", "port='http' is not an integer");
  BATON_EXPECT_PARSE_ERROR("tcp://host:99999999999", "port='99999999999' is not an integer");
  BATON_EXPECT_PARSE_ERROR("tcp://::1:29500", "IPv6 address must be written in brackets");
  BATON_EXPECT_PARSE_ERROR("tcp://[::1:29500", "without a closing ']'");
  BATON_EXPECT_PARSE_ERROR("tcp://[::1]29500", "unexpected '29500' after the IPv6 address");
  BATON_EXPECT_PARSE_ERROR("tcp://[::1]", "the port is missing");
  BATON_EXPECT_PARSE_ERROR("tcp://host:1/path", "unexpected path after the port");
}

TEST(InitMethod, MalformedFile) {
  BATON_EXPECT_PARSE_ERROR("file://", "the path is empty");
  BATON_EXPECT_PARSE_ERROR("file://relative/path", "the path must be absolute");
  BATON_EXPECT_PARSE_ERROR("file://relative/path", "reads 'relative' as a host");
  BATON_EXPECT_PARSE_ERROR("file:///tmp/dir/", "names a directory");
}

TEST(InitMethod, MalformedQuery) {
  BATON_EXPECT_PARSE_ERROR("tcp://h:1?rank=x", "rank='x' is not an integer");
  BATON_EXPECT_PARSE_ERROR("tcp://h:1?rank=-1", "rank=-1 is negative");
  BATON_EXPECT_PARSE_ERROR("tcp://h:1?world_size=0",
                           "world_size=0: the world size must be at least 1");
  BATON_EXPECT_PARSE_ERROR("tcp://h:1?size=2", "unknown query parameter 'size'");
  BATON_EXPECT_PARSE_ERROR("tcp://h:1?rank", "query parameter 'rank' has no value");
}

TEST(InitMethod, ErrorsAreInvalidArgument) {
  for (const char* url : {"udp://x:1", "tcp://h:0", "file://x", "env://x"}) {
    try {
      parse_init_method(url);
      ADD_FAILURE() << url << " parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << url;
    }
  }
}

}  // namespace
}  // namespace baton::rendezvous
