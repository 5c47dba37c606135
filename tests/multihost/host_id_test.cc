// BATON_HOST_ID: the host identity override the multi-host test relies on
// (src/rendezvous/host_identity.*).
#include <gtest/gtest.h>

#include "rendezvous/host_identity.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::rendezvous {
namespace {

TEST(HostIdTest, UnsetGivesHostnameAndBootId) {
  testing::ScopedEnv env("BATON_HOST_ID", std::nullopt);
  const HostIdentity id = local_host_identity();
  EXPECT_FALSE(id.hostname.empty());
  EXPECT_NE(id.hostname, "netns-a");
}

TEST(HostIdTest, OverridesBothParts) {
  testing::ScopedEnv env("BATON_HOST_ID", "netns-a");
  const HostIdentity id = local_host_identity();
  EXPECT_EQ(id.hostname, "netns-a");
  EXPECT_EQ(id.boot_id, "");
  EXPECT_EQ(id.to_string(), "netns-a");
}

TEST(HostIdTest, DifferentValuesAreDifferentHosts) {
  HostIdentity a;
  HostIdentity b;
  {
    testing::ScopedEnv env("BATON_HOST_ID", "host-a");
    a = local_host_identity();
  }
  {
    testing::ScopedEnv env("BATON_HOST_ID", "host-b");
    b = local_host_identity();
  }
  EXPECT_NE(a, b);
}

TEST(HostIdTest, ControlCharactersAreReplaced) {
  testing::ScopedEnv env("BATON_HOST_ID", "a\tb");
  EXPECT_EQ(local_host_identity().hostname, "a?b");
}

TEST(HostIdTest, TestingOverrideWins) {
  testing::ScopedEnv env("BATON_HOST_ID", "from-env");
  set_host_identity_override_for_testing(HostIdentity{"forced", "boot"});
  EXPECT_EQ(local_host_identity().hostname, "forced");
  set_host_identity_override_for_testing(std::nullopt);
  EXPECT_EQ(local_host_identity().hostname, "from-env");
}

}  // namespace
}  // namespace baton::rendezvous
