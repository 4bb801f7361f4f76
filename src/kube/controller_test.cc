#include "kube/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace tether::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// Waits (without sleeping) until pred() holds, or gives up after a generous real deadline.
template <typename Pred>
bool WaitFor(std::mutex& mu, std::condition_variable& cv, Pred pred) {
  std::unique_lock lock(mu);
  return cv.wait_for(lock, std::chrono::seconds(30), pred);
}

TEST(ControllerTest, SuccessForgetsErrorRequeuesWithBackoffRequeueAfterWaits) {
  FakeClock clock;
  metrics::Registry registry;
  int calls = 0;
  std::vector<Result<ReconcileResult>> answers = {
      Fail(ErrorCode::kUnavailable, "api down"), Fail(ErrorCode::kUnavailable, "api down"),
      ReconcileResult::RequeueAfter(seconds(30)), ReconcileResult::Done()};
  Controller c(clock,
               {.name = "deps",
                .queue = {.base_delay = milliseconds(100), .max_delay = seconds(10)},
                .registry = &registry},
               [&](const std::string& key) -> Result<ReconcileResult> {
                 EXPECT_EQ(key, "ns/a");
                 return answers[calls++];
               });
  c.Enqueue("ns/a");
  ASSERT_TRUE(c.ProcessNextReady());  // error #1 -> retry in 100ms
  EXPECT_FALSE(c.ProcessNextReady());
  clock.Advance(milliseconds(99));
  EXPECT_FALSE(c.ProcessNextReady());
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(c.ProcessNextReady());  // error #2 -> retry in 200ms
  clock.Advance(milliseconds(200));
  ASSERT_TRUE(c.ProcessNextReady());  // requeue after 30s, failures forgotten
  EXPECT_EQ(c.queue().NumRequeues("ns/a"), 0);
  clock.Advance(seconds(29));
  EXPECT_FALSE(c.ProcessNextReady());
  clock.Advance(seconds(1));
  ASSERT_TRUE(c.ProcessNextReady());  // done
  clock.Advance(seconds(3600));
  EXPECT_FALSE(c.ProcessNextReady());
  EXPECT_EQ(calls, 4);

  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("tether_reconcile_total{controller=\"deps\",result=\"error\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_reconcile_total{controller=\"deps\",result=\"success\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("tether_reconcile_total{controller=\"deps\",result=\"requeue_after\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_reconcile_duration_seconds_count{controller=\"deps\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("tether_workqueue_retries_total{name=\"deps\"} 2\n"));
}

TEST(ControllerTest, ThrowingReconcilerIsTreatedAsError) {
  FakeClock clock;
  metrics::Registry registry;
  Controller c(
      clock, {.name = "t", .registry = &registry},
      [&](const std::string&) -> Result<ReconcileResult> { throw std::runtime_error("boom"); });
  c.Enqueue("k");
  ASSERT_TRUE(c.ProcessNextReady());
  EXPECT_EQ(c.queue().NumRequeues("k"), 1);
}

TEST(ControllerTest, RetryAfterFromServerIsHonoured) {
  FakeClock clock;
  metrics::Registry registry;
  bool first = true;
  Controller c(clock, {.name = "t", .registry = &registry},
               [&](const std::string&) -> Result<ReconcileResult> {
                 if (!first) return ReconcileResult::Done();
                 first = false;
                 Error e(ErrorCode::kUnavailable, "429");
                 e.retry_after = seconds(7);
                 return Fail(e);
               });
  c.Enqueue("k");
  ASSERT_TRUE(c.ProcessNextReady());
  clock.Advance(seconds(6));
  EXPECT_FALSE(c.ProcessNextReady());
  clock.Advance(seconds(1));
  EXPECT_TRUE(c.ProcessNextReady());
}

TEST(ControllerTest, WorkersProcessEveryKeyAndNeverTheSameKeyConcurrently) {
  FakeClock clock;
  metrics::Registry registry;
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> in_flight;
  std::map<std::string, int> done;
  bool overlap = false;
  Controller c(clock, {.name = "w", .workers = 4, .registry = &registry},
               [&](const std::string& key) -> Result<ReconcileResult> {
                 {
                   std::lock_guard lock(mu);
                   if (!in_flight.insert(key).second) overlap = true;
                 }
                 std::this_thread::yield();
                 std::lock_guard lock(mu);
                 in_flight.erase(key);
                 ++done[key];
                 cv.notify_all();
                 return ReconcileResult::Done();
               });
  c.Start();
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 10; ++i) c.Enqueue("k" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor(mu, cv, [&] {
    if (done.size() < 10) return false;
    for (auto& [k, n] : done) {
      if (n < 1) return false;
    }
    return true;
  }));
  c.Stop();
  EXPECT_FALSE(overlap);
  EXPECT_FALSE(c.Running());
}

