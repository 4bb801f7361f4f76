#include "kube/workqueue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace tether::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

class WorkQueueTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  metrics::Registry registry_;
};

// WorkQueue is not movable; tests build it in place through this helper struct.
struct Q {
  Q(Clock& c, metrics::Registry& r, WorkQueueOptions o = {})
      : q(c, [&] {
          o.name = "test";
          o.registry = &r;
          return o;
        }()) {}
  WorkQueue q;
};

TEST_F(WorkQueueTest, DuplicateAddsAreProcessedOnce) {
  Q w(clock_, registry_);
  w.q.Add("ns/a");
  w.q.Add("ns/b");
  w.q.Add("ns/a");
  EXPECT_EQ(w.q.Len(), 2u);
  EXPECT_EQ(w.q.TryGet(), "ns/a");
  EXPECT_EQ(w.q.TryGet(), "ns/b");
  EXPECT_EQ(w.q.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, ReAddWhileProcessingIsDeferredUntilDone) {
  Q w(clock_, registry_);
  w.q.Add("k");
  ASSERT_EQ(w.q.TryGet(), "k");
  w.q.Add("k");
  w.q.Add("k");
  EXPECT_EQ(w.q.TryGet(), std::nullopt) << "must not hand an item to two workers";
  w.q.Done("k");
  EXPECT_EQ(w.q.TryGet(), "k") << "re-added item processed again after Done";
  w.q.Done("k");
  EXPECT_EQ(w.q.TryGet(), std::nullopt) << "and only once";
}

TEST_F(WorkQueueTest, DelayedAddFiresAtDeadlineAndEarliestWins) {
  Q w(clock_, registry_);
  w.q.AddAfter("k", seconds(10));
  w.q.AddAfter("k", seconds(3));
  w.q.AddAfter("k", seconds(20));
  EXPECT_EQ(w.q.NumWaiting(), 1u);
  clock_.Advance(seconds(2));
  EXPECT_EQ(w.q.TryGet(), std::nullopt);
  clock_.Advance(seconds(1));
  ASSERT_EQ(w.q.TryGet(), "k");
  w.q.Done("k");
  clock_.Advance(seconds(30));
  EXPECT_EQ(w.q.TryGet(), std::nullopt) << "superseded deadlines must not fire";
  EXPECT_EQ(w.q.NumWaiting(), 0u);
}

TEST_F(WorkQueueTest, AddAtInThePastAddsNow) {
  Q w(clock_, registry_);
  w.q.AddAt("k", clock_.Now() - seconds(1));
  EXPECT_EQ(w.q.TryGet(), "k");
}

TEST_F(WorkQueueTest, DelayedAddOfQueuedItemIsDeduplicated) {
  Q w(clock_, registry_);
  w.q.Add("k");
  w.q.AddAfter("k", seconds(1));
  clock_.Advance(seconds(1));
  EXPECT_EQ(w.q.Len(), 1u);
}

TEST_F(WorkQueueTest, RateLimitedRequeueBacksOffExponentiallyAndForgetResets) {
  Q w(clock_, registry_, {.base_delay = milliseconds(100), .max_delay = seconds(1)});
  auto requeue_delay = [&] {
    w.q.AddRateLimited("k");
    TimePoint start = clock_.Now();
    Duration waited{};
    while (!w.q.TryGet()) {
      TimePoint next = clock_.NextDeadline();
      if (next == TimePoint::max()) return Duration::max();
      clock_.Set(next);
      waited = clock_.Now() - start;
    }
    w.q.Done("k");
    return waited;
  };
  EXPECT_EQ(requeue_delay(), milliseconds(100));
  EXPECT_EQ(requeue_delay(), milliseconds(200));
  EXPECT_EQ(requeue_delay(), milliseconds(400));
  EXPECT_EQ(requeue_delay(), milliseconds(800));
  EXPECT_EQ(requeue_delay(), seconds(1));
  EXPECT_EQ(w.q.NumRequeues("k"), 5);
  w.q.Forget("k");
  EXPECT_EQ(w.q.NumRequeues("k"), 0);
  EXPECT_EQ(requeue_delay(), milliseconds(100));
}

TEST_F(WorkQueueTest, OverallTokenBucketLimitsBurstOfFailures) {
  Q w(clock_, registry_, {.base_delay = Duration::zero(), .qps = 1, .burst = 2});
  w.q.AddRateLimited("a");
  w.q.AddRateLimited("b");
  w.q.AddRateLimited("c");  // third token is one second away
  EXPECT_EQ(w.q.Len(), 2u);
  EXPECT_EQ(w.q.NumWaiting(), 1u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(w.q.Len(), 3u);
}

TEST_F(WorkQueueTest, ShutDownWakesBlockedWorkersAndCancelsTimers) {
  Q w(clock_, registry_);
  w.q.AddAfter("later", seconds(5));
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = w.q.Get(); });
  w.q.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_EQ(clock_.PendingTimers(), 0u);
  w.q.Add("x");
  EXPECT_EQ(w.q.TryGet(), std::nullopt);
  EXPECT_TRUE(w.q.ShuttingDown());
}

TEST_F(WorkQueueTest, BlockingGetReceivesItemFromAnotherThread) {
  Q w(clock_, registry_);
  std::optional<std::string> got;
  std::thread worker([&] { got = w.q.Get(); });
  w.q.Add("k");
  worker.join();
  EXPECT_EQ(got, "k");
}

TEST_F(WorkQueueTest, TimerFiringAfterQueueDestroyedIsHarmless) {
  {
    Q w(clock_, registry_);
    w.q.AddAfter("k", seconds(1));
  }
  clock_.Advance(seconds(2));  // must not touch freed memory (ASan)
  SUCCEED();
}

TEST_F(WorkQueueTest, ExportsMetrics) {
  Q w(clock_, registry_);
  w.q.Add("a");
  w.q.Add("a");
  w.q.Add("b");
  w.q.AddRateLimited("c");
  std::string text = registry_.Serialize();
  EXPECT_THAT(text, HasSubstr("tether_workqueue_depth{name=\"test\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tether_workqueue_adds_total{name=\"test\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tether_workqueue_retries_total{name=\"test\"} 1\n"));
  ASSERT_EQ(w.q.TryGet(), "a");
  clock_.Advance(seconds(2));
  w.q.Done("a");
  text = registry_.Serialize();
  EXPECT_THAT(text, HasSubstr("tether_workqueue_work_duration_seconds_count{name=\"test\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_workqueue_work_duration_seconds_sum{name=\"test\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tether_workqueue_queue_duration_seconds_count{name=\"test\"} 1\n"));
}

}  // namespace
}  // namespace tether::kube
