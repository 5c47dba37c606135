// PrefixStore: keys land under "<prefix>/" in the underlying store, and
// prefixes keep groups apart.
#include "baton/prefix_store.hpp"

#include <gtest/gtest.h>

#include "baton/error.hpp"
#include "baton/hash_store.hpp"

namespace baton::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(PrefixStore, KeysLandUnderThePrefix) {
  auto base = std::make_shared<HashStore>(seconds(30));
  PrefixStore group("pg1", base);
  group.set("rank0", std::string_view("addr"));
  EXPECT_EQ(base->get_string("pg1/rank0"), "addr");
  EXPECT_EQ(group.add("count", 3), 3);
  EXPECT_EQ(base->get_string("pg1/count"), "3");
  const std::vector<std::string> keys = {"rank0", "count"};
  EXPECT_TRUE(group.check(keys));
  EXPECT_TRUE(group.delete_key("rank0"));
  EXPECT_FALSE(base->delete_key("pg1/rank0"));
}

TEST(PrefixStore, TwoGroupsDoNotSeeEachOther) {
  auto base = std::make_shared<HashStore>(seconds(30));
  PrefixStore a("a", base);
  PrefixStore b("b", base);
  a.set("k", std::string_view("from a"));
  b.set("k", std::string_view("from b"));
  EXPECT_EQ(a.get_string("k"), "from a");
  EXPECT_EQ(b.get_string("k"), "from b");
  const std::vector<std::string> only_a = {"only-a"};
  a.set("only-a", std::string_view("1"));
  EXPECT_FALSE(b.check(only_a));
}

TEST(PrefixStore, PrefixesNest) {
  auto base = std::make_shared<HashStore>(seconds(30));
  auto outer = std::make_shared<PrefixStore>("outer", base);
  PrefixStore inner("inner", outer);
  inner.set("k", std::string_view("v"));
  EXPECT_EQ(base->get_string("outer/inner/k"), "v");
}

TEST(PrefixStore, GetHonoursThePrefixStoresOwnTimeout) {
  auto base = std::make_shared<HashStore>(seconds(30));
  PrefixStore group("g", base);
  EXPECT_EQ(group.timeout(), seconds(30));
  group.set_timeout(milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  try {
    group.get("missing");
    FAIL() << "get returned";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("g/missing"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
}

TEST(PrefixStore, ANullStoreIsInvalidArgument) {
  EXPECT_THROW(PrefixStore("p", nullptr), InvalidArgument);
}

}  // namespace
}  // namespace baton::testing
