// Integration tests of the WorkloadDependency controller: the real controller, over HTTPS, against
// the embedded API server, with the workload simulator playing the built-in controllers. Time
// windows run on a FakeClock; the tests wait on conditions with generous deadlines, never sleep
// for synchronisation.
#include "deps/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "deps/crd.h"
#include "kube/client.h"
#include "kube/config.h"
#include "prom/testing_server.h"
#include "server/http_server.h"
#include "testing/apiserver.h"
#include "testing/sim/simulator.h"

namespace tether::deps {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using SimKind = sim::Kind;

// Polls `pred` until it holds or `deadline` of real time passes.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

json PodTemplate(const std::string& app) {
  return {{"metadata", {{"labels", {{"app", app}}}}},
          {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}};
}

json Workload(SimKind kind, const std::string& name, int replicas) {
  json o = {{"metadata", {{"name", name}}}};
  switch (kind) {
    case SimKind::kDeployment:
    case SimKind::kStatefulSet:
    case SimKind::kReplicaSet:
      o["apiVersion"] = "apps/v1";
      o["spec"] = {{"replicas", replicas},
                   {"selector", {{"matchLabels", {{"app", name}}}}},
                   {"template", PodTemplate(name)}};
      if (kind == SimKind::kStatefulSet) o["spec"]["serviceName"] = name;
      break;
    case SimKind::kDaemonSet:
      o["apiVersion"] = "apps/v1";
      o["spec"] = {{"selector", {{"matchLabels", {{"app", name}}}}},
                   {"template", PodTemplate(name)}};
      break;
    case SimKind::kJob:
      o["apiVersion"] = "batch/v1";
      o["spec"] = {{"suspend", false}, {"template", PodTemplate(name)}};
      o["spec"]["template"]["spec"]["restartPolicy"] = "Never";
      break;
    case SimKind::kCronJob:
      o["apiVersion"] = "batch/v1";
      o["spec"] = {{"schedule", "*/5 * * * *"},
                   {"suspend", false},
                   {"jobTemplate", {{"spec", {{"template", PodTemplate(name)}}}}}};
      o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Never";
      break;
    case SimKind::kRollout:
      o["apiVersion"] = "argoproj.io/v1alpha1";
      o["spec"] = {{"replicas", replicas},
                   {"selector", {{"matchLabels", {{"app", name}}}}},
                   {"template", PodTemplate(name)}};
      break;
  }
  o["kind"] = std::string(sim::KindName(kind));
  return o;
}

std::string Plural(SimKind k) { return sim::ResourceOf(k).resource; }
std::string ApiVersionOf(SimKind k) { return sim::ResourceOf(k).ApiVersion(); }

class ControllerTest : public ::testing::Test {
 protected:
  static constexpr const char* kNs = "prod";

  void SetUp() override {
    testing::ApiServerOptions so;
    so.clock = &clock_;
    so.bookmark_interval = std::chrono::milliseconds(500);
    so.namespaces.push_back(kNs);
    so.namespaces.push_back("other");
    auto s = testing::ApiServer::Start(so);
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    auto crd = server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                               WorkloadDependencyCrd());
    ASSERT_TRUE(crd) << crd.error().ToString();
    client_ = NewClient();
    sim_cluster_ = std::make_unique<sim::ClientCluster>(*sim_client_, real_clock_,
                                                        std::chrono::milliseconds(200));
    sim_ = std::make_unique<sim::Simulator>(*sim_cluster_, real_clock_);
    sim_->Start();
  }

  void TearDown() override {
    controller_.reset();
    if (sim_) sim_->Stop();
    sim_.reset();
  }

  std::unique_ptr<kube::Client> NewClient() {
    auto config = server_->RestConfigFor("tether");
    EXPECT_TRUE(config);
    const kube::RestConfig& rc = *config;
    // The rate limiter waits on the clock: keep it out of the way of the FakeClock.
    auto c = kube::Client::Create(rc, clock_, {.qps = 1e6, .burst = 1000000});
    EXPECT_TRUE(c);
    if (!sim_client_) {
      auto s = kube::Client::Create(rc, real_clock_, {.qps = 1e6, .burst = 1000000});
      sim_client_ = std::move(*s);
    }
    return std::move(*c);
  }

  ControllerOptions Options() {
    ControllerOptions o;
    o.clock = &clock_;
    o.client = client_.get();
    o.registry = &registry_;
    o.workers = 2;
    o.notifier.threads = 1;
    return o;
  }

  void StartController(ControllerOptions o) {
    auto c = DependencyController::Create(std::move(o));
    ASSERT_TRUE(c) << c.error().ToString();
    controller_ = std::move(*c);
    controller_->Start();
    ASSERT_TRUE(Eventually([&] { return controller_->HasSynced(); }));
  }
  void StartController() { StartController(Options()); }

  void CreateWorkload(SimKind kind, const std::string& name, int replicas = 3,
                      const std::string& ns = kNs) {
    auto r = server_->Create(ApiVersionOf(kind), Plural(kind), ns, Workload(kind, name, replicas));
    ASSERT_TRUE(r) << r.error().ToString();
  }

  json Get(SimKind kind, const std::string& name, const std::string& ns = kNs) {
    auto r = server_->Get(ApiVersionOf(kind), Plural(kind), ns, name);
    return r ? *r : json();
  }
  int64_t Replicas(SimKind kind, const std::string& name, const std::string& ns = kNs) {
    json o = Get(kind, name, ns);
    if (o.is_null()) return -1;
    return o["spec"].value("replicas", int64_t{1});
  }
  bool Suspended(SimKind kind, const std::string& name) {
    return Get(kind, name)["spec"].value("suspend", false);
  }

  // A user's manual scale (read-modify-write, retried on conflicts like kubectl's).
  void Scale(SimKind kind, const std::string& name, int replicas) {
    Edit(ApiVersionOf(kind), Plural(kind), name,
         [&](json& o) { o["spec"]["replicas"] = replicas; });
  }

  static json Dep(const std::string& name, const std::string& window = "30s",
                  const std::string& recovery = "60s", const std::string& kind = "Deployment") {
    return {{"kind", kind},
            {"name", name},
            {"condition", {{"window", window}, {"recoveryWindow", recovery}}}};
  }

  void CreateWd(const std::string& name, const json& spec, const std::string& ns = kNs,
                json annotations = json()) {
    json wd = {{"apiVersion", "tether.dev/v1alpha1"},
               {"kind", "WorkloadDependency"},
               {"metadata", {{"name", name}}},
               {"spec", spec}};
    if (!annotations.is_null()) wd["metadata"]["annotations"] = annotations;
    auto r = server_->Create("tether.dev/v1alpha1", "workloaddependencies", ns, wd);
    ASSERT_TRUE(r) << r.error().ToString();
  }
  json GetWd(const std::string& name, const std::string& ns = kNs) {
    auto r = server_->Get("tether.dev/v1alpha1", "workloaddependencies", ns, name);
    return r ? *r : json();
  }
  std::string Phase(const std::string& name, const std::string& ns = kNs) {
    json wd = GetWd(name, ns);
    if (!wd.is_object() || !wd.contains("status")) return "";
    return wd["status"].value("phase", "");
  }
  bool WaitPhase(const std::string& name, const std::string& phase, const std::string& ns = kNs) {
    bool ok = Eventually([&] { return Phase(name, ns) == phase; });
    if (!ok)
      ADD_FAILURE() << name << ": phase " << Phase(name, ns) << ", want " << phase << "\n"
                    << GetWd(name, ns).dump(2);
    return ok;
  }
  void Advance(Duration d) { clock_.Advance(d); }
  // Advances by `d` once the controller has armed a timer that this advance reaches (SPEC §2.4:
  // one timer per pending deadline, no polling), so the advance is known to fire it. Fails
  // clearly, instead of timing out later, if the deadline is never armed.
  void AdvanceToDeadline(Duration d) {
    const TimePoint target = clock_.Now() + d;
    ASSERT_TRUE(Eventually([&] { return clock_.NextDeadline() <= target; }))
        << "no timer armed within " << FormatDuration(d) << " of " << FormatRfc3339(clock_.Now());
    clock_.Advance(d);
  }
  // For work scheduled asynchronously on the fake clock (retries armed by another thread):
  // advances in `step`s until `pred` holds; returns the fake time it took, or nullopt.
  template <class Pred>
  std::optional<Duration> AdvanceUntil(Pred pred, Duration step, int max_steps = 100) {
    Duration advanced{0};
    for (int i = 0; i < max_steps; ++i) {
      if (Eventually(pred, std::chrono::milliseconds(200))) return advanced;
      clock_.Advance(step);
      advanced += step;
    }
    return std::nullopt;
  }

