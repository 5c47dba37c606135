// RateLimit lets a burst through per period and counts what it drops.
#include "core/rate_limit.hpp"

#include <gtest/gtest.h>

namespace baton::log {
namespace {

TEST(RateLimit, BurstThenDropsThenReportsTheCount) {
  RateLimit limit(3, std::chrono::seconds(10));
  const auto t0 = RateLimit::Clock::now();
  uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limit.allow(&dropped, t0));
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limit.allow(&dropped, t0 + std::chrono::seconds(5)));
  ASSERT_TRUE(limit.allow(&dropped, t0 + std::chrono::seconds(11)));
  EXPECT_EQ(dropped, 1000u);
  EXPECT_EQ(suppressed(dropped), " (1000 similar messages suppressed)");
  EXPECT_EQ(suppressed(1), " (1 similar message suppressed)");
  EXPECT_EQ(suppressed(0), "");
}

}  // namespace
}  // namespace baton::log
