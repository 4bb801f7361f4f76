// End-to-end tests of the controller runtime (informers, discovery, leader election, Events,
// Manager) through the real client against the embedded API server (testing/apiserver.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <thread>

#include "kube/client.h"
#include "kube/controller.h"
#include "kube/discovery.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "testing/apiserver.h"

namespace tether::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;
using tether::testing::ApiServer;
using tether::testing::KubeconfigAuth;

template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

Json ConfigMap(const std::string& name, const std::string& value = "v") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"k", value}}}};
}

// Thread-safe log of handler calls.
struct Seen {
  std::mutex mu;
  std::set<std::string> present;  // names currently believed to exist
  std::vector<std::string> log;
  EventHandler Handler() {
    return {[this](const ObjectPtr& o) { Note("add", *o); },
            [this](const ObjectPtr&, const ObjectPtr& o) { Note("update", *o); },
            [this](const ObjectPtr& o) { Note("delete", *o); }};
  }
  void Note(const std::string& what, const Json& o) {
    std::lock_guard lock(mu);
    std::string name = o["metadata"]["name"];
    if (what == "delete") {
      present.erase(name);
    } else {
      present.insert(name);
    }
    log.push_back(what + " " + name);
  }
  std::set<std::string> Present() {
    std::lock_guard lock(mu);
    return present;
  }
  bool Logged(const std::string& entry) {
    std::lock_guard lock(mu);
    return std::find(log.begin(), log.end(), entry) != log.end();
  }
};

class RuntimeIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ApiServer::Start();
    ASSERT_TRUE(s.has_value()) << s.error().message;
    api_ = std::move(*s);
    std::string tmpl = (std::filesystem::temp_directory_path() / "tether-rt-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    client_ = Connect();
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<Client> Connect() {
    const std::string path = dir_ + "/kubeconfig-" + std::to_string(++configs_);
    auto written = api_->WriteKubeconfig(path, KubeconfigAuth::ClientCert());
    EXPECT_TRUE(written.has_value()) << written.error().message;
    LoadOptions opts;
    opts.kubeconfig = path;
    auto cfg = LoadKubeconfig(opts, clock_);
    EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
    if (!cfg) return nullptr;
    auto client = Client::Create(std::move(*cfg), clock_, RateLimit{0, 1});
    EXPECT_TRUE(client.has_value()) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }
  std::unique_ptr<Informer> ConfigMapInformer(int page_size = 500) {
    InformerOptions o;
    o.resource = resources::ConfigMaps();
    o.ns = "default";
    o.page_size = page_size;
    o.registry = &registry_;
    // Fast reconnects: these tests drop connections on purpose.
    o.backoff = {.initial = std::chrono::milliseconds(10), .max = std::chrono::milliseconds(50)};
    return std::make_unique<Informer>(MakeClientListerWatcher(*client_, o.resource, o.ns), clock_,
                                      std::move(o));
  }
  void Put(const std::string& name, const std::string& value = "v") {
    auto existing = api_->Get("v1", "configmaps", "default", name);
    if (existing) {
      Json updated = *existing;
      updated["data"]["k"] = value;
      ASSERT_TRUE(api_->Update("v1", "configmaps", "default", updated));
    } else {
      ASSERT_TRUE(api_->Create("v1", "configmaps", "default", ConfigMap(name, value)));
    }
  }

  RealClock clock_;
  metrics::Registry registry_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<Client> client_;
  std::string dir_;
  int configs_ = 0;
};