  void Break(SimKind kind, const std::string& name) { sim_->SetReady(kind, kNs, name, 0); }
  void Heal(SimKind kind, const std::string& name) { sim_->ClearReady(kind, kNs, name); }

  // Waits for the simulator to report the workload's readiness as `ready` pods.
  void WaitReady(SimKind kind, const std::string& name, int64_t ready) {
    ASSERT_TRUE(Eventually([&] {
      json o = Get(kind, name);
      return o.is_object() && o.contains("status") &&
             o["status"].value("readyReplicas", int64_t{0}) == ready;
    })) << Get(kind, name).dump(2);
  }

  // A CRD for a namespaced custom resource with status and (optionally) scale subresources.
  void CreateCrd(const std::string& group, const std::string& version, const std::string& kind,
                 const std::string& plural, bool scale) {
    json v = {{"name", version},
              {"served", true},
              {"storage", true},
              {"schema",
               {{"openAPIV3Schema",
                 {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}},
              {"subresources", {{"status", json::object()}}}};
    if (scale) {
      v["subresources"]["scale"] = {{"specReplicasPath", ".spec.replicas"},
                                    {"statusReplicasPath", ".status.replicas"},
                                    {"labelSelectorPath", ".status.selector"}};
    }
    json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
                {"kind", "CustomResourceDefinition"},
                {"metadata", {{"name", plural + "." + group}}},
                {"spec",
                 {{"group", group},
                  {"scope", "Namespaced"},
                  {"names",
                   {{"kind", kind},
                    {"plural", plural},
                    {"singular", kind == "Rollout" ? "rollout" : "widget"},
                    {"listKind", kind + "List"}}},
                  {"versions", {v}}}}};
    auto r = server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", crd);
    ASSERT_TRUE(r) << r.error().ToString();
  }

  // Breaks `db`, lets the window expire and waits for `wd` to be Suspended.
  void SuspendVia(const std::string& wd, const std::string& db, Duration window = seconds(30)) {
    Break(SimKind::kDeployment, db);
    ASSERT_TRUE(WaitPhase(wd, "Degraded"));
    AdvanceToDeadline(window);
    ASSERT_TRUE(WaitPhase(wd, "Suspended"));
  }
  // Heals `db` and waits until `wd`'s recovery clock runs, then advances by `recovery` (to the
  // restore deadline unless `partial`).
  void RecoverVia(const std::string& wd, const std::string& db, Duration recovery = seconds(60),
                  bool partial = false) {
    Heal(SimKind::kDeployment, db);
    ASSERT_TRUE(Eventually([&] {
      json st = GetWd(wd)["status"];
      return st.is_object() && st.contains("healthySince");
    })) << GetWd(wd).dump(2);
    if (partial) {
      Advance(recovery);
    } else {
      AdvanceToDeadline(recovery);
    }
  }
  bool HasEvent(const std::string& reason, const std::string& involved_name) {
    auto list = server_->List("v1", "events", kNs);
    if (!list) return false;
    for (const auto& e : (*list)["items"]) {
      if (e.value("reason", "") == reason &&
          e["involvedObject"].value("name", "") == involved_name) {
        return true;
      }
    }
    return false;
  }
  json Annotations(SimKind kind, const std::string& name) {
    json o = Get(kind, name);
    if (!o.is_object() || !o["metadata"].contains("annotations")) return json::object();
    return o["metadata"]["annotations"];
  }
  json PaymentsNeedsDb(const std::string& mode = "strict") {
    return {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn", {Dep("db")}},
            {"mode", mode}};
  }
  void Incident(const std::string& mode = "strict") {
    CreateWorkload(SimKind::kDeployment, "db", 3);
    CreateWorkload(SimKind::kDeployment, "payments", 4);
    WaitReady(SimKind::kDeployment, "db", 3);
    CreateWd("payments-needs-db", PaymentsNeedsDb(mode));
  }

  double Metric(const std::string& needle) {
    std::string text = registry_.Serialize();
    auto pos = text.find("\n" + needle + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + needle.size() + 2));
  }

  // Completed reconciles, from the shared controller metrics.
  double Reconciles() {
    return Metric("tether_reconcile_total{controller=\"workloaddependency\",result=\"success\"}");
  }
  // Makes the controller reconcile every WorkloadDependency at the current fake time and waits
  // until it has: for asserting that something did *not* happen (a reconcile in flight when
  // the first round is enqueued may complete it; the second round starts afterwards).
  void ReconcileNow() {
    for (int round = 0; round < 2; ++round) {
      const double before = Reconciles();
      controller_->EnqueueAll();
      ASSERT_TRUE(Eventually([&] { return Reconciles() > before; }));
    }
  }

  // Read-modify-write of an object, retried when it races with a controller's (or the
  // simulator's) own writes.
  void Edit(const std::string& api_version, const std::string& resource, const std::string& name,
            const std::function<void(json&)>& edit) {
    for (int attempt = 0;; ++attempt) {
      auto cur = server_->Get(api_version, resource, kNs, name);
      ASSERT_TRUE(cur) << cur.error().ToString();
      edit(*cur);
      auto r = server_->Update(api_version, resource, kNs, *cur);
      if (r) return;
      ASSERT_EQ(r.error().code, ErrorCode::kConflict) << r.error().ToString();
      ASSERT_LT(attempt, 50) << r.error().ToString();
    }
  }
  void EditWd(const std::string& name, const std::function<void(json&)>& edit) {
    Edit("tether.dev/v1alpha1", "workloaddependencies", name, edit);
  }

  // State of the WorkloadDependency's `i`th dependency in its status ("" when not reported).
  std::string DepState(const std::string& wd, std::size_t i = 0) {
    json st = GetWd(wd)["status"];
    if (!st.is_object() || !st.contains("dependencies") || !st["dependencies"].is_array() ||
        st["dependencies"].size() <= i) {
      return "";
    }
    return st["dependencies"][i].value("state", "");
  }
  // The status condition of `type`, or null.
  json Condition(const std::string& wd, const std::string& type) {
    json st = GetWd(wd)["status"];
    if (!st.is_object() || !st.contains("conditions")) return json();
    for (const auto& c : st["conditions"]) {
      if (c.value("type", "") == type) return c;
    }
    return json();
  }
  std::string Message(const std::string& wd) {
    json st = GetWd(wd)["status"];
    return st.is_object() ? st.value("message", "") : "";
  }

  // Waits until the simulator reports every pod of the workload ready.
  void WaitAllReady(SimKind kind, const std::string& name) {
    ASSERT_TRUE(Eventually([&] {
      json o = Get(kind, name);
      if (!o.is_object() || !o.contains("status") || !o["status"].is_object()) return false;
      const json& st = o["status"];
      if (kind == SimKind::kDaemonSet) {
        return st.value("desiredNumberScheduled", int64_t{0}) > 0 &&
               st.value("numberReady", int64_t{-1}) ==
                   st.value("desiredNumberScheduled", int64_t{0});
      }
      return st.value("readyReplicas", int64_t{-1}) == o["spec"].value("replicas", int64_t{1});
    })) << Get(kind, name).dump(2);
  }

  FakeClock clock_;
  RealClock real_clock_;
  metrics::Registry registry_;
  std::unique_ptr<testing::ApiServer> server_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<kube::Client> sim_client_;
  std::unique_ptr<sim::ClientCluster> sim_cluster_;
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<DependencyController> controller_;
};

