#include "kube/event_recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::kube {
namespace {

using ::testing::HasSubstr;

struct FakeEvents {
  std::mutex mu;
  std::map<std::string, Json> events;  // by ns/name
  int creates = 0, patches = 0;
  bool fail = false;
  std::mutex* gate = nullptr;  // held by the test to block the writer
};

class FakeSink final : public EventSink {
 public:
  explicit FakeSink(std::shared_ptr<FakeEvents> s) : s_(std::move(s)) {}
  Result<Json> Create(const std::string& ns, const Json& event) override {
    if (s_->gate) std::lock_guard g(*s_->gate);
    std::lock_guard lock(s_->mu);
    if (s_->fail) return Fail(ErrorCode::kForbidden, "events is forbidden");
    ++s_->creates;
    std::string key = ns + "/" + event["metadata"]["name"].get<std::string>();
    if (s_->events.contains(key)) return Fail(ErrorCode::kAlreadyExists, "exists");
    s_->events[key] = event;
    return event;
  }
  Result<Json> Patch(const std::string& ns, const std::string& name, const Json& patch) override {
    std::lock_guard lock(s_->mu);
    ++s_->patches;
    auto it = s_->events.find(ns + "/" + name);
    if (it == s_->events.end()) return Fail(ErrorCode::kNotFound, "not found");
    it->second.merge_patch(patch);
    return it->second;
  }

 private:
  std::shared_ptr<FakeEvents> s_;
};

ObjectReference Dep(const std::string& name) {
  return ObjectReference::From({{"apiVersion", "tether.dev/v1alpha1"},
                                {"kind", "WorkloadDependency"},
                                {"metadata",
                                 {{"namespace", "shop"},
                                  {"name", name},
                                  {"uid", "uid-" + name},
                                  {"resourceVersion", "12"}}}});
}

class EventRecorderTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventRecorder> Make(EventRecorderOptions o = {}) {
    o.registry = &registry_;
    o.host = "tether-7d9f";
    auto r = std::make_unique<EventRecorder>(std::make_unique<FakeSink>(store_), clock_, o);
    r->Start();
    return r;
  }
  FakeClock clock_;
  metrics::Registry registry_;
  std::shared_ptr<FakeEvents> store_ = std::make_shared<FakeEvents>();
};

TEST_F(EventRecorderTest, CreatesCoreV1EventWithReferenceSourceAndTimestamps) {
  auto rec = Make();
  rec->Record(Dep("db"), EventType::kWarning, "DependencyUnhealthy", "postgres: 0/3 ready");
  ASSERT_TRUE(rec->Flush());
  ASSERT_EQ(store_->events.size(), 1u);
  const Json& e = store_->events.begin()->second;
  EXPECT_EQ(e["apiVersion"], "v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["metadata"]["namespace"], "shop");
  EXPECT_THAT(e["metadata"]["name"].get<std::string>(), HasSubstr("db."));
  EXPECT_EQ(e["involvedObject"]["kind"], "WorkloadDependency");
  EXPECT_EQ(e["involvedObject"]["uid"], "uid-db");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "tether.dev/v1alpha1");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "DependencyUnhealthy");
  EXPECT_EQ(e["message"], "postgres: 0/3 ready");
  EXPECT_EQ(e["source"]["component"], "tether");
  EXPECT_EQ(e["source"]["host"], "tether-7d9f");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["firstTimestamp"], "2026-06-15T03:00:00Z");
  EXPECT_EQ(e["lastTimestamp"], "2026-06-15T03:00:00Z");
}

