#include "testing/sim/simulator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "kube/client.h"
#include "testing/apiserver.h"

namespace tether::sim {
namespace {

using namespace std::chrono_literals;

// In-memory Cluster: objects by (resource, namespace, name), change notification for
// WatchChanges, and a switch for whether the Rollout CRD is "installed".
class MemoryCluster final : public Cluster {
 public:
  void Put(const kube::Resource& r, Json obj) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string ns = obj["metadata"].value("namespace", "");
    std::string name = obj["metadata"]["name"];
    Json& slot = objects_[{r.GroupResource(), ns, name}];
    std::int64_t generation = slot.is_null() ? 1 : slot["metadata"].value("generation", 1);
    if (!slot.is_null() && slot["spec"] != obj["spec"]) ++generation;
    if (!slot.is_null() && slot.contains("status") && !obj.contains("status")) {
      obj["status"] = slot["status"];
    }
    obj["metadata"]["generation"] = generation;
    slot = std::move(obj);
    ++changes_;
    cv_.notify_all();
  }
  Json Get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.at({r.GroupResource(), ns, name});
  }
  Json Status(Kind kind, const std::string& name) {
    return Get(ResourceOf(kind), "shop", name).value("status", Json::object());
  }
  // Spec edit through "kubectl": replaces spec fields with a merge patch.
  void PatchSpec(Kind kind, const std::string& name, const Json& spec_patch) {
    Json obj = Get(ResourceOf(kind), "shop", name);
    obj["spec"].merge_patch(spec_patch);
    Put(ResourceOf(kind), obj);
  }

  Result<std::vector<Json>> List(const kube::Resource& r, const std::string& ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.resource == "rollouts" && !rollouts_served) {
      return Fail(ErrorCode::kNotFound, "the server could not find the requested resource");
    }
    std::vector<Json> out;
    for (const auto& [key, obj] : objects_) {
      if (std::get<0>(key) == r.GroupResource() && (ns.empty() || std::get<1>(key) == ns)) {
        out.push_back(obj);
      }
    }
    return out;
  }
  Result<void> PatchStatus(const kube::Resource& r, const std::string& ns, const std::string& name,
                           const Json& merge_patch) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find({r.GroupResource(), ns, name});
    if (it == objects_.end()) return Fail(ErrorCode::kNotFound, name + " not found");
    Json status = it->second.value("status", Json::object());
    status.merge_patch(merge_patch);
    it->second["status"] = status;
    ++status_writes;
    ++changes_;
    cv_.notify_all();
    return {};
  }
  void WatchChanges(const std::vector<kube::Resource>&, const std::string&,
                    const std::function<void()>& on_change, std::stop_token stop) override {
    std::unique_lock<std::mutex> lock(mu_);
    std::int64_t seen = -1;
    while (!stop.stop_requested()) {
      if (seen != changes_) {
        seen = changes_;
        lock.unlock();
        on_change();
        lock.lock();
      }
      cv_.wait(lock, stop, [&] { return seen != changes_; });
    }
  }

  bool rollouts_served = false;
  int status_writes = 0;

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::tuple<std::string, std::string, std::string>, Json> objects_;
  std::int64_t changes_ = 0;
};

Json Workload(const std::string& name, std::int64_t replicas) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"replicas", replicas}, {"template", {{"spec", Json::object()}}}}}};
}

class SimulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.Put(kube::resources::Deployments(), Workload("database", 3));
    cluster_.Put(kube::resources::StatefulSets(), Workload("cache", 2));
    cluster_.Put(kube::resources::ReplicaSets(), Workload("worker", 4));
    Json ds = Workload("agent", 0);
    ds["spec"].erase("replicas");
    cluster_.Put(kube::resources::DaemonSets(), ds);
    Json job = {{"metadata", {{"name", "migrate"}, {"namespace", "shop"}}},
                {"spec", {{"suspend", false}}}};
    cluster_.Put(kube::resources::Jobs(), job);
    Json cron = {{"metadata", {{"name", "reports"}, {"namespace", "shop"}}},
                 {"spec", {{"schedule", "*/5 * * * *"}, {"suspend", false}}}};
    cluster_.Put(kube::resources::CronJobs(), cron);
  }

  MemoryCluster cluster_;
  FakeClock clock_;
  Simulator sim_{cluster_, clock_};
};

