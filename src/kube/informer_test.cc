#include "kube/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <thread>

namespace tether::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Spins (yielding, no sleeps) until pred() holds or a generous real-time deadline passes.
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

Json ConfigMap(const std::string& ns, const std::string& name, const std::string& value = "v") {
  return {{"metadata",
           {{"namespace", ns},
            {"name", name},
            {"managedFields", Json::array({{{"manager", "kubectl"}}})}}},
          {"data", {{"k", value}}}};
}

// A model of the API server's list/watch for one collection: a numbered history of changes,
// watches that replay from any resourceVersion still in the window, compaction (410), dropped
// streams and failures on demand.
class FakeListerWatcher final : public ListerWatcher {
 public:
  struct Shared {
    std::mutex mu;
    std::condition_variable_any cv;
    std::map<std::string, Json> objects;
    struct Change {
      std::int64_t rv;
      WatchEvent::Type type;
      Json object;
    };
    std::vector<Change> history;
    std::int64_t rv = 100;
    std::int64_t compacted = 0;
    int drop_generation = 0;
    int list_failures = 0;
    int watch_failures = 0;  // the next watches fail at once (transport error)
    int lists = 0;
    std::vector<std::string> watch_from;
    bool send_expired_event = true;  // 410 as an ERROR event (else as an HTTP error)
    int active_watches = 0;

    void Record(WatchEvent::Type type, Json obj) {
      obj["metadata"]["resourceVersion"] = std::to_string(++rv);
      std::string key = ObjectKey(obj);
      if (type == WatchEvent::Type::kDeleted) {
        objects.erase(key);
      } else {
        objects[key] = obj;
      }
      history.push_back({rv, type, std::move(obj)});
      cv.notify_all();
    }
    void Put(Json obj) {
      std::lock_guard lock(mu);
      bool exists = objects.contains(ObjectKey(obj));
      Record(exists ? WatchEvent::Type::kModified : WatchEvent::Type::kAdded, std::move(obj));
    }
    void Delete(const std::string& key) {
      std::lock_guard lock(mu);
      Json obj = objects.at(key);
      Record(WatchEvent::Type::kDeleted, std::move(obj));
    }
    void DropWatches() {
      std::lock_guard lock(mu);
      ++drop_generation;
      cv.notify_all();
    }
    void Compact() {
      std::lock_guard lock(mu);
      compacted = rv;
    }
  };

  explicit FakeListerWatcher(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  Result<ListResult> List(const ListOptions& opts) override {
    std::lock_guard lock(s_->mu);
    ++s_->lists;
    if (s_->list_failures > 0) {
      --s_->list_failures;
      return Fail(ErrorCode::kUnavailable, "connection refused");
    }
    ListResult r;
    for (auto& [k, v] : s_->objects) r.items.push_back(v);
    r.resource_version = std::to_string(s_->rv);
    return r;
  }

  Result<void> Watch(const WatchOptions& opts, const std::function<bool(WatchEvent&&)>& handler,
                     const std::stop_token& stop) override {
    std::unique_lock lock(s_->mu);
    s_->watch_from.push_back(opts.resource_version);
    if (s_->watch_failures > 0) {
      --s_->watch_failures;
      return Fail(ErrorCode::kUnavailable, "watch refused");
    }
    std::int64_t from = std::stoll(opts.resource_version);
    if (from < s_->compacted) {
      if (!s_->send_expired_event) {
        Error e(ErrorCode::kGone, "too old resource version");
        e.http_status = 410;
        return Fail(e);
      }
      lock.unlock();
      handler({WatchEvent::Type::kError,
               {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}, {"message", "too old"}}});
      return {};
    }
    ++s_->active_watches;
    int gen = s_->drop_generation;
    std::size_t pos = 0;
    while (pos < s_->history.size() && s_->history[pos].rv <= from) ++pos;
    while (true) {
      while (pos < s_->history.size() && gen == s_->drop_generation) {
        auto change = s_->history[pos++];
        lock.unlock();
        bool more = handler({change.type, std::move(change.object)});
        lock.lock();
        if (!more) {
          --s_->active_watches;
          return {};
        }
      }
      if (gen != s_->drop_generation) break;
      s_->cv.wait(lock, stop,
                  [&] { return pos < s_->history.size() || gen != s_->drop_generation; });
      if (stop.stop_requested()) {
        --s_->active_watches;
        return Fail(ErrorCode::kCancelled, "stopped");
      }
    }
    --s_->active_watches;
    return {};  // server closed the stream
  }

 private:
  std::shared_ptr<Shared> s_;
};