// The basic incident: the database fails, payments is scaled to zero once the window expires,
// and restored to its count once the database has been healthy for the recovery window.
TEST_F(ControllerTest, ScalesToZeroAfterWindowAndRestoresAfterRecoveryWindow) {
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  CreateWd("payments-needs-db", {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
                                 {"dependsOn", {Dep("db", "30s", "60s")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_EQ(GetWd("payments-needs-db")["metadata"]["finalizers"][0], "tether.dev/restore");

  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  Advance(seconds(29));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  Advance(seconds(1));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 0; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Suspended"));
  json payments = Get(SimKind::kDeployment, "payments");
  EXPECT_EQ(payments["metadata"]["annotations"]["tether.dev/saved-replicas"], "4");
  EXPECT_EQ(payments["metadata"]["annotations"]["tether.dev/suspended-by"],
            "prod/payments-needs-db");
  EXPECT_EQ(GetWd("payments-needs-db")["status"]["savedReplicas"], 4);

  Heal(SimKind::kDeployment, "db");
  ASSERT_TRUE(Eventually([&] {
    return GetWd("payments-needs-db")["status"].contains("healthySince");
  })) << GetWd("payments-needs-db").dump(2);
  Advance(seconds(59));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
  Advance(seconds(1));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  payments = Get(SimKind::kDeployment, "payments");
  EXPECT_FALSE(payments["metadata"].contains("annotations") &&
               payments["metadata"]["annotations"].contains("tether.dev/suspended-by"));
  EXPECT_EQ(
      Metric("tether_suspensions_total{namespace=\"prod\",kind=\"Deployment\",name=\"payments\"}"),
      1);
  EXPECT_EQ(
      Metric("tether_restores_total{namespace=\"prod\",kind=\"Deployment\",name=\"payments\"}"), 1);
}

TEST_F(ControllerTest, BlipShorterThanWindowDoesNothing) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  Advance(seconds(20));
  Heal(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Advance(seconds(120));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by"));
  // Events are written asynchronously by the aggregating recorder, after the status.
  EXPECT_TRUE(Eventually([&] { return HasEvent("Degraded", "payments-needs-db"); }));
}

// A flapping dependency repeats the same Warning: one aggregated Event whose count grows, not
// one Event per flap.
TEST_F(ControllerTest, RepeatedWarningIsOneEventWithGrowingCount) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  for (int i = 0; i < 3; ++i) {
    Break(SimKind::kDeployment, "db");
    ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
    Heal(SimKind::kDeployment, "db");
    ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  }
  auto degraded_events = [&] {
    std::vector<json> out;
    auto list = server_->List("v1", "events", kNs);
    if (!list) return out;
    for (const auto& e : (*list)["items"]) {
      if (e.value("reason", "") == "Degraded" &&
          e["involvedObject"].value("name", "") == "payments-needs-db") {
        out.push_back(e);
      }
    }
    return out;
  };
  ASSERT_TRUE(Eventually([&] {
    auto evs = degraded_events();
    return evs.size() == 1 && evs[0].value("count", 0) == 3;
  })) << json(degraded_events()).dump(2);
  json ev = degraded_events()[0];
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_EQ(ev["source"]["component"], "tether-controller");
}

TEST_F(ControllerTest, RecoveryClockResetsOnRelapse) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  RecoverVia("payments-needs-db", "db", seconds(40), /*partial=*/true);
  // Relapse 40 s into the 60 s recovery window: the clock starts over.
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(
      Eventually([&] { return !GetWd("payments-needs-db")["status"].contains("healthySince"); }));
  RecoverVia("payments-needs-db", "db", seconds(40), /*partial=*/true);
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
  EXPECT_EQ(Phase("payments-needs-db"), "Suspended");
  Advance(seconds(20));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
}

TEST_F(ControllerTest, StrictModeRevertsManualScaleUpAndKeepsSavedCount) {
  Incident("strict");
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 0; }));
  Scale(SimKind::kDeployment, "payments", 7);
  ASSERT_TRUE(Eventually([&] {
    return Replicas(SimKind::kDeployment, "payments") == 0 &&
           Metric("tether_strict_reverts_total") == 1;
  }));
  EXPECT_EQ(Annotations(SimKind::kDeployment, "payments")["tether.dev/saved-replicas"], "4");
  EXPECT_TRUE(Eventually([&] { return HasEvent("StrictEnforced", "payments-needs-db"); }));
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
}

TEST_F(ControllerTest, SoftModeRespectsManualScale) {
  Incident("soft");
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  Scale(SimKind::kDeployment, "payments", 2);
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  // Recovery leaves the dependent as the user set it.
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 2);
  EXPECT_EQ(Metric("tether_strict_reverts_total"), 0);
}

TEST_F(ControllerTest, ObserveModeChangesNothingAndReportsObservedOnTime) {
  Incident("observe");
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  Advance(seconds(29));
  EXPECT_EQ(Phase("payments-needs-db"), "Degraded");
  Advance(seconds(1));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Observed"));
  // Events are written asynchronously by the aggregating recorder, after the status.
  EXPECT_TRUE(Eventually([&] { return HasEvent("WouldSuspend", "payments-needs-db"); }));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by"));
}

// SPEC §2.5 gate mode: tether never scales the dependent; while a dependency is unhealthy the
// phase is Degraded with Ready=False reason ScaleUpBlocked (what the admission webhook reads),
// however long it lasts, and Healthy again as soon as the dependency recovers.
TEST_F(ControllerTest, GateModeNeverScalesAndBlocksScaleUpsWhileUnhealthy) {
  Incident("gate");
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  json ready = Condition("payments-needs-db", "Ready");
  EXPECT_EQ(ready.value("status", ""), "False") << ready.dump();
  EXPECT_EQ(ready.value("reason", ""), "ScaleUpBlocked") << ready.dump();
  EXPECT_NE(Message("payments-needs-db").find("scale-ups of Deployment/payments are blocked"),
            std::string::npos)
      << Message("payments-needs-db");
  // Far past the window: still only blocking.
  Advance(seconds(120));
  ReconcileNow();
  EXPECT_EQ(Phase("payments-needs-db"), "Degraded");
  EXPECT_EQ(Condition("payments-needs-db", "Ready").value("reason", ""), "ScaleUpBlocked");
  EXPECT_EQ(Condition("payments-needs-db", "Suspended").value("status", ""), "False");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by"));
  EXPECT_EQ(
      Metric("tether_suspensions_total{namespace=\"prod\",kind=\"Deployment\",name=\"payments\"}"),
      -1);
  // Recovery needs no recovery window in gate mode: scale-ups are allowed again at once.
  Heal(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_EQ(Condition("payments-needs-db", "Ready").value("status", ""), "True");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

// SPEC §2.5: tether leaves the dependent restored when it stops being responsible for it, here
// because the mode changes from strict to gate or observe while the dependent is suspended.
class ModeChangeTest : public ControllerTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ModeChangeTest, ModeChangeWhileSuspendedRestoresTheDependent) {
  const std::string mode = GetParam();
  Incident("strict");
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  ASSERT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);

  EditWd("payments-needs-db", [&](json& wd) { wd["spec"]["mode"] = mode; });
  // The dependency is still unhealthy past its window: gate blocks scale-ups, observe reports
  // what strict mode would be doing. Neither keeps the dependent down.
  const std::string phase = mode == "gate" ? "Degraded" : "Observed";
  ASSERT_TRUE(Eventually([&] {
    return Replicas(SimKind::kDeployment, "payments") == 4 &&
           !Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by");
  })) << Get(SimKind::kDeployment, "payments").dump(2);
  ASSERT_TRUE(WaitPhase("payments-needs-db", phase));
  json payments_annotations = Annotations(SimKind::kDeployment, "payments");
  for (const char* a :
       {"tether.dev/saved-replicas", "tether.dev/suspended-because", "tether.dev/suspended-at"}) {
    EXPECT_FALSE(payments_annotations.contains(a)) << a;
  }
  json ready = Condition("payments-needs-db", "Ready");
  EXPECT_EQ(ready.value("status", ""), "False") << ready.dump();
  EXPECT_EQ(ready.value("reason", ""), mode == "gate" ? "ScaleUpBlocked" : "WouldSuspend");
  EXPECT_EQ(Condition("payments-needs-db", "Suspended").value("status", ""), "False");
  EXPECT_FALSE(GetWd("payments-needs-db")["status"].contains("savedReplicas"));
  EXPECT_TRUE(Eventually([&] { return HasEvent("Restored", "payments"); }));
  EXPECT_EQ(
      Metric("tether_restores_total{namespace=\"prod\",kind=\"Deployment\",name=\"payments\"}"), 1);

  // Nothing is suspended again while the dependency stays down.
  Advance(seconds(120));
  ReconcileNow();
  EXPECT_EQ(Phase("payments-needs-db"), phase);
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);

  // Recovery: gate allows scale-ups at once; observe reports Healthy when strict would restore.
  Heal(SimKind::kDeployment, "db");
  if (mode == "observe") {
    ASSERT_TRUE(
        Eventually([&] { return GetWd("payments-needs-db")["status"].contains("healthySince"); }));
    EXPECT_EQ(Phase("payments-needs-db"), "Observed");
    AdvanceToDeadline(seconds(60));
  }
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

