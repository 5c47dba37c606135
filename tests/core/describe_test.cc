// core/describe and core/random: the one way messages name ranks and durations.
#include "core/describe.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/random.hpp"

namespace baton {
namespace {

using namespace std::chrono_literals;

TEST(Describe, Ranks) {
  EXPECT_EQ(describe_ranks({3}, 4), "rank 3 of 4");
  EXPECT_EQ(describe_ranks({3, 1}, 4), "ranks 1, 3 of 4");
  EXPECT_EQ(describe_ranks({0, 1, 2, 5, 7, 8}, 9), "ranks 0-2, 5, 7, 8 of 9");
  std::vector<int> many;
  for (int r = 0; r < 200; r += 2) many.push_back(r);
  const std::string text = describe_ranks(many, 200);
  EXPECT_NE(text.find("... (100 in all) of 200"), std::string::npos) << text;
}

TEST(Describe, RankList) {
  EXPECT_EQ(rank_list({}), "");
  EXPECT_EQ(rank_list({2, 0, 5}), "2, 0, 5");
  std::vector<int> many(40, 1);
  EXPECT_NE(rank_list(many).find(", ... (40 in all)"), std::string::npos);
}

TEST(Describe, Duration) {
  EXPECT_EQ(describe_duration(30s), "30 s");
  EXPECT_EQ(describe_duration(1500ms), "1.5 s");
  EXPECT_EQ(describe_duration(250ms), "0.25 s");
  EXPECT_EQ(describe_duration(1001ms), "1.001 s");
  EXPECT_EQ(describe_duration(50ms), "0.05 s");
  EXPECT_EQ(describe_duration(0ms), "0 s");
}

TEST(Random, HexIsSixteenDigitsAndDiffers) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string h = random_hex();
    EXPECT_EQ(h.size(), 16u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
    seen.insert(h);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace baton
