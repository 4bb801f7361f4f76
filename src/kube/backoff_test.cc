#include "kube/backoff.h"

#include <gtest/gtest.h>

namespace tether::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BackoffTest, DoublesUntilCapped) {
  BackoffPolicy p{.initial = milliseconds(100), .max = seconds(1), .multiplier = 2, .jitter = 0};
  Backoff b(p, 1);
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(400));
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), seconds(1));
  EXPECT_EQ(b.Next(), seconds(1));
  EXPECT_EQ(b.attempts(), 6);
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff b({.initial = milliseconds(10), .max = seconds(5), .jitter = 0}, 1);
  b.Next();
  b.Next();
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(10));
}

TEST(BackoffTest, JitterStaysWithinBoundsAndNeverExceedsCap) {
  BackoffPolicy p{.initial = milliseconds(100), .max = seconds(3), .jitter = 0.5};
  Backoff b(p, 42);
  bool saw_reduced = false;
  for (int i = 0; i < 200; ++i) {
    Duration base = ExponentialDelay(p, i);
    Duration d = b.Next();
    EXPECT_LE(d, base);
    EXPECT_LE(d, seconds(3));
    EXPECT_GE(d, base / 2);
    if (d < base) saw_reduced = true;
  }
  EXPECT_TRUE(saw_reduced);
}

TEST(BackoffTest, SameSeedSameSequence) {
  BackoffPolicy p{.initial = milliseconds(100), .max = seconds(30), .jitter = 0.3};
  Backoff a(p, 7), b(p, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(BackoffTest, HugeAttemptCountsSaturate) {
  BackoffPolicy p{.initial = milliseconds(5), .max = seconds(1000)};
  EXPECT_EQ(ExponentialDelay(p, 10000), seconds(1000));
  EXPECT_EQ(ExponentialDelay(p, 0), milliseconds(5));
}

}  // namespace
}  // namespace tether::kube