INSTANTIATE_TEST_SUITE_P(GateAndObserve, ModeChangeTest, ::testing::Values("gate", "observe"),
                         [](const auto& info) { return std::string(info.param); });

// SPEC §2.5: when spec.dependent names another workload while suspended, the old dependent is
// restored exactly and the new one is handled by the state machine: the dependency has been
// degraded for longer than its window already, so the new dependent is suspended at once.
TEST_F(ControllerTest, DependentChangeWhileSuspendedRestoresTheOldOne) {
  Incident();
  CreateWorkload(SimKind::kDeployment, "checkout", 2);
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 0; }));

  EditWd("payments-needs-db", [](json& wd) { wd["spec"]["dependent"]["name"] = "checkout"; });
  ASSERT_TRUE(Eventually([&] {
    return Replicas(SimKind::kDeployment, "payments") == 4 &&
           Annotations(SimKind::kDeployment, "payments").empty();
  })) << Get(SimKind::kDeployment, "payments").dump(2);
  ASSERT_TRUE(Eventually([&] {
    json st = GetWd("payments-needs-db")["status"];
    return Replicas(SimKind::kDeployment, "checkout") == 0 && st.is_object() &&
           st.value("dependentRef", "") == "Deployment/prod/checkout" &&
           st.value("savedReplicas", int64_t{-1}) == 2;
  })) << GetWd("payments-needs-db").dump(2);
  EXPECT_EQ(Phase("payments-needs-db"), "Suspended");
  json checkout = Annotations(SimKind::kDeployment, "checkout");
  EXPECT_EQ(checkout.value("tether.dev/suspended-by", ""), "prod/payments-needs-db");
  EXPECT_EQ(checkout.value("tether.dev/saved-replicas", ""), "2");
  EXPECT_TRUE(Eventually([&] { return HasEvent("Restored", "payments"); }));

  // Recovery restores the new dependent only; the old one is no longer ours.
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "checkout") == 2; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "checkout").contains("tether.dev/suspended-by"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

// SPEC §2.5 Argo Rollouts: a Rollout that is Progressing when its suspension is due is left
// alone (the message says so) while the window keeps counting; once the rollout has finished,
// it is suspended at once.
TEST_F(ControllerTest, RolloutDependentIsNotSuspendedWhileProgressing) {
  CreateCrd("argoproj.io", "v1alpha1", "Rollout", "rollouts", true);
  CreateWorkload(SimKind::kDeployment, "db", 3);
  json rollout = Workload(SimKind::kRollout, "app", 4);
  rollout["metadata"]["annotations"] = {{std::string(sim::kRolloutPhaseAnnotation), "Progressing"}};
  ASSERT_TRUE(
      server_->Create(ApiVersionOf(SimKind::kRollout), Plural(SimKind::kRollout), kNs, rollout));
  WaitReady(SimKind::kDeployment, "db", 3);
  ASSERT_TRUE(Eventually([&] {
    json st = Get(SimKind::kRollout, "app")["status"];
    return st.is_object() && st.value("phase", "") == "Progressing";
  }));
  CreateWd("app-needs-db",
           {{"dependent", {{"kind", "Rollout"}, {"name", "app"}}}, {"dependsOn", {Dep("db")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));

  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("app-needs-db", "Degraded"));
  AdvanceToDeadline(seconds(30));
  ASSERT_TRUE(Eventually([&] {
    return Message("app-needs-db").find("suspension deferred while Rollout/app is Progressing") !=
           std::string::npos;
  })) << GetWd("app-needs-db").dump(2);
  EXPECT_EQ(Phase("app-needs-db"), "Degraded");
  EXPECT_EQ(Replicas(SimKind::kRollout, "app"), 4);
  EXPECT_FALSE(Annotations(SimKind::kRollout, "app").contains("tether.dev/suspended-by"));

  // The rollout finishes: no new window, the suspension that was due happens now.
  Edit(ApiVersionOf(SimKind::kRollout), Plural(SimKind::kRollout), "app", [](json& o) {
    o["metadata"]["annotations"].erase(std::string(sim::kRolloutPhaseAnnotation));
  });
  ASSERT_TRUE(WaitPhase("app-needs-db", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kRollout, "app"), 0);
  EXPECT_EQ(Annotations(SimKind::kRollout, "app").value("tether.dev/saved-replicas", ""), "4");
  EXPECT_TRUE(Eventually([&] { return HasEvent("ScaledToZero", "app-needs-db"); }));
}

TEST_F(ControllerTest, DeletionWhileSuspendedRestoresAndRemovesFinalizer) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  ASSERT_TRUE(
      server_->Delete("tether.dev/v1alpha1", "workloaddependencies", kNs, "payments-needs-db"));
  ASSERT_TRUE(Eventually([&] { return GetWd("payments-needs-db").is_null(); }));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by"));
  // The phase series goes away with the object.
  EXPECT_TRUE(Eventually([&] {
    return registry_.Serialize().find("name=\"payments-needs-db\",phase=") == std::string::npos;
  }));
}

TEST_F(ControllerTest, DeletionWhileDegradedOrHealthyJustRemovesFinalizer) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  ASSERT_TRUE(
      server_->Delete("tether.dev/v1alpha1", "workloaddependencies", kNs, "payments-needs-db"));
  ASSERT_TRUE(Eventually([&] { return GetWd("payments-needs-db").is_null(); }));
  Advance(seconds(60));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

TEST_F(ControllerTest, RestartedControllerRestoresFromDurableRecord) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  controller_.reset();
  // Even a lost status does not lose the saved count: the record on the dependent has it.
  json wd = GetWd("payments-needs-db");
  wd["status"] = json::object();
  ASSERT_TRUE(server_->UpdateStatus("tether.dev/v1alpha1", "workloaddependencies", kNs, wd));
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Suspended"));
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
}

TEST_F(ControllerTest, UnobservableDependencyNeverSuspends) {
  Incident();
  // Listing Deployments fails for good: the dependency cannot be observed.
  server_->FailNext("list", "deployments", 1000000, 503, "etcd unavailable");
  auto o = Options();
  auto c = DependencyController::Create(o);
  ASSERT_TRUE(c);
  controller_ = std::move(*c);
  controller_->Start();
  // The reconcile runs (the finalizer is added) but decides nothing while it is blind.
  ASSERT_TRUE(Eventually([&] {
    json wd = GetWd("payments-needs-db");
    return wd["metadata"].contains("finalizers");
  }));
  Break(SimKind::kDeployment, "db");
  for (int i = 0; i < 10; ++i) Advance(seconds(30));
  EXPECT_NE(Phase("payments-needs-db"), "Suspended");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

TEST_F(ControllerTest, WatchDisconnectsAndApiErrorsDoNotCauseSuspension) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  server_->FailNext("patch", "deployments/scale", 3, 500, "boom");
  server_->DropWatches();
  Advance(seconds(5));
  server_->DropWatches();
  Advance(seconds(120));
  EXPECT_EQ(Phase("payments-needs-db"), "Healthy");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  // Once the dependency really fails, the failed scale requests are retried until they land.
  server_->FailNext("patch", "deployments/scale", 2, 503, "unavailable");
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));
  Advance(seconds(30));
  for (int i = 0; i < 20 && Replicas(SimKind::kDeployment, "payments") != 0; ++i) {
    Advance(seconds(2));  // the work queue's retry backoff runs on the fake clock
    Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 0; }, seconds(1));
  }
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Suspended"));
  EXPECT_EQ(Annotations(SimKind::kDeployment, "payments")["tether.dev/saved-replicas"], "4");
}