TEST_F(RuntimeIntegrationTest, InformerSyncsThroughPagedListThenFollowsWatch) {
  std::set<std::string> expected;
  for (int i = 0; i < 7; ++i) {
    Put("cm-" + std::to_string(i));
    expected.insert("cm-" + std::to_string(i));
  }
  auto inf = ConfigMapInformer(/*page_size=*/3);
  Seen seen;
  inf->AddEventHandler(seen.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  EXPECT_EQ(seen.Present(), expected);
  EXPECT_GE(api_->RequestCount("list", "configmaps"), 3) << "list must be paged";
  ASSERT_NE(inf->Get("default", "cm-3"), nullptr);
  EXPECT_FALSE((*inf->Get("default", "cm-3"))["metadata"].contains("managedFields"));

  Put("cm-new");
  ASSERT_TRUE(api_->Delete("v1", "configmaps", "default", "cm-0"));
  Put("cm-1", "changed");
  expected.insert("cm-new");
  expected.erase("cm-0");
  ASSERT_TRUE(Eventually([&] {
    auto o = inf->Get("default", "cm-1");
    return seen.Present() == expected && o && (*o)["data"]["k"] == "changed";
  }));
  EXPECT_EQ(inf->Get("default", "cm-0"), nullptr);
}

TEST_F(RuntimeIntegrationTest, DroppedWatchesLoseNoEvents) {
  auto inf = ConfigMapInformer();
  Seen seen;
  inf->AddEventHandler(seen.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  std::set<std::string> expected;
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(Eventually([&] { return api_->OpenWatches() > 0; }));
    api_->DropWatches();
    // Changes made while the informer reconnects.
    for (int i = 0; i < 4; ++i) {
      std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
      Put(name);
      expected.insert(name);
    }
  }
  ASSERT_TRUE(Eventually([&] { return seen.Present() == expected; }));
  EXPECT_EQ(inf->Size(), expected.size());
  EXPECT_EQ(api_->RequestCount("list", "configmaps"), 1) << "resume, not relist";
}

TEST_F(RuntimeIntegrationTest, ExpiredResourceVersionRelistsWithSyntheticDeletes) {
  Put("keep");
  Put("doomed");
  Put("changes", "1");
  auto inf = ConfigMapInformer();
  Seen seen;
  inf->AddEventHandler(seen.Handler());
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::stop_token()));
  ASSERT_TRUE(Eventually([&] { return api_->OpenWatches() > 0; }));
  // Make the informer miss changes, then compact so it cannot resume (410 Gone).
  api_->Stop();
  ASSERT_TRUE(api_->Delete("v1", "configmaps", "default", "doomed"));
  Put("changes", "2");
  Put("born");
  api_->Compact();
  ASSERT_TRUE(api_->Restart());
  ASSERT_TRUE(Eventually([&] {
    auto o = inf->Get("default", "changes");
    return seen.Present() == std::set<std::string>{"keep", "changes", "born"} && o &&
           (*o)["data"]["k"] == "2";
  }));
  EXPECT_TRUE(seen.Logged("delete doomed"));
  EXPECT_GE(api_->RequestCount("list", "configmaps"), 2) << "expired watch must relist";
  EXPECT_THAT(registry_.Serialize(), HasSubstr("reason=\"expired\"}"));
}