// Records handler calls as strings: "add ns/a", "update ns/a", "delete ns/a".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  EventHandler Handler() {
    return {
        [this](const ObjectPtr& o) { Push("add " + ObjectKey(*o)); },
        [this](const ObjectPtr&, const ObjectPtr& o) { Push("update " + ObjectKey(*o)); },
        [this](const ObjectPtr& o) { Push("delete " + ObjectKey(*o)); },
    };
  }
  void Push(std::string s) {
    std::lock_guard lock(mu);
    events.push_back(std::move(s));
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu);
    return std::exchange(events, {});
  }
  std::size_t Count() {
    std::lock_guard lock(mu);
    return events.size();
  }
};

class InformerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Informer> Make(InformerOptions o = {}) {
    o.resource = resources::ConfigMaps();
    o.registry = &registry_;
    o.seed = 1;
    return std::make_unique<Informer>(std::make_unique<FakeListerWatcher>(server_), clock_,
                                      std::move(o));
  }
  // Advances the fake clock whenever the informer sleeps, until pred() holds.
  template <typename Pred>
  bool AdvanceUntil(Pred pred) {
    return Eventually([&] {
      if (pred()) return true;
      if (clock_.Sleepers() > 0) clock_.Advance(std::chrono::milliseconds(500));
      return false;
    });
  }
  bool WatchActive() {
    return Eventually([&] {
      std::lock_guard lock(server_->mu);
      return server_->active_watches > 0;
    });
  }
  FakeClock clock_;
  metrics::Registry registry_;
  std::shared_ptr<FakeListerWatcher::Shared> server_ =
      std::make_shared<FakeListerWatcher::Shared>();
};

TEST_F(InformerTest, InitialListSyncsCacheStripsManagedFieldsAndRestoresTypeMeta) {
  server_->Put(ConfigMap("ns", "a"));
  server_->Put(ConfigMap("ns", "b"));
  server_->Put(ConfigMap("other", "c"));
  auto inf = Make();
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  EXPECT_FALSE(inf->HasSynced());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  EXPECT_THAT(rec.Take(), ElementsAre("add ns/a", "add ns/b", "add other/c"));
  ObjectPtr a = inf->Get("ns", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE((*a)["metadata"].contains("managedFields"));
  EXPECT_EQ((*a)["kind"], "ConfigMap");
  EXPECT_EQ((*a)["apiVersion"], "v1");
  EXPECT_EQ(inf->List().size(), 3u);
  EXPECT_EQ(inf->ListNamespace("ns").size(), 2u);
  EXPECT_EQ(inf->Get("ns", "zzz"), nullptr);
  EXPECT_EQ(inf->LastSyncResourceVersion(), "103");
}

TEST_F(InformerTest, WatchEventsUpdateCacheAndHandlersInOrder) {
  auto inf = Make();
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  server_->Put(ConfigMap("ns", "a", "1"));
  server_->Put(ConfigMap("ns", "a", "2"));
  server_->Delete("ns/a");
  server_->Put(ConfigMap("ns", "b"));
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 4; }));
  EXPECT_THAT(rec.Take(), ElementsAre("add ns/a", "update ns/a", "delete ns/a", "add ns/b"));
  EXPECT_EQ(inf->Get("ns", "a"), nullptr);
  EXPECT_NE(inf->Get("ns", "b"), nullptr);
}

TEST_F(InformerTest, DroppedWatchResumesFromLastResourceVersionWithoutLosingEvents) {
  auto inf = Make();
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  server_->Put(ConfigMap("ns", "a"));
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 1; }));
  // Connection drops; changes happen while we are disconnected.
  {
    std::lock_guard lock(server_->mu);
    ++server_->drop_generation;
    server_->Record(WatchEvent::Type::kModified, ConfigMap("ns", "a", "x"));
    server_->Record(WatchEvent::Type::kAdded, ConfigMap("ns", "b"));
    server_->cv.notify_all();
  }
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 3; }));
  EXPECT_THAT(rec.Take(), ElementsAre("add ns/a", "update ns/a", "add ns/b"));
  std::lock_guard lock(server_->mu);
  EXPECT_EQ(server_->lists, 1) << "a dropped watch must resume, not relist";
  ASSERT_GE(server_->watch_from.size(), 2u);
  EXPECT_EQ(server_->watch_from[0], "100");
  EXPECT_EQ(server_->watch_from[1], "101");
  EXPECT_EQ((*inf->Get("ns", "a"))["data"]["k"], "x");
}

