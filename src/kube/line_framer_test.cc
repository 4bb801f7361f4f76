#include "kube/line_framer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tether::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Collector {
  std::vector<std::string> lines;
  LineFramer::LineHandler Handler() {
    return [this](std::string_view l) {
      lines.emplace_back(l);
      return true;
    };
  }
};

TEST(LineFramerTest, SplitsManyLinesInOneChunk) {
  LineFramer f;
  Collector c;
  auto r = f.Feed("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", c.Handler());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(*r);
  EXPECT_THAT(c.lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"));
  EXPECT_EQ(f.pending_bytes(), 0u);
}

TEST(LineFramerTest, JoinsALineSplitAcrossChunks) {
  LineFramer f;
  Collector c;
  ASSERT_TRUE(f.Feed("{\"type\":\"ADD", c.Handler()));
  EXPECT_THAT(c.lines, IsEmpty());
  EXPECT_EQ(f.pending_bytes(), 12u);
  ASSERT_TRUE(f.Feed("ED\"}", c.Handler()));
  ASSERT_TRUE(f.Feed("\n{\"x\"", c.Handler()));
  EXPECT_THAT(c.lines, ElementsAre("{\"type\":\"ADDED\"}"));
  EXPECT_EQ(f.pending_bytes(), 4u);
}

TEST(LineFramerTest, ByteAtATimeGivesTheSameLines) {
  const std::string stream = "one\r\ntwo\n\nthree\n";
  LineFramer f;
  Collector c;
  for (char ch : stream) ASSERT_TRUE(f.Feed(std::string_view(&ch, 1), c.Handler()));
  EXPECT_THAT(c.lines, ElementsAre("one", "two", "", "three"));
}

TEST(LineFramerTest, LineOverTheCapFailsWithTooLarge) {
  LineFramer f(8);
  Collector c;
  ASSERT_TRUE(f.Feed("12345678\n", c.Handler()));  // exactly the cap is fine
  auto r = f.Feed("123456789\n", c.Handler());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("8 byte limit"));
  // Poisoned: later input is refused too.
  EXPECT_FALSE(f.Feed("ok\n", c.Handler()).has_value());
  EXPECT_THAT(c.lines, ElementsAre("12345678"));
}

TEST(LineFramerTest, UnterminatedLineOverTheCapFailsBeforeItsNewline) {
  LineFramer f(10);
  Collector c;
  ASSERT_TRUE(f.Feed("123456", c.Handler()));
  auto r = f.Feed("789012", c.Handler());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(f.pending_bytes(), 0u);  // the buffer is released
}

TEST(LineFramerTest, HandlerCanStopFraming) {
  LineFramer f;
  std::vector<std::string> seen;
  auto r = f.Feed("a\nb\nc\n", [&](std::string_view l) {
    seen.emplace_back(l);
    return l != "b";
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r);
  EXPECT_THAT(seen, ElementsAre("a", "b"));
  auto again = f.Feed("d\n", [&](std::string_view l) {
    seen.emplace_back(l);
    return true;
  });
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_THAT(seen, ElementsAre("a", "b"));
}

}  // namespace
}  // namespace tether::kube