TEST(ControllerTest, StopWithIdleWorkersReturns) {
  FakeClock clock;
  metrics::Registry registry;
  Controller c(
      clock, {.name = "idle", .workers = 3, .registry = &registry},
      [](const std::string&) -> Result<ReconcileResult> { return ReconcileResult::Done(); });
  c.Start();
  EXPECT_TRUE(c.Running());
  c.Stop();
  c.Start();  // a stopped controller stays stopped
  EXPECT_FALSE(c.Running());
}

// One object, then a watch that stays open until stopped.
class StaticListerWatcher final : public ListerWatcher {
 public:
  Result<ListResult> List(const ListOptions&) override {
    ListResult r;
    r.items.push_back(
        {{"metadata", {{"namespace", "ns"}, {"name", "a"}, {"resourceVersion", "5"}}}});
    r.resource_version = "5";
    return r;
  }
  Result<void> Watch(const WatchOptions&, const std::function<bool(WatchEvent&&)>&,
                     const std::stop_token& stop) override {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait(lock, stop, [] { return false; });
    return Fail(ErrorCode::kCancelled, "stopped");
  }
};

TEST(ManagerTest, WithoutElectionSyncsThenRunsControllersUntilStopped) {
  FakeClock clock;
  metrics::Registry registry;
  auto factory = std::make_unique<InformerFactory>(
      [](const InformerOptions&) { return std::make_unique<StaticListerWatcher>(); }, clock,
      &registry);
  Manager m(clock, std::move(factory), nullptr, {.registry = &registry});
  auto inf = m.informers().Get({.resource = resources::Pods()});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> keys;
  Controller& c =
      m.AddController({.name = "pods"}, [&](const std::string& key) -> Result<ReconcileResult> {
        std::lock_guard lock(mu);
        keys.push_back(key);
        cv.notify_all();
        return ReconcileResult::Done();
      });
  inf->AddEventHandler({.on_add = [&c](const ObjectPtr& o) { c.Enqueue(ObjectKey(*o)); }});
  EXPECT_FALSE(m.Ready());
  std::jthread run([&](const std::stop_token& stop) { EXPECT_TRUE(m.Run(stop)); });
  ASSERT_TRUE(WaitFor(mu, cv, [&] { return !keys.empty(); }));
  EXPECT_EQ(keys[0], "ns/a");
  EXPECT_TRUE(m.Ready());
  EXPECT_TRUE(m.IsLeader());
  EXPECT_TRUE(m.Healthy());
  run.request_stop();
  run.join();
  EXPECT_FALSE(m.ControllersRunning());
}

TEST(ManagerTest, InvalidElectionConfigFailsRunAndHealth) {
  FakeClock clock;
  metrics::Registry registry;
  auto factory = std::make_unique<InformerFactory>(
      [](const InformerOptions&) { return std::make_unique<StaticListerWatcher>(); }, clock,
      &registry);
  Manager m(clock, std::move(factory), nullptr, {.leader_election = true, .registry = &registry});
  auto r = m.Run(std::stop_token());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_FALSE(m.Healthy());
  EXPECT_FALSE(m.Ready());
}

}  // namespace
}  // namespace tether::kube