// SPEC §2.3/§9: while the dependency's watch is broken its health is Unknown (the phase stays
// Degraded with its clock frozen), however long the outage and however unhealthy it looked just
// before; once the watch is back and the dependency is really unhealthy, the window runs again.
TEST_F(ControllerTest, BrokenDependencyWatchIsUnknownAndNeverSuspends) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  Break(SimKind::kDeployment, "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Degraded"));

  // The simulator stops (db stays broken) so that only the controller meets the injected faults.
  sim_->Stop();
  // The Deployments watch breaks: the resumed watch fails, and so do the next relists.
  constexpr int kListFailures = 4;
  const int lists_before = server_->RequestCount("list", "deployments");
  server_->FailNext("watch", "deployments", 1, 500, "watch cache unavailable");
  server_->FailNext("list", "deployments", kListFailures, 500, "etcd unavailable");
  server_->DropWatches();
  auto db_state = [&] {
    json deps = GetWd("payments-needs-db")["status"]["dependencies"];
    return deps.is_array() && deps.size() == 1 ? deps[0].value("state", "") : std::string();
  };
  // (The informer may back off briefly before resuming a stream that closed without progress.)
  auto broken_after = AdvanceUntil([&] { return db_state() == "Unknown"; }, seconds(1), 10);
  ASSERT_TRUE(broken_after) << GetWd("payments-needs-db").dump(2);
  std::string status = GetWd("payments-needs-db")["status"].dump();
  EXPECT_NE(status.find("watch on deployments.apps broken"), std::string::npos) << status;
  EXPECT_NE(status.find("watch cache unavailable"), std::string::npos) << status;

  // Far longer than the 30s window passes while every relist fails.
  Duration outage{0};
  while (server_->RequestCount("list", "deployments") < lists_before + kListFailures) {
    ASSERT_LT(outage, seconds(600)) << "the informer stopped retrying its list";
    int seen = server_->RequestCount("list", "deployments");
    Advance(seconds(30));
    outage += seconds(30);
    Eventually([&] { return server_->RequestCount("list", "deployments") > seen; },
               std::chrono::seconds(5));
    EXPECT_EQ(db_state(), "Unknown");
    EXPECT_EQ(Phase("payments-needs-db"), "Degraded");
    EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  }
  EXPECT_GE(outage, seconds(90));
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "payments").contains("tether.dev/suspended-by"));

  // The watch recovers (the next relist succeeds): db is judged again, and is unhealthy. The
  // window resumes where it froze, so what was left of it is still needed.
  ASSERT_TRUE(AdvanceUntil([&] { return db_state() == "Unhealthy"; }, seconds(1), 120))
      << GetWd("payments-needs-db").dump(2);
  EXPECT_EQ(Phase("payments-needs-db"), "Degraded");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  Advance(seconds(30) - *broken_after);
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
}

TEST_F(ControllerTest, InvalidSpecOnlyAffectsItself) {
  Incident();
  CreateWorkload(SimKind::kDeployment, "reports", 2);
  // SPEC §2.1: a malformed spec reaches the controller when an older CRD without validation is
  // installed (the API server would reject it otherwise). Install such a CRD first.
  json old_crd = WorkloadDependencyCrd();
  json& version = old_crd["spec"]["versions"][0];
  version["schema"]["openAPIV3Schema"]["properties"]["spec"] = {
      {"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  auto current = server_->Get("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                              old_crd["metadata"]["name"]);
  ASSERT_TRUE(current) << current.error().ToString();
  old_crd["metadata"]["resourceVersion"] = (*current)["metadata"]["resourceVersion"];
  auto replaced =
      server_->Update("apiextensions.k8s.io/v1", "customresourcedefinitions", "", old_crd);
  ASSERT_TRUE(replaced) << replaced.error().ToString();
  // The dependent appears in its own dependsOn: invalid.
  CreateWd("broken", {{"dependent", {{"kind", "Deployment"}, {"name", "reports"}}},
                      {"dependsOn", {Dep("reports"), Dep("db")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("broken", "Unknown"));
  json st = GetWd("broken")["status"];
  bool invalid = false;
  for (const auto& c : st["conditions"]) {
    if (c.value("reason", "") == "InvalidSpec") invalid = true;
  }
  EXPECT_TRUE(invalid) << st.dump(2);
  EXPECT_TRUE(Eventually([&] { return HasEvent("InvalidSpec", "broken"); }));
  SuspendVia("payments-needs-db", "db");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "reports"), 2);
  EXPECT_EQ(Phase("broken"), "Unknown");
}

TEST_F(ControllerTest, PauseFreezesEverythingAndUnpauseResumes) {
  Incident();
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  EditWd("payments-needs-db",
         [](json& wd) { wd["metadata"]["annotations"]["tether.dev/paused"] = "true"; });
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Paused"));
  Heal(SimKind::kDeployment, "db");
  // Paused still observes (the dependency table stays current); it only never acts.
  ASSERT_TRUE(Eventually([&] {
    json st = GetWd("payments-needs-db")["status"];
    return st["dependencies"][0].value("state", "") == "Healthy";
  })) << GetWd("payments-needs-db").dump(2);
  Advance(seconds(120));
  EXPECT_EQ(Phase("payments-needs-db"), "Paused");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
  EditWd("payments-needs-db",
         [](json& wd) { wd["metadata"]["annotations"].erase("tether.dev/paused"); });
  // The database has been healthy for longer than the recovery window: restored at once.
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
}

TEST_F(ControllerTest, MaxSuspendDurationReleasesUntilRealRecovery) {
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  json spec = PaymentsNeedsDb();
  spec["onDegraded"] = {{"action", "ScaleToZero"}, {"maxSuspendDuration", "5m"}};
  CreateWd("payments-needs-db", spec);
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  Advance(std::chrono::minutes(5));
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Released"));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 4; }));
  Advance(std::chrono::minutes(2));
  EXPECT_EQ(Phase("payments-needs-db"), "Released");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
}

TEST_F(ControllerTest, MultipleDependenciesWithDifferentWindows) {
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(SimKind::kDeployment, "cache", 2);
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  WaitReady(SimKind::kDeployment, "cache", 2);
  CreateWd("payments-needs-both",
           {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn", {Dep("db", "30s", "60s"), Dep("cache", "2m", "60s")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-both", "Healthy"));
  Break(SimKind::kDeployment, "cache");
  ASSERT_TRUE(WaitPhase("payments-needs-both", "Degraded"));
  Advance(seconds(60));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  Advance(seconds(60));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "payments") == 0; }));
  ASSERT_TRUE(WaitPhase("payments-needs-both", "Suspended"));
}

TEST_F(ControllerTest, MutualDependencyWithOneSideFailingSuspendsOnlyTheOther) {
  CreateWorkload(SimKind::kDeployment, "a", 3);
  CreateWorkload(SimKind::kDeployment, "b", 2);
  WaitReady(SimKind::kDeployment, "a", 3);
  WaitReady(SimKind::kDeployment, "b", 2);
  CreateWd("a-needs-b",
           {{"dependent", {{"kind", "Deployment"}, {"name", "a"}}}, {"dependsOn", {Dep("b")}}});
  CreateWd("b-needs-a",
           {{"dependent", {{"kind", "Deployment"}, {"name", "b"}}}, {"dependsOn", {Dep("a")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("a-needs-b", "Healthy"));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Healthy"));
  Break(SimKind::kDeployment, "a");
  ASSERT_TRUE(WaitPhase("b-needs-a", "Degraded"));
  Advance(seconds(30));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Suspended"));
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "b") == 0; }));
  // a is not suspended because of b (b is only down because of a).
  Advance(seconds(60));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "a"), 3);
  EXPECT_NE(Phase("a-needs-b"), "Suspended");
  RecoverVia("b-needs-a", "a");
  ASSERT_TRUE(Eventually([&] { return Replicas(SimKind::kDeployment, "b") == 2; }));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Healthy"));
  ASSERT_TRUE(WaitPhase("a-needs-b", "Healthy"));
}