TEST_F(SimulatorTest, WorkloadsBecomeReadyAtTheirDesiredReplicas) {
  ASSERT_EQ(sim_.SyncOnce().value(), 6);
  Json deploy = cluster_.Status(Kind::kDeployment, "database");
  EXPECT_EQ(deploy["replicas"], 3);
  EXPECT_EQ(deploy["readyReplicas"], 3);
  EXPECT_EQ(deploy["availableReplicas"], 3);
  EXPECT_EQ(deploy["updatedReplicas"], 3);
  EXPECT_EQ(deploy["observedGeneration"], 1);
  EXPECT_EQ(deploy["conditions"][0]["type"], "Available");
  EXPECT_EQ(deploy["conditions"][0]["status"], "True");

  EXPECT_EQ(cluster_.Status(Kind::kStatefulSet, "cache")["readyReplicas"], 2);
  EXPECT_EQ(cluster_.Status(Kind::kReplicaSet, "worker")["readyReplicas"], 4);
  Json ds = cluster_.Status(Kind::kDaemonSet, "agent");
  EXPECT_EQ(ds["desiredNumberScheduled"], 1);
  EXPECT_EQ(ds["numberReady"], 1);
  EXPECT_EQ(cluster_.Status(Kind::kJob, "migrate")["active"], 1);
  EXPECT_EQ(cluster_.Status(Kind::kCronJob, "reports")["active"].size(), 1u);
}

TEST_F(SimulatorTest, SecondPassWritesNothing) {
  ASSERT_TRUE(sim_.SyncOnce());
  clock_.Advance(10s);
  int before = cluster_.status_writes;
  EXPECT_EQ(sim_.SyncOnce().value(), 0);
  EXPECT_EQ(cluster_.status_writes, before);
}

TEST_F(SimulatorTest, SetReadyBreaksAndClearReadyHealsAWorkload) {
  ASSERT_TRUE(sim_.SyncOnce());
  Json before = cluster_.Status(Kind::kDeployment, "database");

  clock_.Advance(5s);
  sim_.SetReady(Kind::kDeployment, "shop", "database", 0);
  ASSERT_EQ(sim_.SyncOnce().value(), 1);
  Json broken = cluster_.Status(Kind::kDeployment, "database");
  EXPECT_EQ(broken["replicas"], 3);
  EXPECT_FALSE(broken.contains("readyReplicas")) << broken.dump();  // omitempty, like kube
  EXPECT_EQ(broken["unavailableReplicas"], 3);
  EXPECT_EQ(broken["conditions"][0]["status"], "False");
  EXPECT_EQ(broken["conditions"][0]["lastTransitionTime"], FormatRfc3339(clock_.Now()));
  // The unchanged Progressing condition keeps its original timestamp.
  EXPECT_EQ(broken["conditions"][1]["lastTransitionTime"],
            before["conditions"][1]["lastTransitionTime"]);

  sim_.SetReady(Kind::kDeployment, "shop", "database", 2);
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kDeployment, "database")["readyReplicas"], 2);

  sim_.ClearReady(Kind::kDeployment, "shop", "database");
  ASSERT_TRUE(sim_.SyncOnce());
  Json healed = cluster_.Status(Kind::kDeployment, "database");
  EXPECT_EQ(healed["readyReplicas"], 3);
  EXPECT_FALSE(healed.contains("unavailableReplicas"));
}

TEST_F(SimulatorTest, ReadyAnnotationCapsReadinessAndOverrideWins) {
  Json obj = cluster_.Get(kube::resources::StatefulSets(), "shop", "cache");
  obj["metadata"]["annotations"] = {{std::string(kReadyAnnotation), "1"}};
  cluster_.Put(kube::resources::StatefulSets(), obj);
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kStatefulSet, "cache")["readyReplicas"], 1);

  sim_.SetReady(Kind::kStatefulSet, "shop", "cache", 2);
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kStatefulSet, "cache")["readyReplicas"], 2);
}

