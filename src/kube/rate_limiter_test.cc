#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace tether::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(TokenBucketTest, BurstIsFreeThenPacedAtQps) {
  FakeClock clock;
  TokenBucket b(10, 3, clock.Now());
  const TimePoint t0 = clock.Now();
  EXPECT_EQ(b.Reserve(t0), t0);
  EXPECT_EQ(b.Reserve(t0), t0);
  EXPECT_EQ(b.Reserve(t0), t0);
  // Burst spent: the 4th request waits 100ms, the 5th 200ms (first come, first served).
  EXPECT_EQ(b.Reserve(t0), t0 + milliseconds(100));
  EXPECT_EQ(b.Reserve(t0), t0 + milliseconds(200));
}

TEST(TokenBucketTest, RefillsOverTimeUpToBurst) {
  FakeClock clock;
  const TimePoint t0 = clock.Now();
  TokenBucket b(2, 4, t0);
  for (int i = 0; i < 4; ++i) b.Reserve(t0);
  EXPECT_NEAR(b.Tokens(t0), 0, 1e-9);
  EXPECT_NEAR(b.Tokens(t0 + seconds(1)), 2, 1e-9);
  EXPECT_NEAR(b.Tokens(t0 + seconds(100)), 4, 1e-9);  // capped at burst
  EXPECT_EQ(b.Reserve(t0 + seconds(1)), t0 + seconds(1));
}

TEST(TokenBucketTest, ZeroQpsMeansUnlimited) {
  FakeClock clock;
  const TimePoint t0 = clock.Now();
  TokenBucket b(0, 1, t0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b.Reserve(t0), t0);
}

TEST(RateLimiterTest, ReserveReportsTheWait) {
  FakeClock clock;
  RateLimiter l(5, 1, clock);
  EXPECT_EQ(l.Reserve(), Duration::zero());
  EXPECT_EQ(l.Reserve(), milliseconds(200));
  clock.Advance(seconds(10));
  EXPECT_EQ(l.Reserve(), Duration::zero());
}

TEST(RateLimiterTest, AcquireBlocksOnTheClockUntilATokenIsDue) {
  FakeClock clock;
  RateLimiter l(1, 1, clock);
  l.Acquire();  // the burst token: no wait
  std::atomic<bool> done{false};
  std::thread t([&] {
    l.Acquire();
    done = true;
  });
  // Wait (with a generous deadline) until the thread sleeps on the fake clock.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (clock.Sleepers() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(clock.Sleepers(), 1);
  EXPECT_FALSE(done.load());
  clock.Advance(seconds(1));
  t.join();
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace tether::kube