TEST_F(ControllerTest, ChainCascadesAndRecovers) {
  CreateWorkload(SimKind::kDeployment, "a", 3);
  CreateWorkload(SimKind::kDeployment, "b", 2);
  CreateWorkload(SimKind::kDeployment, "c", 5);
  WaitReady(SimKind::kDeployment, "a", 3);
  WaitReady(SimKind::kDeployment, "b", 2);
  CreateWd("b-needs-a",
           {{"dependent", {{"kind", "Deployment"}, {"name", "b"}}}, {"dependsOn", {Dep("a")}}});
  CreateWd("c-needs-b",
           {{"dependent", {{"kind", "Deployment"}, {"name", "c"}}}, {"dependsOn", {Dep("b")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("c-needs-b", "Healthy"));
  Break(SimKind::kDeployment, "a");
  ASSERT_TRUE(WaitPhase("b-needs-a", "Degraded"));
  Advance(seconds(30));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Suspended"));
  ASSERT_TRUE(WaitPhase("c-needs-b", "Degraded"));
  Advance(seconds(30));
  ASSERT_TRUE(WaitPhase("c-needs-b", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "c"), 0);
  EXPECT_EQ(Annotations(SimKind::kDeployment, "c")["tether.dev/suspended-because"],
            "Deployment/prod/a");
  RecoverVia("b-needs-a", "a");
  ASSERT_TRUE(WaitPhase("b-needs-a", "Healthy"));
  WaitReady(SimKind::kDeployment, "b", 2);
  ASSERT_TRUE(Eventually([&] { return GetWd("c-needs-b")["status"].contains("healthySince"); }));
  Advance(seconds(60));
  ASSERT_TRUE(WaitPhase("c-needs-b", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "c"), 5);
}

TEST_F(ControllerTest, BothSidesOfMutualPairFailingRecoverWithoutDeadlock) {
  CreateWorkload(SimKind::kDeployment, "a", 3);
  CreateWorkload(SimKind::kDeployment, "b", 2);
  WaitReady(SimKind::kDeployment, "a", 3);
  WaitReady(SimKind::kDeployment, "b", 2);
  CreateWd("a-needs-b",
           {{"dependent", {{"kind", "Deployment"}, {"name", "a"}}}, {"dependsOn", {Dep("b")}}});
  CreateWd("b-needs-a",
           {{"dependent", {{"kind", "Deployment"}, {"name", "b"}}}, {"dependsOn", {Dep("a")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("a-needs-b", "Healthy"));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Healthy"));
  Break(SimKind::kDeployment, "a");
  Break(SimKind::kDeployment, "b");
  ASSERT_TRUE(WaitPhase("a-needs-b", "Degraded"));
  ASSERT_TRUE(WaitPhase("b-needs-a", "Degraded"));
  Advance(seconds(30));
  ASSERT_TRUE(Eventually([&] {
    return Replicas(SimKind::kDeployment, "a") == 0 || Replicas(SimKind::kDeployment, "b") == 0;
  }));
  Heal(SimKind::kDeployment, "a");
  Heal(SimKind::kDeployment, "b");
  // Whatever was suspended comes back: no deadlock, no manual step.
  bool restored = false;
  for (int i = 0; i < 10 && !restored; ++i) {
    Advance(seconds(60));
    restored = Eventually(
        [&] {
          return Replicas(SimKind::kDeployment, "a") == 3 &&
                 Replicas(SimKind::kDeployment, "b") == 2 && Phase("a-needs-b") == "Healthy" &&
                 Phase("b-needs-a") == "Healthy";
        },
        seconds(2));
  }
  EXPECT_TRUE(restored) << GetWd("a-needs-b").dump(2) << GetWd("b-needs-a").dump(2);
}

TEST_F(ControllerTest, ThreeCycleIsFlaggedAndUnflagged) {
  for (const char* n : {"x", "y", "z"}) CreateWorkload(SimKind::kDeployment, n, 1);
  CreateWd("x-needs-y",
           {{"dependent", {{"kind", "Deployment"}, {"name", "x"}}}, {"dependsOn", {Dep("y")}}});
  CreateWd("y-needs-z",
           {{"dependent", {{"kind", "Deployment"}, {"name", "y"}}}, {"dependsOn", {Dep("z")}}});
  CreateWd("z-needs-x",
           {{"dependent", {{"kind", "Deployment"}, {"name", "z"}}}, {"dependsOn", {Dep("x")}}});
  StartController();
  auto flagged = [&] {
    std::vector<std::string> out;
    for (const char* n : {"x-needs-y", "y-needs-z", "z-needs-x"}) {
      json st = GetWd(n)["status"];
      if (!st.is_object()) continue;
      for (const auto& c : st.value("conditions", json::array())) {
        if (c.value("type", "") == "CycleDetected" && c.value("status", "") == "True") {
          out.push_back(n);
        }
      }
    }
    return out;
  };
  ASSERT_TRUE(Eventually([&] { return flagged().size() == 1; }));
  std::string closer = flagged()[0];
  EXPECT_EQ(Phase(closer), "Unknown");
  EXPECT_TRUE(Eventually([&] { return HasEvent("CycleDetected", closer); }));
  // Break the cycle elsewhere: the flag goes away.
  std::string other = closer == "x-needs-y" ? "y-needs-z" : "x-needs-y";
  ASSERT_TRUE(server_->Delete("tether.dev/v1alpha1", "workloaddependencies", kNs, other));
  ASSERT_TRUE(Eventually([&] { return flagged().empty() && Phase(closer) == "Healthy"; }))
      << GetWd(closer).dump(2);
}

TEST_F(ControllerTest, CelExpressionDependencyOnCustomObject) {
  CreateCrd("example.com", "v1", "Widget", "widgets", false);
  json w = {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w1"}}}};
  auto created = server_->Create("example.com/v1", "widgets", kNs, w);
  ASSERT_TRUE(created);
  (*created)["status"] = {{"ready", true}};  // status is written through its subresource
  ASSERT_TRUE(server_->UpdateStatus("example.com/v1", "widgets", kNs, *created));
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  CreateWd("payments-needs-widget",
           {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn",
             {{{"apiVersion", "example.com/v1"},
               {"kind", "Widget"},
               {"name", "w1"},
               {"condition", {{"expression", "resource.status.ready == true"}}}}}}});
  StartController();
  // The kind is discovered and watched on demand; a failed reconcile is retried with backoff
  // on the (fake) clock, hence the small steps.
  ASSERT_TRUE(AdvanceUntil(
      [&] {
        json st = GetWd("payments-needs-widget")["status"];
        return st.is_object() && st.contains("dependencies") &&
               st["dependencies"][0].value("state", "") == "Healthy";
      },
      std::chrono::milliseconds(100), 50))
      << GetWd("payments-needs-widget").dump(2);
  json cur = *server_->Get("example.com/v1", "widgets", kNs, "w1");
  cur["status"]["ready"] = false;
  ASSERT_TRUE(server_->UpdateStatus("example.com/v1", "widgets", kNs, cur));
  ASSERT_TRUE(WaitPhase("payments-needs-widget", "Degraded"));
  Advance(seconds(30));
  ASSERT_TRUE(WaitPhase("payments-needs-widget", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
}

// An expression that does not compile reaches the controller when no admission webhook checks
// it (the schema cannot): the WorkloadDependency is InvalidSpec, never suspends, and says why.
TEST_F(ControllerTest, ExpressionThatDoesNotCompileIsInvalidSpec) {
  CreateCrd("example.com", "v1", "Widget", "widgets", false);
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  CreateWd("payments-needs-widget",
           {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn",
             {{{"apiVersion", "example.com/v1"},
               {"kind", "Widget"},
               {"name", "w1"},
               {"condition", {{"expression", "resource.status.ready =="}}}}}}});
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-widget", "Unknown"));
  json st = GetWd("payments-needs-widget")["status"];
  bool invalid = false;
  for (const auto& c : st["conditions"]) {
    if (c.value("type", "") == "Ready") {
      EXPECT_EQ(c.value("status", ""), "False");
      invalid = c.value("reason", "") == "InvalidSpec";
    }
  }
  EXPECT_TRUE(invalid) << st.dump(2);
  EXPECT_NE(st.value("message", "").find("spec.dependsOn[0].condition.expression"),
            std::string::npos)
      << st.dump(2);
  Advance(seconds(120));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

// A local webhook receiver that records every POST and fails the first `fail_first` of them.
class Receiver {
 public:
  explicit Receiver(int fail_first = 0) : fail_first_(fail_first) {
    server_.Route("POST", "/hook", [this](const server::Request& req) {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      if (static_cast<int>(requests_.size()) <= fail_first_) {
        return server::Response::Text(500, "try later");
      }
      return server::Response::Text(200, "ok");
    });
    auto r = server_.Start();
    EXPECT_TRUE(r);
  }
  std::string url() const { return server_.url() + "/hook"; }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  server::Request at(std::size_t i) const {
    std::lock_guard lock(mu_);
    return requests_.at(i);
  }
  // Every body received, for failure messages.
  std::string Bodies() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& r : requests_) out += r.body + "\n";
    return out;
  }

 private:
  int fail_first_;
  server::HttpServer server_{server::HttpServerOptions{.name = "receiver"}};
  mutable std::mutex mu_;
  std::vector<server::Request> requests_;
};

std::string Base64(std::string_view in) {
  static constexpr char kA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {kA[v >> 18], kA[(v >> 12) & 63], kA[(v >> 6) & 63], kA[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {kA[v >> 18], kA[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kA[v >> 18], kA[(v >> 12) & 63], kA[(v >> 6) & 63], '='};
  }
  return out;
}

TEST_F(ControllerTest, NotificationIsSignedAndRecordedAfterDelivery) {
  Receiver receiver;
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "hook-hmac"}}},
                 {"data", {{"key", Base64("s3cret")}, {"url", Base64(receiver.url())}}}};
  ASSERT_TRUE(server_->Create("v1", "secrets", kNs, secret));
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  json spec = PaymentsNeedsDb();
  spec["notify"] = {{"webhookSecretRef", {{"name", "hook-hmac"}}},
                    {"signingSecretRef", {{"name", "hook-hmac"}, {"key", "key"}}}};
  CreateWd("payments-needs-db", spec);
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  // Exactly one delivery per phase (at-least-once without repeats, SPEC §2.7).
  ASSERT_TRUE(Eventually([&] { return receiver.count() >= 1; }));
  server::Request req = receiver.at(0);
  json body = json::parse(req.body);
  EXPECT_EQ(body["workloadDependency"], "payments-needs-db");
  EXPECT_EQ(body["namespace"], "prod");
  EXPECT_EQ(body["phase"], "Suspended");
  EXPECT_EQ(body["previousPhase"], "Degraded");
  EXPECT_EQ(body["dependent"], "payments");
  EXPECT_EQ(body["dependentKind"], "Deployment");
  EXPECT_EQ(body["dependencies"][0]["state"], "Unhealthy");
  EXPECT_EQ(req.Header("X-Tether-Signature"), SignatureHeader("s3cret", req.body));
  ASSERT_TRUE(Eventually([&] {
    return GetWd("payments-needs-db")["status"].value("lastNotifiedPhase", "") == "Suspended";
  }));
  RecoverVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return receiver.count() >= 2; })) << receiver.Bodies();
  EXPECT_EQ(receiver.count(), 2u) << receiver.Bodies();
  EXPECT_EQ(json::parse(receiver.at(1).body)["phase"], "Healthy");
  ASSERT_TRUE(Eventually([&] {
    return GetWd("payments-needs-db")["status"].value("lastNotifiedPhase", "") == "Healthy";
  }));
  Advance(std::chrono::minutes(11));  // a resync must not repeat anything
  EXPECT_EQ(receiver.count(), 2u) << receiver.Bodies();
  EXPECT_EQ(Metric("tether_notifications_total{result=\"success\"}"), 2);
}

TEST_F(ControllerTest, NotificationRetriesWithBackoffAndSlackFormat) {
  Receiver receiver(/*fail_first=*/2);
  Incident();
  json wd = GetWd("payments-needs-db");
  wd["spec"]["notify"] = {{"webhook", receiver.url()}, {"format", "slack"}};
  ASSERT_TRUE(server_->Update("tether.dev/v1alpha1", "workloaddependencies", kNs, wd));
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  ASSERT_TRUE(Eventually([&] { return receiver.count() == 1; }));
  // Backoff 1 s then 2 s (each plus up to 20% jitter), on the injected clock.
  auto first = AdvanceUntil([&] { return receiver.count() == 2; }, std::chrono::milliseconds(250));
  ASSERT_TRUE(first);
  // (Upper bounds leave room for a slow attempt on a loaded machine.)
  EXPECT_GE(*first, seconds(1));
  EXPECT_LE(*first, seconds(2));
  auto second = AdvanceUntil([&] { return receiver.count() == 3; }, std::chrono::milliseconds(250));
  ASSERT_TRUE(second);
  EXPECT_GE(*second, seconds(2));
  EXPECT_LE(*second, seconds(4));
  json body = json::parse(receiver.at(2).body);
  ASSERT_TRUE(body.contains("text")) << body.dump();
  EXPECT_NE(body["text"].get<std::string>().find("Suspended"), std::string::npos);
  ASSERT_TRUE(Eventually([&] {
    return GetWd("payments-needs-db")["status"].value("lastNotifiedPhase", "") == "Suspended";
  }));
  EXPECT_EQ(receiver.count(), 3u);
}

TEST_F(ControllerTest, NotificationGivesUpAfterFourAttemptsWithWarningEvent) {
  Receiver receiver(/*fail_first=*/100);
  Incident();
  json wd = GetWd("payments-needs-db");
  wd["spec"]["notify"] = {{"webhook", receiver.url()}};
  ASSERT_TRUE(server_->Update("tether.dev/v1alpha1", "workloaddependencies", kNs, wd));
  StartController();
  ASSERT_TRUE(WaitPhase("payments-needs-db", "Healthy"));
  SuspendVia("payments-needs-db", "db");
  for (std::size_t n = 1; n <= 4; ++n) {
    ASSERT_TRUE(AdvanceUntil([&] { return receiver.count() == n; }, std::chrono::milliseconds(500)))
        << n;
  }
  ASSERT_TRUE(Eventually([&] { return HasEvent("NotificationFailed", "payments-needs-db"); }));
  Advance(seconds(30));
  EXPECT_EQ(receiver.count(), 4u);
  EXPECT_EQ(Metric("tether_notifications_total{result=\"failure\"}"), 1);
}

TEST_F(ControllerTest, PrometheusDependencyWithRealPrometheus) {
  if (!prom::PrometheusServer::Available()) {
    GTEST_SKIP() << "/usr/bin/prometheus not installed (Debian package `prometheus`)";
  }
  auto p = prom::PrometheusServer::Start();
  ASSERT_TRUE(p) << p.error().ToString();
  auto& prometheus = **p;
  prometheus.SetMetrics("pg_up{service=\"postgresql\"} 1\n");
  ASSERT_TRUE(prometheus.WaitForSamples("pg_up{service=\"postgresql\"} == 1", 1));
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  CreateWd("payments-needs-pg",
           {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn", {{{"prometheus", {{"query", "pg_up{service=\"postgresql\"} == 1"}}}}}}});
  auto o = Options();
  o.prometheus_url = prometheus.url();
  StartController(o);
  // Each step of the fake clock is one poll (--prometheus-interval 15s). A real Prometheus on a
  // loaded machine may miss a scrape, so wait for the state rather than count polls.
  auto dep_state = [&] {
    json st = GetWd("payments-needs-pg")["status"];
    if (!st.is_object() || !st.contains("dependencies")) return std::string();
    return st["dependencies"][0].value("state", "");
  };
  ASSERT_TRUE(AdvanceUntil([&] { return dep_state() == "Healthy"; }, seconds(15), 20))
      << GetWd("payments-needs-pg").dump(2);
  ASSERT_TRUE(WaitPhase("payments-needs-pg", "Healthy"));
  prometheus.SetMetrics("pg_up{service=\"postgresql\"} 0\n");
  ASSERT_TRUE(prometheus.WaitForSamples("pg_up{service=\"postgresql\"} == 1", 0));
  ASSERT_TRUE(
      AdvanceUntil([&] { return Phase("payments-needs-pg") == "Degraded"; }, seconds(15), 4));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
  Advance(seconds(30));
  ASSERT_TRUE(WaitPhase("payments-needs-pg", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 0);
  prometheus.SetMetrics("pg_up{service=\"postgresql\"} 1\n");
  ASSERT_TRUE(prometheus.WaitForSamples("pg_up{service=\"postgresql\"} == 1", 1));
  ASSERT_TRUE(AdvanceUntil([&] { return Replicas(SimKind::kDeployment, "payments") == 4; },
                           seconds(15), 40));
  ASSERT_TRUE(WaitPhase("payments-needs-pg", "Healthy"));
}