TEST_F(EventRecorderTest, RepeatsAreAggregatedIntoOneEvent) {
  auto rec = Make();
  for (int i = 0; i < 5; ++i) {
    rec->Record(Dep("db"), EventType::kWarning, "DependencyUnhealthy", "down");
    clock_.Advance(std::chrono::seconds(10));
    ASSERT_TRUE(rec->Flush());
  }
  rec->Record(Dep("db"), EventType::kWarning, "DependencyUnhealthy", "other message");
  rec->Record(Dep("cache"), EventType::kWarning, "DependencyUnhealthy", "down");
  rec->Record(Dep("db"), EventType::kNormal, "DependencyUnhealthy", "down");
  ASSERT_TRUE(rec->Flush());
  EXPECT_EQ(store_->creates, 4);
  EXPECT_EQ(store_->patches, 4);
  int aggregated = 0;
  for (auto& [k, e] : store_->events) {
    if (e["count"] == 5) {
      ++aggregated;
      EXPECT_EQ(e["firstTimestamp"], "2026-06-15T03:00:00Z");
      EXPECT_EQ(e["lastTimestamp"], "2026-06-15T03:00:40Z");
    }
  }
  EXPECT_EQ(aggregated, 1);
}

TEST_F(EventRecorderTest, DistinctEventsAtTheSameInstantAreAllCreated) {
  auto rec = Make();
  rec->Record(Dep("db"), EventType::kNormal, "GateRemoved", "gate a removed");
  rec->Record(Dep("db"), EventType::kNormal, "GateRemoved", "gate b removed");
  rec->Record(Dep("db"), EventType::kWarning, "GateInvalid", "gate c: bad JSON");
  ASSERT_TRUE(rec->Flush());
  EXPECT_EQ(store_->events.size(), 3u);  // none lost to an AlreadyExists name collision
}

TEST_F(EventRecorderTest, AggregatedEventGoneStartsANewOne) {
  auto rec = Make();
  rec->Record(Dep("db"), EventType::kNormal, "Suspended", "scaled to 0");
  ASSERT_TRUE(rec->Flush());
  store_->events.clear();  // TTL expired
  clock_.Advance(std::chrono::hours(2));
  rec->Record(Dep("db"), EventType::kNormal, "Suspended", "scaled to 0");
  ASSERT_TRUE(rec->Flush());
  ASSERT_EQ(store_->events.size(), 1u);
  EXPECT_EQ(store_->events.begin()->second["count"], 1);
}

TEST_F(EventRecorderTest, BoundedQueueDropsInsteadOfBlocking) {
  std::mutex gate;
  store_->gate = &gate;
  gate.lock();  // the writer blocks on its first Create
  auto rec = Make({.queue_capacity = 3});
  for (int i = 0; i < 20; ++i) {
    rec->Record(Dep("d" + std::to_string(i)), EventType::kNormal, "R", "m");
  }
  gate.unlock();
  ASSERT_TRUE(rec->Flush());
  EXPECT_GE(store_->creates, 3);
  EXPECT_LE(store_->creates, 4);  // capacity plus at most the one already taken
  EXPECT_THAT(registry_.Serialize(), HasSubstr("tether_events_dropped_total"));
  store_->gate = nullptr;
}

TEST_F(EventRecorderTest, FailuresAreCountedAndDoNotStopTheRecorder) {
  auto rec = Make();
  store_->fail = true;
  rec->Record(Dep("db"), EventType::kNormal, "R", "m");
  ASSERT_TRUE(rec->Flush());
  store_->fail = false;
  rec->Record(Dep("db"), EventType::kNormal, "R", "m");
  ASSERT_TRUE(rec->Flush());
  EXPECT_EQ(store_->events.size(), 1u);
  EXPECT_THAT(registry_.Serialize(), HasSubstr("tether_events_failed_total 1\n"));
}

TEST_F(EventRecorderTest, LongMessagesAreTruncatedAndStopFlushes) {
  auto rec = Make();
  rec->Record(Dep("db"), EventType::kNormal, "R", std::string(5000, 'x'));
  rec->Stop();
  ASSERT_EQ(store_->events.size(), 1u);
  EXPECT_EQ(store_->events.begin()->second["message"].get<std::string>().size(), 1024u);
  EXPECT_FALSE(rec->Flush());
}

}  // namespace
}  // namespace tether::kube
