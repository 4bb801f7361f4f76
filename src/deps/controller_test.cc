// Integration tests of the WorkloadDependency controller: the real controller, over HTTPS, against
// the embedded API server, with the workload simulator playing the built-in controllers. Time
// windows run on a FakeClock; the tests wait on conditions with generous deadlines, never sleep
// for synchronisation.
#include "deps/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "deps/crd.h"
#include "kube/client.h"
#include "kube/config.h"
#include "testing/apiserver.h"
#include "testing/sim/simulator.h"

namespace tether::deps {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using SimKind = sim::Kind;

// Polls `pred` until it holds or `deadline` of real time passes.
template <class Pred>
bool Eventually(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(20)) {
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
    auto cert = server_->IssueClientCert("tether", {"system:masters"});
    EXPECT_TRUE(cert);
    kube::RestConfig rc;
    rc.server = server_->url();
    rc.ca_pem = server_->ca_pem();
    rc.client_cert_pem = cert->cert_pem;
    rc.client_key_pem = cert->key_pem;
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

  void Scale(SimKind kind, const std::string& name, int replicas) {
    json o = Get(kind, name);
    o["spec"]["replicas"] = replicas;
    auto r = server_->Update(ApiVersionOf(kind), Plural(kind), kNs, o);
    ASSERT_TRUE(r) << r.error().ToString();
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
  // Waits until the controller has armed its timers for the current state (so advancing the
  // FakeClock fires them), then advances.
  void Advance(Duration d) { clock_.Advance(d); }

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

  double Metric(const std::string& needle) {
    std::string text = registry_.Serialize();
    auto pos = text.find(needle + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + needle.size() + 1));
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

}  // namespace
}  // namespace tether::deps