TEST_F(ControllerTest, UnreachablePrometheusIsUnknownAndNeverSuspends) {
  CreateWorkload(SimKind::kDeployment, "payments", 4);
  CreateWd("payments-needs-pg", {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
                                 {"dependsOn", {{{"prometheus", {{"query", "up == 1"}}}}}}});
  auto o = Options();
  o.prometheus_url = "http://127.0.0.1:1";
  StartController(o);
  ASSERT_TRUE(Eventually([&] {
    json st = GetWd("payments-needs-pg")["status"];
    return st.is_object() && st.contains("dependencies") &&
           st["dependencies"][0].value("state", "") == "Unknown";
  })) << GetWd("payments-needs-pg").dump(2);
  for (int i = 0; i < 8; ++i) Advance(seconds(15));
  EXPECT_NE(Phase("payments-needs-pg"), "Suspended");
  EXPECT_EQ(Replicas(SimKind::kDeployment, "payments"), 4);
}

// Every dependent kind is suspended in its own way and restored exactly.
class DependentKindTest : public ControllerTest, public ::testing::WithParamInterface<SimKind> {};

TEST_P(DependentKindTest, SuspendsAndRestores) {
  const SimKind kind = GetParam();
  if (kind == SimKind::kRollout) CreateCrd("argoproj.io", "v1alpha1", "Rollout", "rollouts", true);
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(kind, "app", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  const std::string kind_name(sim::KindName(kind));
  CreateWd("app-needs-db",
           {{"dependent", {{"kind", kind_name}, {"name", "app"}}}, {"dependsOn", {Dep("db")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));
  SuspendVia("app-needs-db", "db");
  auto suspended_form = [&] {
    json o = Get(kind, "app");
    switch (kind) {
      case SimKind::kCronJob:
      case SimKind::kJob:
        return o["spec"].value("suspend", false);
      case SimKind::kDaemonSet: {
        json sel = o["spec"]["template"]["spec"].value("nodeSelector", json::object());
        return sel.value("tether.dev/suspended", "") == "true";
      }
      default:
        return o["spec"].value("replicas", 1) == 0;
    }
  };
  ASSERT_TRUE(Eventually(suspended_form)) << Get(kind, "app").dump(2);
  RecoverVia("app-needs-db", "db");
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));
  json o = Get(kind, "app");
  EXPECT_FALSE(suspended_form()) << o.dump(2);
  if (kind == SimKind::kDeployment || kind == SimKind::kStatefulSet ||
      kind == SimKind::kReplicaSet || kind == SimKind::kRollout) {
    EXPECT_EQ(o["spec"]["replicas"], 4);
  }
  EXPECT_FALSE(Annotations(kind, "app").contains("tether.dev/suspended-by"));
}

TEST_P(DependentKindTest, DeletionWhileSuspendedRestores) {
  const SimKind kind = GetParam();
  if (kind == SimKind::kRollout) CreateCrd("argoproj.io", "v1alpha1", "Rollout", "rollouts", true);
  CreateWorkload(SimKind::kDeployment, "db", 3);
  CreateWorkload(kind, "app", 4);
  WaitReady(SimKind::kDeployment, "db", 3);
  CreateWd("app-needs-db",
           {{"dependent", {{"kind", std::string(sim::KindName(kind))}, {"name", "app"}}},
            {"dependsOn", {Dep("db")}}});
  StartController();
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));
  SuspendVia("app-needs-db", "db");
  ASSERT_TRUE(server_->Delete("tether.dev/v1alpha1", "workloaddependencies", kNs, "app-needs-db"));
  ASSERT_TRUE(Eventually([&] { return GetWd("app-needs-db").is_null(); }));
  json o = Get(kind, "app");
  EXPECT_FALSE(Annotations(kind, "app").contains("tether.dev/suspended-by")) << o.dump(2);
  EXPECT_FALSE(o["spec"].value("suspend", false));
  EXPECT_FALSE(o["spec"].contains("replicas") && o["spec"]["replicas"] == 0);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, DependentKindTest,
                         ::testing::Values(SimKind::kDeployment, SimKind::kStatefulSet,
                                           SimKind::kReplicaSet, SimKind::kDaemonSet,
                                           SimKind::kCronJob, SimKind::kJob, SimKind::kRollout),
                         [](const auto& info) { return std::string(sim::KindName(info.param)); });

