#include "core/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "baton/error.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::config {
namespace {

using baton::testing::ScopedEnv;

TEST(Config, DefaultsAndOverrides) {
  unsetenv("BATON_TIMEOUT");
  EXPECT_EQ(get_duration("BATON_TIMEOUT"), std::chrono::seconds(300));
  ScopedEnv e("BATON_TIMEOUT", "1500ms");
  EXPECT_EQ(get_duration("BATON_TIMEOUT"), std::chrono::milliseconds(1500));
}

TEST(Config, MalformedValueNamesTheVariable) {
  ScopedEnv e("BATON_TIMEOUT", "soon");
  try {
    get_duration("BATON_TIMEOUT");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& err) {
    EXPECT_NE(std::string(err.what()).find("BATON_TIMEOUT='soon'"), std::string::npos)
        << err.what();
  }
}

TEST(Config, UnregisteredTunableIsAnError) {
  EXPECT_THROW(get_string("BATON_NO_SUCH_THING"), InvalidArgument);
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration("30s", "x"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("2m", "x"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("1h", "x"), std::chrono::hours(1));
  EXPECT_EQ(parse_duration("0.5", "x"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration(" 250ms ", "x"), std::chrono::milliseconds(250));
  EXPECT_THROW(parse_duration("", "x"), InvalidArgument);
  EXPECT_THROW(parse_duration("-1s", "x"), InvalidArgument);
  EXPECT_THROW(parse_duration("3 weeks", "x"), InvalidArgument);
  // Found by fuzz.config: these used to wrap to a negative duration.
  for (const char* huge : {"inf", "nan", "1e300", "9223372036854776s", "100000000h"}) {
    EXPECT_THROW(parse_duration(huge, "x"), InvalidArgument) << huge;
  }
  EXPECT_EQ(parse_duration("87600h", "x"), std::chrono::hours(87600));  // ten years still fit
}

// docs/configuration.md lists exactly the tunables of config.cc, with their defaults.
TEST(Config, DocumentationListsEveryTunable) {
  std::ifstream in(BATON_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(in) << "cannot open docs/configuration.md";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  size_t documented = 0;
  for (size_t pos = doc.find("| `BATON_"); pos != std::string::npos;
       pos = doc.find("| `BATON_", pos + 1)) {
    ++documented;
  }
  EXPECT_EQ(documented, tunables().size())
      << "rows in docs/configuration.md vs tunables in config.cc";
  for (const Tunable& t : tunables()) {
    const std::string row = "| `" + std::string(t.name) + "` | " +
                            (t.default_value.empty() ? std::string("(none)")
                                                     : "`" + std::string(t.default_value) + "`");
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/configuration.md lacks the row: " << row;
  }
}

}  // namespace
}  // namespace baton::config