TEST_F(SimulatorTest, ScalingFollowsSpecAndObservedGeneration) {
  ASSERT_TRUE(sim_.SyncOnce());
  cluster_.PatchSpec(Kind::kDeployment, "database", {{"replicas", 0}});
  ASSERT_TRUE(sim_.SyncOnce());
  Json zero = cluster_.Status(Kind::kDeployment, "database");
  EXPECT_FALSE(zero.contains("replicas"));
  EXPECT_FALSE(zero.contains("readyReplicas"));
  EXPECT_EQ(zero["observedGeneration"], 2);

  // A workload marked down stays down at any scale, and scaling does not exceed the cap.
  sim_.SetReady(Kind::kDeployment, "shop", "database", 1);
  cluster_.PatchSpec(Kind::kDeployment, "database", {{"replicas", 5}});
  ASSERT_TRUE(sim_.SyncOnce());
  Json five = cluster_.Status(Kind::kDeployment, "database");
  EXPECT_EQ(five["replicas"], 5);
  EXPECT_EQ(five["readyReplicas"], 1);
  EXPECT_EQ(five["observedGeneration"], 3);
}

TEST_F(SimulatorTest, DaemonSetWithTetherSuspendSelectorIsScheduledNowhere) {
  ASSERT_TRUE(sim_.SyncOnce());
  cluster_.PatchSpec(
      Kind::kDaemonSet, "agent",
      {{"template", {{"spec", {{"nodeSelector", {{"tether.dev/suspended", "true"}}}}}}}});
  ASSERT_TRUE(sim_.SyncOnce());
  Json ds = cluster_.Status(Kind::kDaemonSet, "agent");
  EXPECT_EQ(ds["desiredNumberScheduled"], 0);
  EXPECT_EQ(ds["numberReady"], 0);

  // Removing the key brings it back.
  cluster_.PatchSpec(Kind::kDaemonSet, "agent",
                     {{"template", {{"spec", {{"nodeSelector", nullptr}}}}}});
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kDaemonSet, "agent")["numberReady"], 1);
}

TEST_F(SimulatorTest, DaemonSetSelectorMatchesConfiguredNodes) {
  SimulatorOptions options;
  options.nodes = {Node{"a", {{"pool", "gpu"}}}, Node{"b", {{"pool", "gpu"}}},
                   Node{"c", {{"pool", "cpu"}}}};
  Simulator sim(cluster_, clock_, options);
  cluster_.PatchSpec(Kind::kDaemonSet, "agent",
                     {{"template", {{"spec", {{"nodeSelector", {{"pool", "gpu"}}}}}}}});
  ASSERT_TRUE(sim.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kDaemonSet, "agent")["desiredNumberScheduled"], 2);
}

TEST_F(SimulatorTest, SuspendedJobsAndCronJobsHaveNothingActive) {
  ASSERT_TRUE(sim_.SyncOnce());
  cluster_.PatchSpec(Kind::kJob, "migrate", {{"suspend", true}});
  cluster_.PatchSpec(Kind::kCronJob, "reports", {{"suspend", true}});
  ASSERT_TRUE(sim_.SyncOnce());
  Json job = cluster_.Status(Kind::kJob, "migrate");
  EXPECT_FALSE(job.contains("active"));
  EXPECT_EQ(job["conditions"][0]["type"], "Suspended");
  EXPECT_FALSE(cluster_.Status(Kind::kCronJob, "reports").contains("active"));

  cluster_.PatchSpec(Kind::kCronJob, "reports", {{"suspend", false}});
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kCronJob, "reports")["active"][0]["name"], "reports-sim");
}