// Every dependency kind of SPEC §2.3 (the Deployment case is everywhere above; CEL and
// Prometheus have their own tests): the dependency fails, the dependent is suspended once the
// window expires, the dependency recovers, the dependent is restored after the recovery window.
struct DependencyCase {
  SimKind kind;
  bool exists_only;  // minReadyPercent: 0, healthy while the object exists (fails by deletion)
  const char* name;
};

class DependencyKindTest : public ControllerTest,
                           public ::testing::WithParamInterface<DependencyCase> {};

TEST_P(DependencyKindTest, UnhealthySuspendsAndRecoveryRestores) {
  const DependencyCase& c = GetParam();
  const std::string kind_name(sim::KindName(c.kind));
  CreateWorkload(SimKind::kDeployment, "app", 4);
  json dep = Dep("db", "30s", "60s", kind_name);
  if (c.exists_only) dep["condition"]["minReadyPercent"] = 0;
  CreateWd("app-needs-db",
           {{"dependent", {{"kind", "Deployment"}, {"name", "app"}}}, {"dependsOn", {dep}}});
  if (c.kind == SimKind::kRollout) {
    // Argo Rollouts is installed while tether runs: discovery notices the CRD (SPEC §2.3);
    // until then the dependency is Unknown, which never suspends.
    StartController();
    ASSERT_TRUE(Eventually([&] { return DepState("app-needs-db") == "Unknown"; }))
        << GetWd("app-needs-db").dump(2);
    CreateCrd("argoproj.io", "v1alpha1", "Rollout", "rollouts", true);
    CreateWorkload(c.kind, "db", 3);
    WaitAllReady(c.kind, "db");
    // Discovery retries every 30s of (fake) time.
    ASSERT_TRUE(AdvanceUntil([&] { return DepState("app-needs-db") == "Healthy"; }, seconds(30), 4))
        << GetWd("app-needs-db").dump(2);
  } else {
    CreateWorkload(c.kind, "db", 3);
    WaitAllReady(c.kind, "db");
    StartController();
    ASSERT_TRUE(Eventually([&] { return DepState("app-needs-db") == "Healthy"; }))
        << GetWd("app-needs-db").dump(2);
  }
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "app"), 4);

  if (c.exists_only) {
    ASSERT_TRUE(server_->Delete(ApiVersionOf(c.kind), Plural(c.kind), kNs, "db"));
  } else {
    Break(c.kind, "db");
  }
  ASSERT_TRUE(WaitPhase("app-needs-db", "Degraded"));
  EXPECT_EQ(DepState("app-needs-db"), c.exists_only ? "NotFound" : "Unhealthy");
  AdvanceToDeadline(seconds(30));
  ASSERT_TRUE(WaitPhase("app-needs-db", "Suspended"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "app"), 0);
  EXPECT_EQ(Annotations(SimKind::kDeployment, "app").value("tether.dev/suspended-because", ""),
            kind_name + "/prod/db");

  if (c.exists_only) {
    CreateWorkload(c.kind, "db", 3);
  } else {
    Heal(c.kind, "db");
  }
  ASSERT_TRUE(Eventually([&] { return GetWd("app-needs-db")["status"].contains("healthySince"); }))
      << GetWd("app-needs-db").dump(2);
  EXPECT_EQ(Phase("app-needs-db"), "Suspended");
  AdvanceToDeadline(seconds(60));
  ASSERT_TRUE(WaitPhase("app-needs-db", "Healthy"));
  EXPECT_EQ(Replicas(SimKind::kDeployment, "app"), 4);
  EXPECT_FALSE(Annotations(SimKind::kDeployment, "app").contains("tether.dev/suspended-by"));
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, DependencyKindTest,
    ::testing::Values(DependencyCase{SimKind::kStatefulSet, false, "StatefulSet"},
                      DependencyCase{SimKind::kReplicaSet, false, "ReplicaSet"},
                      DependencyCase{SimKind::kDaemonSet, false, "DaemonSet"},
                      DependencyCase{SimKind::kRollout, false, "Rollout"},
                      DependencyCase{SimKind::kDeployment, true, "ExistenceOnly"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tether::deps