TEST_F(RuntimeIntegrationTest, DiscoveryFindsCrdCreatedAfterStart) {
  Discovery d(*client_, clock_, std::chrono::milliseconds(0));
  auto dep = d.ForKind("apps/v1", "Deployment");
  ASSERT_TRUE(dep) << dep.error().message;
  EXPECT_EQ(dep->resource, "deployments");
  auto miss = d.ForKind("discovery.example.com/v1alpha1", "Gadget");
  ASSERT_FALSE(miss);
  EXPECT_EQ(miss.error().code, ErrorCode::kNotFound);
  Json crd = Json::parse(R"({"apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.discovery.example.com"},
    "spec": {"group": "discovery.example.com", "scope": "Cluster",
      "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
      "versions": [{"name": "v1alpha1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}}}]}})");
  auto created = api_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", crd);
  ASSERT_TRUE(created) << created.error().message;
  Result<Resource> hit = Fail(ErrorCode::kNotFound, "not yet");
  ASSERT_TRUE(Eventually([&] {
    hit = d.ForKind("discovery.example.com/v1alpha1", "Gadget");
    return hit.has_value();
  })) << hit.error().message;
  EXPECT_EQ(hit->resource, "gadgets");
  EXPECT_FALSE(hit->namespaced);
}

TEST_F(RuntimeIntegrationTest, TwoElectorsOneLeaderAndFailoverOnRelease) {
  FakeClock fake;
  auto make = [&](const std::string& id) {
    LeaderElectionConfig c;
    c.lease_namespace = "default";
    c.lease_name = "tether-controller";
    c.identity = id;
    c.registry = &registry_;
    c.seed = 3;
    return std::make_unique<LeaderElector>(MakeClientLeaseStore(*client_), fake, c);
  };
  auto a = make("pod-a");
  auto b = make("pod-b");
  for (int i = 0; i < 20; ++i) {
    a->Step();
    b->Step();
    ASSERT_FALSE(a->IsLeader() && b->IsLeader());
    fake.Advance(std::chrono::seconds(1));
  }
  ASSERT_TRUE(a->IsLeader());
  ASSERT_FALSE(b->IsLeader());
  auto lease = api_->Get("coordination.k8s.io/v1", "leases", "default", "tether-controller");
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "pod-a");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 15);
  a->Release();
  b->Step();
  EXPECT_TRUE(b->IsLeader());
  lease = api_->Get("coordination.k8s.io/v1", "leases", "default", "tether-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "pod-b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

TEST_F(RuntimeIntegrationTest, RepeatedEventsAreAggregatedOnTheServer) {
  EventRecorder rec(MakeClientEventSink(*client_), clock_,
                    {.component = "tether", .host = "pod-a", .registry = &registry_});
  rec.Start();
  auto cm = api_->Create("v1", "configmaps", "default", ConfigMap("subject"));
  ASSERT_TRUE(cm);
  ObjectReference ref = ObjectReference::From(*cm);
  for (int i = 0; i < 3; ++i) {
    rec.Record(ref, EventType::kWarning, "DependencyUnhealthy", "db down");
    ASSERT_TRUE(rec.Flush());
  }
  rec.Record(ref, EventType::kNormal, "Restored", "scaled back");
  ASSERT_TRUE(rec.Flush());
  auto events = api_->List("v1", "events", "default");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ((*events)["items"].size(), 2u);
  for (const Json& e : (*events)["items"]) {
    EXPECT_EQ(e["involvedObject"]["name"], "subject");
    EXPECT_EQ(e["involvedObject"]["uid"], (*cm)["metadata"]["uid"]);
    EXPECT_EQ(e["count"], e["reason"] == "DependencyUnhealthy" ? 3 : 1);
  }
}

TEST_F(RuntimeIntegrationTest, ManagerRunsControllersOnlyOnTheLeaderAndFailsOver) {
  struct Replica {
    std::unique_ptr<Client> client;
    std::unique_ptr<Manager> manager;
    std::mutex mu;
    std::set<std::string> reconciled;
    std::jthread thread;
  };
  auto start = [&](Replica& r, const std::string& id) {
    r.client = Connect();
    ManagerOptions o;
    o.registry = &registry_;
    o.leader_election = true;
    o.leader_election_config = {.lease_namespace = "default",
                                .lease_name = "mgr-lock",
                                .identity = id,
                                .lease_duration = std::chrono::seconds(3),
                                .renew_deadline = std::chrono::seconds(2),
                                .retry_period = std::chrono::milliseconds(100)};
    r.manager = Manager::ForClient(*r.client, clock_, o);
    auto inf = r.manager->informers().Get(
        {.resource = resources::ConfigMaps(), .ns = "default", .registry = &registry_});
    Controller& c =
        r.manager->AddController({.name = "cm-" + id, .workers = 2, .registry = &registry_},
                                 [&r](const std::string& key) -> Result<ReconcileResult> {
                                   std::lock_guard lock(r.mu);
                                   r.reconciled.insert(key);
                                   return ReconcileResult::Done();
                                 });
    inf->AddEventHandler({[&c](const ObjectPtr& o) { c.Enqueue(ObjectKey(*o)); },
                          [&c](const ObjectPtr&, const ObjectPtr& o) { c.Enqueue(ObjectKey(*o)); },
                          [&c](const ObjectPtr& o) { c.Enqueue(ObjectKey(*o)); }});
    r.thread = std::jthread([&r](const std::stop_token& stop) {
      auto result = r.manager->Run(stop);
      EXPECT_TRUE(result) << result.error().message;
    });
  };
  auto reconciled = [](Replica& r, const std::string& key) {
    std::lock_guard lock(r.mu);
    return r.reconciled.contains(key);
  };
  Put("one");
  Replica a, b;
  start(a, "pod-a");
  ASSERT_TRUE(Eventually([&] { return a.manager->IsLeader(); }));
  start(b, "pod-b");
  ASSERT_TRUE(Eventually([&] { return b.manager->Ready(); })) << "standby: synced, leader known";
  ASSERT_TRUE(Eventually([&] { return reconciled(a, "default/one"); }));
  Put("two");
  ASSERT_TRUE(Eventually([&] { return reconciled(a, "default/two"); }));
  EXPECT_FALSE(b.manager->IsLeader());
  EXPECT_FALSE(b.manager->ControllersRunning());
  EXPECT_FALSE(reconciled(b, "default/one")) << "standby must not reconcile";
  // Leader shuts down cleanly: the standby takes over quickly and catches up on its queue.
  a.thread.request_stop();
  a.thread.join();
  EXPECT_FALSE(a.manager->ControllersRunning());
  ASSERT_TRUE(Eventually([&] { return b.manager->IsLeader(); }));
  ASSERT_TRUE(Eventually([&] { return reconciled(b, "default/two"); }));
  Put("three");
  ASSERT_TRUE(Eventually([&] { return reconciled(b, "default/three"); }));
  EXPECT_TRUE(b.manager->Healthy());
  b.thread.request_stop();
  b.thread.join();
  EXPECT_THAT(registry_.Serialize(), HasSubstr("tether_api_requests_total{verb="));
}

}  // namespace
}  // namespace tether::kube