TEST_F(SimulatorTest, RolloutsAreSimulatedOnlyWhenServed) {
  kube::Resource rollouts = ResourceOf(Kind::kRollout);
  cluster_.Put(rollouts, Workload("frontend", 2));
  ASSERT_TRUE(sim_.SyncOnce());  // not served: skipped, not an error
  EXPECT_FALSE(cluster_.Get(rollouts, "shop", "frontend").contains("status"));

  cluster_.rollouts_served = true;
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kRollout, "frontend")["phase"], "Healthy");
  EXPECT_EQ(cluster_.Status(Kind::kRollout, "frontend")["observedGeneration"], "1");

  sim_.SetReady(Kind::kRollout, "shop", "frontend", 0);
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kRollout, "frontend")["phase"], "Degraded");

  Json obj = cluster_.Get(rollouts, "shop", "frontend");
  obj["metadata"]["annotations"] = {{std::string(kRolloutPhaseAnnotation), "Progressing"}};
  cluster_.Put(rollouts, obj);
  ASSERT_TRUE(sim_.SyncOnce());
  EXPECT_EQ(cluster_.Status(Kind::kRollout, "frontend")["phase"], "Progressing");
}

TEST_F(SimulatorTest, BackgroundLoopReactsToChanges) {
  sim_.Start();
  ASSERT_TRUE(sim_.WaitSettled(20s));
  EXPECT_EQ(cluster_.Status(Kind::kDeployment, "database")["readyReplicas"], 3);

  sim_.SetReady(Kind::kDeployment, "shop", "database", 1);
  ASSERT_TRUE(sim_.WaitSettled(20s));
  EXPECT_EQ(cluster_.Status(Kind::kDeployment, "database")["readyReplicas"], 1);

  cluster_.PatchSpec(Kind::kStatefulSet, "cache", {{"replicas", 0}});
  ASSERT_TRUE(sim_.WaitSettled(20s));
  EXPECT_EQ(cluster_.Status(Kind::kStatefulSet, "cache")["replicas"], 0);
  sim_.Stop();
}

TEST(WorkloadStatusTest, ParseKindAcceptsKindsAndPlurals) {
  EXPECT_EQ(ParseKind("Deployment"), Kind::kDeployment);
  EXPECT_EQ(ParseKind("statefulsets"), Kind::kStatefulSet);
  EXPECT_EQ(ParseKind("rollout"), Kind::kRollout);
  EXPECT_EQ(ParseKind("Pod"), std::nullopt);
}

TEST(WorkloadStatusTest, ReadyCapIgnoresMalformedAnnotation) {
  Json obj = Workload("x", 3);
  obj["metadata"]["annotations"] = {{std::string(kReadyAnnotation), "three"}};
  EXPECT_EQ(ReadyCap(obj, std::nullopt), std::nullopt);
  obj["metadata"]["annotations"][std::string(kReadyAnnotation)] = "-1";
  EXPECT_EQ(ReadyCap(obj, std::nullopt), std::nullopt);
  obj["metadata"]["annotations"][std::string(kReadyAnnotation)] = "0";
  EXPECT_EQ(ReadyCap(obj, std::nullopt), 0);
}

TEST(WorkloadStatusTest, MergePatchNullsRemovedFields) {
  Json patch = StatusMergePatch({{"replicas", 3}, {"readyReplicas", 3}}, {{"replicas", 3}});
  EXPECT_EQ(patch, Json({{"replicas", 3}, {"readyReplicas", nullptr}}));
  EXPECT_TRUE(StatusMergePatch({{"a", 1}}, {{"a", 1}}).is_null());
}

// ---- Through the embedded API server (HTTPS, watches, status subresource) ----

