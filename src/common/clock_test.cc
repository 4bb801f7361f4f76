#include "common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tether {
namespace {

using namespace std::chrono_literals;

TEST(FakeClockTest, FiresTimersInDeadlineOrderWithNowAtEachDeadline) {
  FakeClock clock;
  TimePoint start = clock.Now();
  std::vector<std::pair<int, Duration>> fired;
  clock.ScheduleAfter(30s, [&] { fired.emplace_back(2, clock.Now() - start); });
  clock.ScheduleAfter(10s, [&] { fired.emplace_back(1, clock.Now() - start); });
  clock.ScheduleAfter(90s, [&] { fired.emplace_back(3, clock.Now() - start); });
  clock.Advance(60s);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair(1, Duration(10s)));
  EXPECT_EQ(fired[1], std::make_pair(2, Duration(30s)));
  EXPECT_EQ(clock.Now() - start, Duration(60s));
  EXPECT_EQ(clock.PendingTimers(), 1u);
}

TEST(FakeClockTest, CancelledTimerNeverFires) {
  FakeClock clock;
  bool fired = false;
  auto id = clock.ScheduleAfter(5s, [&] { fired = true; });
  clock.Cancel(id);
  clock.Advance(10s);
  EXPECT_FALSE(fired);
}

TEST(FakeClockTest, TimerScheduledFromCallbackAtPastDeadlineRunsImmediately) {
  FakeClock clock;
  int count = 0;
  clock.ScheduleAfter(1s, [&] {
    ++count;
    clock.ScheduleAt(clock.Now(), [&] { ++count; });
  });
  clock.Advance(2s);
  EXPECT_EQ(count, 2);
}

TEST(FakeClockTest, SleeperWakesWhenTimeReachesDeadline) {
  FakeClock clock;
  std::atomic<bool> woke{false};
  std::jthread t([&](const std::stop_token& st) {
    EXPECT_TRUE(clock.SleepFor(5s, st));
    woke = true;
  });
  while (clock.Sleepers() == 0) std::this_thread::yield();
  clock.Advance(4s);
  EXPECT_FALSE(woke);
  clock.Advance(1s);
  t.join();
  EXPECT_TRUE(woke);
}

TEST(FakeClockTest, SleeperStopsWhenStopRequested) {
  FakeClock clock;
  std::jthread t([&](const std::stop_token& st) { EXPECT_FALSE(clock.SleepFor(1h, st)); });
  while (clock.Sleepers() == 0) std::this_thread::yield();
  t.request_stop();
  t.join();
}

TEST(RealClockTest, RunsScheduledCallback) {
  RealClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool fired = false;
  clock.ScheduleAfter(1ms, [&] {
    std::lock_guard l(mu);
    fired = true;
    cv.notify_all();
  });
  std::unique_lock l(mu);
  EXPECT_TRUE(cv.wait_for(l, 10s, [&] { return fired; }));
}

TEST(TimeFormatTest, Rfc3339RoundTrip) {
  TimePoint t;
  ASSERT_TRUE(ParseRfc3339("2026-06-15T03:00:00Z", &t));
  EXPECT_EQ(t, FakeClock::DefaultStart());
  EXPECT_EQ(FormatRfc3339(t), "2026-06-15T03:00:00Z");
  ASSERT_TRUE(ParseRfc3339("2026-06-15T05:00:00.5+02:00", &t));
  EXPECT_EQ(t, FakeClock::DefaultStart() + 500ms);
  EXPECT_FALSE(ParseRfc3339("2026-06-15 03:00:00", &t));
  EXPECT_FALSE(ParseRfc3339("2026-13-15T03:00:00Z", &t));
  EXPECT_FALSE(ParseRfc3339("2026-06-15T03:00:00", &t));
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59Z", &t));  // beyond int64 nanoseconds
  EXPECT_FALSE(ParseRfc3339("0001-01-01T00:00:00Z", &t));
}

TEST(TimeFormatTest, GoDurations) {
  Duration d;
  ASSERT_TRUE(ParseDuration("30s", &d));
  EXPECT_EQ(d, Duration(30s));
  ASSERT_TRUE(ParseDuration("1h30m", &d));
  EXPECT_EQ(d, Duration(90min));
  ASSERT_TRUE(ParseDuration("1.5s", &d));
  EXPECT_EQ(d, Duration(1500ms));
  ASSERT_TRUE(ParseDuration("100ms", &d));
  EXPECT_EQ(d, Duration(100ms));
  EXPECT_FALSE(ParseDuration("", &d));
  EXPECT_FALSE(ParseDuration("10", &d));
  EXPECT_FALSE(ParseDuration("5 s", &d));
  EXPECT_FALSE(ParseDuration("1x", &d));
  EXPECT_EQ(FormatDuration(90min), "1h30m0s");
  EXPECT_EQ(FormatDuration(1500ms), "1.5s");
  EXPECT_EQ(FormatDuration(250ms), "250ms");
}

}  // namespace
}  // namespace tether