TEST_F(InformerTest, ExpiredWatchRelistsAndEmitsSyntheticDeletesAndUpdates) {
  for (bool as_event : {true, false}) {
    SCOPED_TRACE(as_event ? "410 as ERROR event" : "410 as HTTP answer");
    server_ = std::make_shared<FakeListerWatcher::Shared>();
    server_->send_expired_event = as_event;
    server_->Put(ConfigMap("ns", "keep"));
    server_->Put(ConfigMap("ns", "change", "1"));
    server_->Put(ConfigMap("ns", "remove"));
    auto inf = Make();
    Recorder rec;
    inf->AddEventHandler(rec.Handler());
    inf->Start();
    ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
    ASSERT_TRUE(WatchActive());
    rec.Take();
    {
      // While disconnected: a delete, an update and an add, then the history is compacted so
      // resuming is impossible.
      std::lock_guard lock(server_->mu);
      ++server_->drop_generation;
      server_->Record(WatchEvent::Type::kDeleted, server_->objects.at("ns/remove"));
      server_->Record(WatchEvent::Type::kModified, ConfigMap("ns", "change", "2"));
      server_->Record(WatchEvent::Type::kAdded, ConfigMap("ns", "new"));
      server_->compacted = server_->rv;
      server_->cv.notify_all();
    }
    // The stream closed at once without events: the informer backs off (on the fake clock)
    // before resuming, then gets 410 and relists.
    ASSERT_TRUE(AdvanceUntil([&] { return rec.Count() == 3; }));
    EXPECT_THAT(rec.Take(),
                UnorderedElementsAre("delete ns/remove", "update ns/change", "add ns/new"));
    EXPECT_EQ(inf->Get("ns", "remove"), nullptr);
    EXPECT_EQ((*inf->Get("ns", "change"))["data"]["k"], "2");
    inf->Stop();
    EXPECT_THAT(
        registry_.Serialize(),
        HasSubstr("tether_watch_restarts_total{resource=\"configmaps\",reason=\"expired\"}"));
  }
}

TEST_F(InformerTest, ListFailuresRetryWithBackoffOnTheClock) {
  server_->list_failures = 2;
  server_->Put(ConfigMap("ns", "a"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(Eventually([&] { return clock_.Sleepers() == 1; }));
  EXPECT_FALSE(inf->HasSynced()) << "must not report synced before a list succeeded";
  ASSERT_TRUE(AdvanceUntil([&] { return inf->HasSynced(); }));
  {
    std::lock_guard lock(server_->mu);
    EXPECT_EQ(server_->lists, 3);
  }
  EXPECT_NE(inf->Get("ns", "a"), nullptr);
  EXPECT_THAT(
      registry_.Serialize(),
      HasSubstr("tether_watch_restarts_total{resource=\"configmaps\",reason=\"list_error\"} 2"));
}

TEST_F(InformerTest, WatchHealthFollowsFailuresAndRecoveryAndNotifiesTransitions) {
  server_->Put(ConfigMap("ns", "a"));
  auto inf = Make();
  std::mutex mu;
  std::vector<bool> flips;
  inf->AddWatchHealthHandler([&](bool healthy) {
    std::lock_guard lock(mu);
    flips.push_back(healthy);
  });
  auto flipped = [&] {
    std::lock_guard lock(mu);
    return flips;
  };
  EXPECT_FALSE(inf->WatchHealthy()) << "not live before the first list";
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(Eventually([&] { return flipped().size() == 1; }));
  EXPECT_TRUE(inf->WatchHealthy());
  ASSERT_TRUE(WatchActive());

  // A clean close resumes at once and is not a health change.
  server_->Put(ConfigMap("ns", "b"));
  ASSERT_TRUE(Eventually([&] { return inf->Get("ns", "b") != nullptr; }));
  server_->DropWatches();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(server_->mu);
    return server_->watch_from.size() == 2 && server_->active_watches > 0;
  }));
  EXPECT_TRUE(inf->WatchHealthy());

  // The resumed watch fails, then one relist fails: unhealthy until a relist succeeds.
  {
    std::lock_guard lock(server_->mu);
    server_->watch_failures = 1;
    server_->list_failures = 1;
  }
  server_->Put(ConfigMap("ns", "c"));
  ASSERT_TRUE(Eventually([&] { return inf->Get("ns", "c") != nullptr; }));
  server_->DropWatches();
  ASSERT_TRUE(Eventually([&] { return !inf->WatchHealthy(); }));
  EXPECT_THAT(inf->WatchError(), HasSubstr("watch refused"));
  server_->Put(ConfigMap("ns", "d"));  // missed by the broken watch
  ASSERT_TRUE(AdvanceUntil([&] { return inf->WatchHealthy(); }));
  EXPECT_EQ(inf->WatchError(), "");
  EXPECT_NE(inf->Get("ns", "d"), nullptr) << "the relist catches up on what the watch missed";
  ASSERT_TRUE(Eventually([&] { return flipped().size() == 3; }));
  EXPECT_THAT(flipped(), ElementsAre(true, false, true));
  std::lock_guard lock(server_->mu);
  EXPECT_EQ(server_->lists, 3);
}