template <class Pred>
bool Eventually(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

class SimulatorApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::ApiServerOptions so;
    so.namespaces.push_back("shop");
    auto server = testing::ApiServer::Start(so);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    auto rc = server_->RestConfigFor("sim");
    ASSERT_TRUE(rc) << rc.error().ToString();
    auto client = kube::Client::Create(*rc, RealClock::Instance(), {.qps = 1e6, .burst = 1000000});
    ASSERT_TRUE(client);
    client_ = std::move(*client);
    cluster_ = std::make_unique<ClientCluster>(*client_, RealClock::Instance(),
                                               std::chrono::milliseconds(100));
    sim_ = std::make_unique<Simulator>(*cluster_, RealClock::Instance());
  }
  void TearDown() override {
    if (sim_) sim_->Stop();
  }

  Json Get(const std::string& api_version, const std::string& resource, const std::string& name) {
    auto r = server_->Get(api_version, resource, "shop", name);
    return r ? *r : Json();
  }
  std::int64_t ReadyReplicas(const std::string& name) {
    Json d = Get("apps/v1", "deployments", name);
    if (!d.contains("status")) return -1;
    return d["status"].value("readyReplicas", std::int64_t{0});
  }

  std::unique_ptr<testing::ApiServer> server_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<ClientCluster> cluster_;
  std::unique_ptr<Simulator> sim_;
};

Json AppsWorkload(const std::string& kind, const std::string& name, int replicas) {
  Json containers = Json::array({{{"name", "c"}, {"image", "nginx"}}});
  Json tmpl = {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", {{"containers", containers}}}};
  Json o = {{"apiVersion", "apps/v1"}, {"kind", kind}, {"metadata", {{"name", name}}}};
  o["spec"] = {{"selector", {{"matchLabels", {{"app", name}}}}}, {"template", tmpl}};
  if (kind != "DaemonSet") o["spec"]["replicas"] = replicas;
  return o;
}

TEST_F(SimulatorApiServerTest, FollowsSpecChangesThroughWatches) {
  ASSERT_TRUE(
      server_->Create("apps/v1", "deployments", "shop", AppsWorkload("Deployment", "db", 3)));
  sim_->Start();
  ASSERT_TRUE(Eventually([&] { return ReadyReplicas("db") == 3; }));
  Json db = Get("apps/v1", "deployments", "db");
  EXPECT_EQ(db["status"]["observedGeneration"], db["metadata"]["generation"]);

  // Scale through the scale subresource, as tether does.
  ASSERT_TRUE(client_->Patch(kube::resources::Deployments(), "shop", "db", kube::PatchType::kMerge,
                             {{"spec", {{"replicas", 0}}}}, "scale"));
  ASSERT_TRUE(Eventually([&] {
    Json d = Get("apps/v1", "deployments", "db");
    return d["status"].value("observedGeneration", 0) == d["metadata"].value("generation", -1) &&
           !d["status"].contains("readyReplicas");
  })) << Get("apps/v1", "deployments", "db").dump();

  // Created after the simulator started: picked up by the watch.
  ASSERT_TRUE(
      server_->Create("apps/v1", "deployments", "shop", AppsWorkload("Deployment", "web", 2)));
  ASSERT_TRUE(Eventually([&] { return ReadyReplicas("web") == 2; }));

  sim_->SetReady(Kind::kDeployment, "shop", "web", 0);
  ASSERT_TRUE(Eventually([&] { return ReadyReplicas("web") == 0; }));
  sim_->ClearReady(Kind::kDeployment, "shop", "web");
  ASSERT_TRUE(Eventually([&] { return ReadyReplicas("web") == 2; }));
  EXPECT_TRUE(sim_->WaitSettled(std::chrono::seconds(30)));
}

TEST_F(SimulatorApiServerTest, DaemonSetSuspendedByNodeSelector) {
  Json ds = AppsWorkload("DaemonSet", "agent", 0);
  ds["spec"]["template"]["spec"]["nodeSelector"] = {{"tether.dev/suspended", "true"}};
  ASSERT_TRUE(server_->Create("apps/v1", "daemonsets", "shop", ds));
  ASSERT_EQ(sim_->SyncOnce().value(), 1);
  Json got = Get("apps/v1", "daemonsets", "agent");
  EXPECT_EQ(got["status"]["desiredNumberScheduled"], 0);
  EXPECT_EQ(got["status"]["numberReady"], 0);
  EXPECT_EQ(sim_->SyncOnce().value(), 0);  // settled: nothing more to write
}

}  // namespace
}  // namespace tether::sim
