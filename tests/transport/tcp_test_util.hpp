// Helpers for the TCP transport's own tests (tcp_*_test.cc): a temporary
// directory for a FileStore, raw sockets to a rank's published address, the
// group token as the store holds it, and a check that a listener refuses.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "baton/error.hpp"
#include "baton/store.hpp"
#include "core/socket.hpp"
#include "tests/transport/transport_test_util.hpp"
#include "transport/tcp/handshake.hpp"

namespace baton::transport::testing {

// A fresh directory per test, removed after it.
class TcpTempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton-tcp-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  std::string store_path() const { return dir_ + "/store"; }
  std::string dir_;
};

inline std::span<const uint8_t> u8(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}
inline std::span<uint8_t> mutable_u8(std::span<std::byte> bytes) {
  return {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()};
}

// Connects a raw socket to "host:port" as published in the store.
inline UniqueFd raw_connect(const std::string& address) {
  const size_t colon = address.rfind(':');
  const auto port = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
  auto result =
      net::connect_tcp(net::resolve(address.substr(0, colon), port).front(), Clock::now() + 10s);
  if (!result.fd) throw ConnectionError("test: cannot connect to " + address);
  return std::move(result.fd);
}

inline uint64_t read_token(Store& store, const std::string& group) {
  return std::stoull(store.get_string(group + "/tcp/token"), nullptr, 16);
}

// Reads a 72-byte hello that must be a refusal with `refusal` (no token).
inline void expect_refusal_hello(int fd, tcp::Refusal refusal, const std::string& what) {
  tcp::HelloBytes reply{};
  ASSERT_EQ(net::recv_all(fd, mutable_u8(reply), Clock::now() + 10s), net::IoStatus::kDone)
      << what << ": no refusal hello";
  std::string why;
  const auto decoded = tcp::decode_hello(reply, &why);
  ASSERT_TRUE(decoded) << what << ": " << why;
  EXPECT_EQ(decoded->flags & tcp::kFlagRefusal, tcp::kFlagRefusal) << what;
  EXPECT_EQ(decoded->refusal, refusal) << what;
  EXPECT_EQ(decoded->token, 0u) << what << ": a refusal must not reveal the token";
}

// Expects the peer to close the connection without sending another byte.
inline void expect_closed(int fd, const std::string& what) {
  uint8_t byte = 0;
  EXPECT_EQ(net::recv_all(fd, std::span<uint8_t>(&byte, 1), Clock::now() + 10s),
            net::IoStatus::kClosed)
      << what << " was not refused";
}

// Sends bytes and expects the listener to close the connection: at once,
// or after a refusal hello with `refusal` when one is given.
inline void expect_refused(const std::string& address, std::span<const std::byte> bytes,
                           const std::string& what,
                           std::optional<tcp::Refusal> refusal = std::nullopt) {
  UniqueFd fd = raw_connect(address);
  ASSERT_EQ(net::send_all(fd.get(), u8(bytes), Clock::now() + 10s), net::IoStatus::kDone) << what;
  if (refusal) expect_refusal_hello(fd.get(), *refusal, what);
  expect_closed(fd.get(), what);
}

}  // namespace baton::transport::testing