TEST_F(InformerTest, TransformDropsObjectsAndFieldsAndDeletesObjectsThatStopPassing) {
  InformerOptions o;
  o.transform = [](Json&& obj) -> std::optional<Json> {
    if (obj["data"]["k"] == "drop") return std::nullopt;
    obj.erase("data");
    return std::move(obj);
  };
  server_->Put(ConfigMap("ns", "kept"));
  server_->Put(ConfigMap("ns", "dropped", "drop"));
  auto inf = Make(std::move(o));
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  EXPECT_THAT(rec.Take(), ElementsAre("add ns/kept"));
  EXPECT_FALSE(inf->Get("ns", "kept")->contains("data"));
  EXPECT_EQ(inf->Get("ns", "dropped"), nullptr);
  server_->Put(ConfigMap("ns", "kept", "drop"));  // no longer passes
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 1; }));
  EXPECT_THAT(rec.Take(), ElementsAre("delete ns/kept"));
  EXPECT_EQ(inf->Size(), 0u);
}

TEST_F(InformerTest, LateHandlerGetsSyntheticAddsThenLiveEvents) {
  server_->Put(ConfigMap("ns", "a"));
  server_->Put(ConfigMap("ns", "b"));
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  EXPECT_THAT(rec.Take(), ElementsAre("add ns/a", "add ns/b"));
  server_->Delete("ns/a");
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 1; }));
  EXPECT_THAT(rec.Take(), ElementsAre("delete ns/a"));
}

TEST_F(InformerTest, IndexersTrackAddsUpdatesAndDeletes) {
  auto by_value = [](const Json& o) -> std::vector<std::string> {
    return {o["data"]["k"].get<std::string>()};
  };
  server_->Put(ConfigMap("ns", "a", "red"));
  auto inf = Make();
  inf->AddIndexer("color", by_value);
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  inf->AddIndexer("color2", by_value);  // added after sync: indexes existing objects
  EXPECT_EQ(inf->ByIndex("color", "red").size(), 1u);
  EXPECT_EQ(inf->ByIndex("color2", "red").size(), 1u);
  Recorder rec;
  inf->AddEventHandler(rec.Handler());
  rec.Take();
  server_->Put(ConfigMap("ns", "b", "red"));
  server_->Put(ConfigMap("ns", "a", "blue"));
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 2; }));
  ASSERT_EQ(inf->ByIndex("color", "red").size(), 1u);
  EXPECT_EQ((*inf->ByIndex("color", "red")[0])["metadata"]["name"], "b");
  EXPECT_EQ(inf->ByIndex("color", "blue").size(), 1u);
  server_->Delete("ns/b");
  ASSERT_TRUE(Eventually([&] { return rec.Count() == 3; }));
  EXPECT_TRUE(inf->ByIndex("color", "red").empty());
  EXPECT_TRUE(inf->ByIndex("nope", "red").empty());
}

TEST_F(InformerTest, StopIsPromptWhileWatching) {
  auto inf = Make();
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(WatchActive());
  inf->Stop();
  std::lock_guard lock(server_->mu);
  EXPECT_EQ(server_->active_watches, 0);
}

TEST_F(InformerTest, FactorySharesInformersByScopeAndSelectors) {
  InformerFactory factory(
      [this](const InformerOptions&) { return std::make_unique<FakeListerWatcher>(server_); },
      clock_, &registry_);
  InformerOptions a{.resource = resources::ConfigMaps(), .ns = "x"};
  InformerOptions b{.resource = resources::ConfigMaps(), .ns = "x"};
  InformerOptions c{.resource = resources::ConfigMaps(), .ns = "x", .label_selector = "app=y"};
  auto ia = factory.Get(a);
  EXPECT_EQ(ia, factory.Get(b));
  EXPECT_NE(ia, factory.Get(c));
  EXPECT_FALSE(factory.AllSynced());
  factory.StartAll();
  EXPECT_TRUE(factory.WaitForCacheSync(std::stop_token()));
  EXPECT_TRUE(factory.AllSynced());
  auto late = factory.Get({.resource = resources::Pods()});  // started on creation
  EXPECT_TRUE(late->WaitForSync(std::stop_token()));
  factory.StopAll();
}

TEST(ObjectKeyTest, NamespacedAndClusterScoped) {
  EXPECT_EQ(ObjectKey({{"metadata", {{"namespace", "n"}, {"name", "a"}}}}), "n/a");
  EXPECT_EQ(ObjectKey({{"metadata", {{"name", "node1"}}}}), "node1");
  EXPECT_EQ(SplitObjectKey("n/a"), (std::pair<std::string, std::string>{"n", "a"}));
  EXPECT_EQ(SplitObjectKey("node1"), (std::pair<std::string, std::string>{"", "node1"}));
}

}  // namespace
}  // namespace tether::kube
