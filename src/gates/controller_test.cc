// Integration tests of the GateController against the embedded API server (real HTTPS, real
// watches, kube-apiserver scheduling-gate rules). Time-driven behaviour runs on a FakeClock;
// tests wait on conditions with generous deadlines, never sleep for synchronisation.
#include "gates/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "testing/apiserver.h"

namespace tether::gates {
namespace {

using std::chrono::seconds;

template <typename Pred>
bool Eventually(Pred pred, FakeClock* advance = nullptr) {
  auto end = std::chrono::steady_clock::now() + seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    // Lets backoff timers of reconnecting informers fire when a test breaks watches.
    if (advance != nullptr) advance->Advance(std::chrono::milliseconds(200));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

Json Pod(const std::string& name, const std::vector<std::string>& gates,
         const std::map<std::string, std::string>& annotations, const std::string& sa = "default") {
  Json g = Json::array();
  for (const auto& n : gates) g.push_back({{"name", n}});
  Json a = Json::object();
  for (const auto& [k, v] : annotations) a[k] = v;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"annotations", a}}},
          {"spec",
           {{"schedulingGates", g},
            {"serviceAccountName", sa},
            {"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}};
}

Json ConfigMap(const std::string& name, Json data = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", std::move(data)}};
}

// The CustomResourceDefinition of example.com/v1 Widget (namespaced, schemaless).
Json WidgetCrd() {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets.example.com"}}},
          {"spec",
           {{"group", "example.com"},
            {"scope", "Namespaced"},
            {"names",
             {{"plural", "widgets"},
              {"singular", "widget"},
              {"kind", "Widget"},
              {"listKind", "WidgetList"}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
}

Json Widget(const std::string& name, int size) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}}},
          {"spec", {{"size", size}}}};
}

class GateControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::ApiServerOptions so;
    so.clock = &clock_;
    so.bookmark_interval = std::chrono::milliseconds(500);
    so.namespaces.push_back("other");
    auto s = testing::ApiServer::Start(so);
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    auto rc = server_->RestConfigFor("tether");
    ASSERT_TRUE(rc) << rc.error().ToString();
    auto c = kube::Client::Create(*rc, clock_, {.qps = 1e6, .burst = 1000000});
    ASSERT_TRUE(c) << c.error().ToString();
    client_ = std::move(*c);
  }
  void TearDown() override { controller_.reset(); }

  GateControllerOptions Options() {
    GateControllerOptions o;
    o.clock = &clock_;
    o.client = client_.get();
    o.registry = &registry_;
    return o;
  }
  void StartController(GateControllerOptions o) {
    auto c = GateController::Create(std::move(o));
    ASSERT_TRUE(c) << c.error().ToString();
    controller_ = std::move(*c);
    controller_->Start();
    ASSERT_TRUE(Eventually([&] { return controller_->HasSynced(); }));
  }
  void StartController() { StartController(Options()); }

  void Create(const std::string& av, const std::string& res, const std::string& ns, Json obj) {
    auto r = server_->Create(av, res, ns, std::move(obj));
    ASSERT_TRUE(r) << r.error().ToString();
  }
  std::vector<std::string> Gates(const std::string& name, const std::string& ns = "default") {
    auto p = server_->Get("v1", "pods", ns, name);
    return p ? SchedulingGates(*p) : std::vector<std::string>{"<pod missing>"};
  }
  // Events about `pod` with `reason`; messages.
  std::vector<std::string> Events(const std::string& pod, const std::string& reason,
                                  const std::string& ns = "default") {
    std::vector<std::string> out;
    auto l = server_->List("v1", "events", ns);
    if (!l) return out;
    for (const auto& e : (*l)["items"]) {
      if (e["involvedObject"].value("name", "") == pod && e.value("reason", "") == reason) {
        out.push_back(e.value("message", ""));
      }
    }
    return out;
  }
  // Waits for an Event about `pod` with `reason` whose message contains `needle`. With
  // `advance`, steps the fake clock meanwhile (retries and informer backoff run on it).
  bool HasEvent(const std::string& pod, const std::string& reason, const std::string& needle,
                const std::string& ns = "default", FakeClock* advance = nullptr) {
    return Eventually(
        [&] {
          for (const auto& m : Events(pod, reason, ns)) {
            if (m.find(needle) != std::string::npos) return true;
          }
          return false;
        },
        advance);
  }
  // tether_gate_evaluations_total{result}.
  double Evaluations(const std::string& result) {
    return registry_
        .AddCounter("tether_gate_evaluations_total", "Gate condition evaluations by result.",
                    {"result"})
        .WithLabels({result})
        ->Value();
  }
  // tether_watch_restarts_total{resource, reason} of the informers (kube/informer.h).
  double WatchRestarts(const std::string& resource, const std::string& reason) {
    return registry_
        .AddCounter("tether_watch_restarts_total",
                    "Watch streams re-established, by resource and reason.", {"resource", "reason"})
        .WithLabels({resource, reason})
        ->Value();
  }
  // The tether_gate_watches gauge.
  double WatchGauge() {
    return registry_
        .AddGauge("tether_gate_watches", "Shared watches on resource types referenced by gates.")
        .WithLabels({})
        ->Value();
  }

  FakeClock clock_;
  metrics::Registry registry_;
  std::unique_ptr<testing::ApiServer> server_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<GateController> controller_;
};

const char kDb[] = "gate.tether.dev/database";
const char kCfg[] = "gate.tether.dev/config";

TEST_F(GateControllerTest, GatesOpenIndependentlyInOnePatchAndForeignGatesStay) {
  StartController();
  Create(
      "v1", "pods", "default",
      Pod("web", {kDb, "example.com/quota", kCfg},
          {{kDb,
            R"j({"apiVersion":"apps/v1","kind":"Deployment","name":"db","expression":"has(resource.status.readyReplicas) && resource.status.readyReplicas >= 1"})j"},
           {kCfg, R"j({"kind":"ConfigMap","name":"app-config"})j"}}));
  Json dep = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", "db"}}},
              {"spec",
               {{"replicas", 1},
                {"selector", {{"matchLabels", {{"app", "db"}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", "db"}}}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", "pg"}}}}}}}}}}};
  Create("apps/v1", "deployments", "default", dep);
  ASSERT_TRUE(Eventually([&] { return controller_->WatchCount() == 2; }));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 2; }));  // both evaluated
  EXPECT_EQ(Gates("web"), (std::vector<std::string>{kDb, "example.com/quota", kCfg}));

  Create("v1", "configmaps", "default", ConfigMap("app-config"));
  ASSERT_TRUE(Eventually([&] {
    return Gates("web") == std::vector<std::string>{kDb, "example.com/quota"};
  }));
  EXPECT_TRUE(HasEvent("web", "GateRemoved", kCfg));

  // (The EventRecorder names Events by timestamp: keep two removals apart on the fake clock.)
  clock_.Advance(seconds(1));
  auto d = server_->Get("apps/v1", "deployments", "default", "db");
  ASSERT_TRUE(d);
  (*d)["status"] = {{"replicas", 1}, {"readyReplicas", 1}};
  ASSERT_TRUE(server_->UpdateStatus("apps/v1", "deployments", "default", *d));
  ASSERT_TRUE(
      Eventually([&] { return Gates("web") == std::vector<std::string>{"example.com/quota"}; }));
  EXPECT_TRUE(HasEvent("web", "GateRemoved", kDb));
  // No tether gate left: the pod leaves the cache and the watches stop.
  EXPECT_TRUE(Eventually([&] { return controller_->WatchCount() == 0; }));
  EXPECT_TRUE(Eventually([&] { return controller_->CachedPods() == 0; }));
  EXPECT_NE(registry_.Serialize().find("tether_gate_evaluations_total{result=\"true\"}"),
            std::string::npos);
  EXPECT_NE(registry_.Serialize().find("tether_gate_wait_seconds_count 2"), std::string::npos);
  auto ev = server_->List("v1", "events", "default");
  ASSERT_TRUE(ev);
  int removed = 0;
  for (const auto& e : (*ev)["items"]) {
    if (e.value("reason", "") != "GateRemoved") continue;
    ++removed;
    EXPECT_EQ(e.value("type", ""), "Normal");
    EXPECT_NE(e.value("message", "").find("after waiting"), std::string::npos);
  }
  EXPECT_EQ(removed, 2);
}

TEST_F(GateControllerTest, SeveralSatisfiedGatesGoInOnePatch) {
  Create("v1", "configmaps", "default", ConfigMap("a"));
  Create("v1", "configmaps", "default", ConfigMap("b"));
  Create("v1", "pods", "default",
         Pod("two", {kDb, kCfg},
             {{kDb, R"j({"kind":"ConfigMap","name":"a"})j"},
              {kCfg, R"j({"kind":"ConfigMap","name":"b"})j"}}));
  StartController();
  ASSERT_TRUE(Eventually([&] { return Gates("two").empty(); }));
  EXPECT_EQ(server_->RequestCount("patch", "pods"), 1);
  EXPECT_EQ(server_->RequestCount("update", "pods"), 0);
}

// The removal patch is guarded; when the pod changed meanwhile (409/422) it is re-read and the
// patch rebuilt, never replaced by a full update.
TEST_F(GateControllerTest, ARefusedPatchIsRetriedOnAFreshRead) {
  StartController();
  Create("v1", "pods", "default",
         Pod("p", {"example.com/quota", kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"go"})j"}}));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 1; }));
  server_->FailNext("patch", "pods", 1, 409, "the object has been modified");
  const int gets_before = server_->RequestCount("get", "pods");
  Create("v1", "configmaps", "default", ConfigMap("go"));
  EXPECT_TRUE(
      Eventually([&] { return Gates("p") == std::vector<std::string>{"example.com/quota"}; }));
  EXPECT_EQ(server_->RequestCount("patch", "pods"), 2);
  EXPECT_GT(server_->RequestCount("get", "pods"), gets_before);
  EXPECT_EQ(server_->RequestCount("update", "pods"), 0);
}

// SPEC §3.3: every way a gate can be wrong keeps the gate and gives the pod ONE Warning Event
// that names the gate and the exact problem, however often the pod is re-evaluated.
TEST_F(GateControllerTest, ErrorsKeepTheGateAndProduceOneWarning) {
  StartController();
  Create("v1", "configmaps", "default", ConfigMap("c", {{"n", "x"}}));
  Create("v1", "configmaps", "other", ConfigMap("c", {{"n", "x"}}));
  struct Case {
    std::string pod;
    std::optional<std::string> annotation;  // nullopt: no annotation at all
    std::string reason, needle;
  } cases[] = {
      {"missing", std::nullopt, "GateAnnotationMissing", "is missing"},
      {"typo", R"j({"kind":"ConfigMap","name":"c","expresion":"true"})j", "GateInvalid",
       "unknown field \"expresion\""},
      {"nojson", "{", "GateInvalid", "not valid JSON"},
      {"nokind", R"j({"name":"c"})j", "GateInvalid", "\"kind\" is required"},
      {"noname", R"j({"kind":"ConfigMap"})j", "GateInvalid", "\"name\" is required"},
      {"badcel", R"j({"kind":"ConfigMap","name":"c","expression":"resorce.x"})j", "GateInvalid",
       "does not compile"},
      {"nonbool", R"j({"kind":"ConfigMap","name":"c","expression":"resource.data.n"})j",
       "GateEvaluationError", "must return a bool"},
      {"evalerr",
       R"j({"kind":"ConfigMap","name":"c","expression":"resource.data.missing == 'x'"})j",
       "GateEvaluationError", "evaluation failed"},
      {"costly",
       R"j({"kind":"ConfigMap","name":"c","expression":"[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))"})j",
       "GateEvaluationError", "cost budget"},
      {"unknownkind", R"j({"apiVersion":"nope.example.com/v1","kind":"Thing","name":"c"})j",
       "GateReferenceUnknown", "Thing"},
      {"forbidden", R"j({"kind":"ConfigMap","name":"c","namespace":"other"})j", "GateForbidden",
       "same-namespace"},
  };
  for (const auto& tc : cases) {
    std::map<std::string, std::string> ann;
    if (tc.annotation) ann[kCfg] = *tc.annotation;
    Create("v1", "pods", "default", Pod(tc.pod, {kCfg}, ann));
  }
  for (const auto& tc : cases) {
    EXPECT_TRUE(HasEvent(tc.pod, tc.reason, tc.needle)) << tc.pod;
  }

  // Re-evaluate every pod several ways: the referenced object changes, each pod changes (a
  // label), and the fake clock passes the error retry. Problems are not reported again.
  auto processed = [&] {
    const std::string text = registry_.Serialize();
    const std::string key = "tether_workqueue_work_duration_seconds_count{name=\"gates\"} ";
    auto at = text.find(key);
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + key.size()));
  };
  const double before_errors = Evaluations("error");
  const double before_processed = processed();
  auto cm = server_->Get("v1", "configmaps", "default", "c");
  ASSERT_TRUE(cm);
  (*cm)["data"]["other"] = "y";
  ASSERT_TRUE(server_->Update("v1", "configmaps", "default", *cm));
  for (const auto& tc : cases) {
    auto pod = server_->Get("v1", "pods", "default", tc.pod);
    ASSERT_TRUE(pod);
    (*pod)["metadata"]["labels"]["touched"] = "yes";
    ASSERT_TRUE(server_->Update("v1", "pods", "default", *pod)) << tc.pod;
  }
  clock_.Advance(seconds(11));  // the retry of the unknown kind
  // nonbool, evalerr and costly are evaluated again (at least once each); every pod is
  // processed again after its label change.
  EXPECT_TRUE(Eventually([&] { return Evaluations("error") >= before_errors + 3; }));
  EXPECT_TRUE(Eventually(
      [&] { return processed() >= before_processed + static_cast<double>(std::size(cases)); }));
  for (const auto& tc : cases) {
    EXPECT_EQ(Gates(tc.pod), std::vector<std::string>{kCfg}) << tc.pod;
    auto ev = server_->List("v1", "events", "default");
    ASSERT_TRUE(ev);
    int count = 0;
    for (const auto& e : (*ev)["items"]) {
      if (e["involvedObject"].value("name", "") != tc.pod) continue;
      EXPECT_EQ(e.value("type", ""), "Warning") << tc.pod;
      EXPECT_EQ(e.value("reason", ""), tc.reason) << tc.pod;  // no other Event about the pod
      EXPECT_NE(e.value("message", "").find(kCfg), std::string::npos)
          << tc.pod << ": the message names the gate: " << e.value("message", "");
      count += e.value("count", 1);
    }
    EXPECT_EQ(count, 1) << tc.pod;
  }
}

TEST_F(GateControllerTest, AnnotationEditedAfterCreationIsPickedUp) {
  StartController();
  Create("v1", "configmaps", "default", ConfigMap("c"));
  Create("v1", "pods", "default",
         Pod("p", {kCfg}, {{kCfg, R"j({"kind":"Service","name":"svc"})j"}}));
  ASSERT_TRUE(Eventually([&] { return controller_->WatchCount() == 1; }));
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() == 2; }));  // pods + services
  auto edit = [&](const std::string& annotation) {
    auto pod = server_->Get("v1", "pods", "default", "p");
    ASSERT_TRUE(pod);
    (*pod)["metadata"]["annotations"][kCfg] = annotation;
    ASSERT_TRUE(server_->Update("v1", "pods", "default", *pod));
  };
  // Now broken: reported, and the services watch nobody references any more stops.
  edit(R"j({"kind":"ConfigMap","name":"c","expresion":"true"})j");
  ASSERT_TRUE(HasEvent("p", "GateInvalid", "expresion"));
  EXPECT_TRUE(Eventually([&] { return controller_->WatchCount() == 0; }));
  EXPECT_EQ(WatchGauge(), 0);
  EXPECT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));
  EXPECT_EQ(Gates("p"), std::vector<std::string>{kCfg});
  // Fixed: the condition holds at once.
  edit(R"j({"kind":"ConfigMap","name":"c"})j");
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }));
}

TEST_F(GateControllerTest, DeletedWaitingPodReleasesItsWatch) {
  StartController();
  Create("v1", "pods", "default",
         Pod("p", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"never"})j"}}));
  ASSERT_TRUE(Eventually([&] { return controller_->WatchCount() == 1; }));
  EXPECT_EQ(WatchGauge(), 1);
  EXPECT_NE(registry_.Serialize().find("tether_gated_pods{namespace=\"default\"} 1"),
            std::string::npos);
  ASSERT_TRUE(server_->Delete("v1", "pods", "default", "p"));
  EXPECT_TRUE(Eventually([&] { return controller_->WatchCount() == 0; }));
  EXPECT_EQ(WatchGauge(), 0);
  EXPECT_EQ(controller_->CachedPods(), 0u);
  EXPECT_NE(registry_.Serialize().find("tether_gated_pods{namespace=\"default\"} 0"),
            std::string::npos);
  EXPECT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));
}

TEST_F(GateControllerTest, ReferencedObjectDeletedAndRecreated) {
  StartController();
  Create("v1", "configmaps", "default", ConfigMap("flag", {{"ready", "false"}}));
  Create(
      "v1", "pods", "default",
      Pod("p", {kCfg},
          {{kCfg,
            R"j({"kind":"ConfigMap","name":"flag","expression":"resource.data.ready == 'true'"})j"}}));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 1; }));
  ASSERT_EQ(controller_->WatchCount(), 1u);
  // Deleted: re-evaluated (a missing object does not hold), the gate stays.
  double before = Evaluations("false");
  ASSERT_TRUE(server_->Delete("v1", "configmaps", "default", "flag"));
  EXPECT_TRUE(Eventually([&] { return Evaluations("false") > before; }));
  EXPECT_EQ(Gates("p"), std::vector<std::string>{kCfg});
  // Re-created, still not ready: evaluated on the new object, the gate stays.
  before = Evaluations("false");
  Create("v1", "configmaps", "default", ConfigMap("flag", {{"ready", "false"}}));
  EXPECT_TRUE(Eventually([&] { return Evaluations("false") > before; }));
  EXPECT_EQ(Gates("p"), std::vector<std::string>{kCfg});
  // The new object becomes ready: the index still leads from it to the pod.
  auto cm = server_->Get("v1", "configmaps", "default", "flag");
  ASSERT_TRUE(cm);
  (*cm)["data"]["ready"] = "true";
  ASSERT_TRUE(server_->Update("v1", "configmaps", "default", *cm));
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }));
  EXPECT_EQ(server_->RequestCount("watch", "configmaps"), 1);  // one watch throughout
}

TEST_F(GateControllerTest, CrdInstalledAfterThePod) {
  StartController();
  Create(
      "v1", "pods", "default",
      Pod("p", {kCfg},
          {{kCfg,
            R"j({"apiVersion":"example.com/v1","kind":"Widget","name":"w","expression":"resource.spec.size > 2"})j"}}));
  ASSERT_TRUE(HasEvent("p", "GateReferenceUnknown", "Widget"));
  Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", WidgetCrd());
  Create("example.com/v1", "widgets", "default", Widget("w", 3));
  // The discovery miss is refetched after its refresh interval; the gate is retried then.
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }, &clock_));
}

TEST_F(GateControllerTest, ReferencedCrdDeletedAndRecreated) {
  StartController();
  Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", WidgetCrd());
  Create("example.com/v1", "widgets", "default", Widget("w", 5));
  const std::string big =
      R"j({"apiVersion":"example.com/v1","kind":"Widget","name":"w","expression":"resource.spec.size > 10"})j";
  Create("v1", "pods", "default", Pod("keeper", {kCfg}, {{kCfg, big}}));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 1; }, &clock_));
  ASSERT_EQ(controller_->WatchCount(), 1u);

  // The CRD is deleted while tether is cut off from the API server, so its widgets watch never
  // sees the widgets' deletion: its cache still holds the old "w". When the server is back, the
  // watch of the deleted type fails (404).
  server_->Stop();
  ASSERT_TRUE(server_->Delete("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                              "widgets.example.com"));
  ASSERT_TRUE(server_->Restart());
  ASSERT_TRUE(Eventually(
      [&] {
        return WatchRestarts("widgets.example.com", "error") +
                   WatchRestarts("widgets.example.com", "list_error") >
               0;
      },
      &clock_));
  // A pod created now waits for a Widget that no longer exists: stale cache data of the old CRD
  // must not open it. The kind is reported unknown and the watch of the deleted type stops.
  const std::string exists = R"j({"apiVersion":"example.com/v1","kind":"Widget","name":"w"})j";
  Create("v1", "pods", "default", Pod("late", {kCfg}, {{kCfg, exists}}));
  EXPECT_TRUE(HasEvent("late", "GateReferenceUnknown", "Widget", "default", &clock_));
  EXPECT_TRUE(HasEvent("keeper", "GateReferenceUnknown", "Widget", "default", &clock_));
  EXPECT_TRUE(Eventually([&] { return controller_->WatchCount() == 0; }, &clock_));
  EXPECT_EQ(WatchGauge(), 0);
  EXPECT_EQ(Gates("late"), std::vector<std::string>{kCfg});
  EXPECT_EQ(Gates("keeper"), std::vector<std::string>{kCfg});

  // The CRD comes back: a new shared watch is started (discovery finds the kind again) and the
  // gates are decided on the new objects only.
  const int lists_before = server_->RequestCount("list", "widgets");
  Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", WidgetCrd());
  ASSERT_TRUE(Eventually(
      [&] {
        return controller_->WatchCount() == 1 &&
               server_->RequestCount("list", "widgets") > lists_before;
      },
      &clock_));
  Create("example.com/v1", "widgets", "default", Widget("w", 3));
  EXPECT_TRUE(Eventually([&] { return Gates("late").empty(); }, &clock_));
  // Only "keeper" still references widgets (late left the cache): each evaluation is its own.
  auto w = server_->Get("example.com/v1", "widgets", "default", "w");
  ASSERT_TRUE(w);
  const double false_before = Evaluations("false");
  (*w)["spec"]["size"] = 4;
  w = server_->Update("example.com/v1", "widgets", "default", *w);
  ASSERT_TRUE(w);
  EXPECT_TRUE(Eventually([&] { return Evaluations("false") > false_before; }, &clock_));
  EXPECT_EQ(Gates("keeper"), std::vector<std::string>{kCfg});  // 4 is not > 10
  (*w)["spec"]["size"] = 11;
  ASSERT_TRUE(server_->Update("example.com/v1", "widgets", "default", *w));
  EXPECT_TRUE(Eventually([&] { return Gates("keeper").empty(); }, &clock_));
  // Nothing references widgets any more: the watch stops, at the API server too.
  EXPECT_TRUE(Eventually([&] { return controller_->WatchCount() == 0; }, &clock_));
  EXPECT_EQ(WatchGauge(), 0);
  EXPECT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));  // the pod watch
}

TEST_F(GateControllerTest, WatchExpiryAndDisconnectLoseNothing) {
  StartController();
  Create("v1", "pods", "default",
         Pod("p", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"late"})j"}}));
  Create("v1", "pods", "default",
         Pod("q", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"later"})j"}}));
  ASSERT_TRUE(Eventually([&] { return controller_->WatchCount() == 1; }));
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() >= 2; }));
  // The server closes the streams (as at its watch timeout): they resume.
  server_->Compact();
  server_->DropWatches();
  Create("v1", "configmaps", "default", ConfigMap("late"));
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }, &clock_));
  // Closed again, and the resumed watch is refused with 410 Gone (its resourceVersion is too
  // old): the informer relists and the change made meanwhile is not lost.
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() >= 2; }, &clock_));
  const double expired_before = WatchRestarts("configmaps", "expired");
  server_->FailNext("watch", "configmaps", 1, 410, "too old resource version");
  server_->DropWatches();
  Create("v1", "configmaps", "default", ConfigMap("later"));
  EXPECT_TRUE(Eventually([&] { return Gates("q").empty(); }, &clock_));
  EXPECT_GT(WatchRestarts("configmaps", "expired"), expired_before);  // the 410 path was taken
}

// The API server goes away mid-way; objects and gated pods appear meanwhile. When it is back the
// watches resume (first from their resourceVersion, then — after a compaction — from a relist
// on 410) and every gate opens.
TEST_F(GateControllerTest, ChangesWhileDisconnectedAreCaughtUp) {
  StartController();
  const std::string on_a = R"j({"kind":"ConfigMap","name":"a"})j";
  Create("v1", "pods", "default", Pod("p", {kCfg}, {{kCfg, on_a}}));
  Create("v1", "pods", "default",
         Pod("q", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"b"})j"}}));
  ASSERT_TRUE(Eventually([&] { return controller_->WatchCount() == 1; }));
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() == 2; }));

  server_->Stop();
  Create("v1", "configmaps", "default", ConfigMap("a"));
  Create("v1", "pods", "default", Pod("r", {kCfg}, {{kCfg, on_a}}));
  ASSERT_TRUE(server_->Restart());
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty() && Gates("r").empty(); }, &clock_));
  EXPECT_EQ(Gates("q"), std::vector<std::string>{kCfg});
  Create("v1", "configmaps", "default", ConfigMap("b"));
  EXPECT_TRUE(Eventually([&] { return Gates("q").empty(); }, &clock_));
}

TEST_F(GateControllerTest, AWatchThatCannotListIsReportedNotSilent) {
  server_->Deny("tether", "list", "configmaps");
  StartController();
  Create("v1", "configmaps", "default", ConfigMap("c"));
  Create("v1", "secrets", "default",
         {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "s"}}}});
  Create("v1", "pods", "default",
         Pod("p", {kCfg, kDb},
             {{kCfg, R"j({"kind":"ConfigMap","name":"c"})j"},
              {kDb, R"j({"kind":"Secret","name":"s"})j"}}));
  EXPECT_TRUE(
      HasEvent("p", "GateWatchNotReady", "may list and watch configmaps", "default", &clock_));
  // The satisfied gate is not held back by the broken watch once that is reported; the other
  // gate stays.
  EXPECT_TRUE(Eventually([&] { return Gates("p") == std::vector<std::string>{kCfg}; }, &clock_));
  server_->ClearDenials();
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }, &clock_));
}

// A watch that breaks after its cache was live (here: tether loses list/watch access) makes the
// cache possibly stale: its gates are held, the pod is told why after the retry interval, and
// they open once the watch is live again.
TEST_F(GateControllerTest, ABrokenWatchHoldsItsGatesAndSaysWhy) {
  StartController();
  Create("v1", "configmaps", "default", ConfigMap("c"));
  Create("v1", "pods", "default",
         Pod("first", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"never"})j"}}));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 1; }));
  server_->Deny("tether", "list", "configmaps");
  server_->Deny("tether", "watch", "configmaps");
  server_->DropWatches();
  ASSERT_TRUE(Eventually(
      [&] {
        return WatchRestarts("configmaps", "error") + WatchRestarts("configmaps", "list_error") > 0;
      },
      &clock_));
  Create("v1", "pods", "default",
         Pod("p", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"c"})j"}}));
  EXPECT_TRUE(HasEvent("p", "GateWatchNotReady", "has been failing since", "default", &clock_));
  EXPECT_EQ(Gates("p"), std::vector<std::string>{kCfg});
  server_->ClearDenials();
  EXPECT_TRUE(Eventually([&] { return Gates("p").empty(); }, &clock_));
  EXPECT_EQ(Gates("first"), std::vector<std::string>{kCfg});
}

TEST_F(GateControllerTest, NowConditionsOpenOnTime) {
  StartController();
  const std::string at = FormatRfc3339(clock_.Now() + seconds(30));
  Create("v1", "configmaps", "default", ConfigMap("window", {{"opens", at}}));
  Create(
      "v1", "pods", "default",
      Pod("p", {kCfg},
          {{kCfg,
            R"j({"kind":"ConfigMap","name":"window","expression":"now() >= timestamp(resource.data.opens)"})j"}}));
  ASSERT_TRUE(Eventually([&] {
    return registry_.Serialize().find("tether_gate_evaluations_total{result=\"false\"}") !=
           std::string::npos;
  }));
  auto evaluations = [&] {
    return registry_
        .AddCounter("tether_gate_evaluations_total", "Gate condition evaluations by result.",
                    {"result"})
        .WithLabels({"false"})
        ->Value();
  };
  // Step the fake clock; after each step wait for the re-evaluation (or the removal).
  for (int i = 0; i < 40 && !Gates("p").empty(); ++i) {
    const double before = evaluations();
    clock_.Advance(seconds(1));  // the default --gate-time-resync
    auto end = std::chrono::steady_clock::now() + seconds(2);
    while (std::chrono::steady_clock::now() < end && evaluations() == before &&
           !Gates("p").empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  ASSERT_TRUE(Eventually([&] { return Gates("p").empty(); }));
  // Opened at the 30 s mark on the fake clock (re-evaluated every second), not before.
  ASSERT_TRUE(Eventually([&] { return !Events("p", "GateRemoved").empty(); }));
  auto removed = Events("p", "GateRemoved");
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_TRUE(removed[0].find("waiting 30s") != std::string::npos ||
              removed[0].find("waiting 31s") != std::string::npos)
      << removed[0];
}

TEST_F(GateControllerTest, ReferencePolicies) {
  Create("v1", "configmaps", "other", ConfigMap("x", {{"k", "v"}}));
  Create("v1", "secrets", "default",
         {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "s"}}},
          {"data", {{"password", "aHVudGVyMg=="}}}});
  StartController();
  Create(
      "v1", "pods", "default",
      Pod("cross", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"x","namespace":"other"})j"}}));
  Create("v1", "pods", "default",
         Pod("cluster", {kCfg}, {{kCfg, R"j({"kind":"Namespace","name":"other"})j"}}));
  Create(
      "v1", "pods", "default",
      Pod("secretexpr", {kCfg},
          {{kCfg,
            R"j({"kind":"Secret","name":"s","expression":"resource.data.password == 'aHVudGVyMg=='"})j"}}));
  Create("v1", "pods", "default",
         Pod("secretexists", {kCfg}, {{kCfg, R"j({"kind":"Secret","name":"s"})j"}}));
  Create("v1", "configmaps", "default", ConfigMap("mine"));
  Create("v1", "pods", "default",
         Pod("own", {kCfg},
             {{kCfg, R"j({"kind":"ConfigMap","name":"mine","namespace":"default"})j"}}));
  EXPECT_TRUE(Eventually([&] { return Gates("own").empty(); }));
  EXPECT_TRUE(HasEvent("cross", "GateForbidden", "same-namespace"));
  EXPECT_TRUE(HasEvent("cluster", "GateForbidden", "cluster-scoped"));
  EXPECT_TRUE(HasEvent("secretexpr", "GateForbidden", "existence"));
  EXPECT_TRUE(Eventually([&] { return Gates("secretexists").empty(); }));
  EXPECT_EQ(Gates("cross"), std::vector<std::string>{kCfg});
  EXPECT_EQ(Gates("cluster"), std::vector<std::string>{kCfg});
  EXPECT_EQ(Gates("secretexpr"), std::vector<std::string>{kCfg});
}

TEST_F(GateControllerTest, AuthorizedPolicyUsesSubjectAccessReview) {
  server_->Deny("system:serviceaccount:default:restricted", "get", "configmaps");
  server_->Deny("system:serviceaccount:default:restricted", "get", "namespaces");
  Create("v1", "configmaps", "other", ConfigMap("x"));
  auto o = Options();
  o.policy = ReferencePolicy::kAuthorized;
  StartController(o);
  const std::string ann = R"j({"kind":"ConfigMap","name":"x","namespace":"other"})j";
  Create("v1", "pods", "default", Pod("denied", {kCfg}, {{kCfg, ann}}, "restricted"));
  Create("v1", "pods", "default", Pod("allowed", {kCfg}, {{kCfg, ann}}, "trusted"));
  Create(
      "v1", "pods", "default",
      Pod("clusterref", {kCfg}, {{kCfg, R"j({"kind":"Namespace","name":"other"})j"}}, "trusted"));
  EXPECT_TRUE(Eventually([&] { return Gates("allowed").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Gates("clusterref").empty(); }));
  Create("v1", "pods", "default",
         Pod("clusterdenied", {kCfg}, {{kCfg, R"j({"kind":"Namespace","name":"other"})j"}},
             "restricted"));
  EXPECT_TRUE(HasEvent("denied", "GateForbidden", "may not get configmaps"));
  EXPECT_TRUE(HasEvent("clusterdenied", "GateForbidden", "may not get namespaces"));
  EXPECT_EQ(Gates("denied"), std::vector<std::string>{kCfg});
  EXPECT_EQ(Gates("clusterdenied"), std::vector<std::string>{kCfg});
  // The answers are cached, not asked again on every evaluation.
  EXPECT_GE(server_->RequestCount("create", "subjectaccessreviews"), 1);
  EXPECT_LE(server_->RequestCount("create", "subjectaccessreviews"), 4);
}

TEST_F(GateControllerTest, AnyPolicyAllowsEverything) {
  Create("v1", "configmaps", "other", ConfigMap("x"));
  auto o = Options();
  o.policy = ReferencePolicy::kAny;
  StartController(o);
  Create(
      "v1", "pods", "default",
      Pod("cross", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"x","namespace":"other"})j"}}));
  Create("v1", "pods", "default",
         Pod("cluster", {kCfg}, {{kCfg, R"j({"kind":"Namespace","name":"other"})j"}}));
  Create("v1", "secrets", "default",
         {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "s"}}},
          {"data", {{"ready", "eWVz"}}}});
  Create("v1", "pods", "default",
         Pod("secretexpr", {kCfg},
             {{kCfg,
               R"j({"kind":"Secret","name":"s","expression":"resource.data.ready == 'eWVz'"})j"}}));
  EXPECT_TRUE(Eventually([&] { return Gates("cross").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Gates("cluster").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Gates("secretexpr").empty(); }));
}

TEST_F(GateControllerTest, KsgateAndGatemanPods) {
  auto o = Options();
  o.prefixes = {"gate.tether.dev/", "k8s.ksgate.org/", "gateman.kdex.dev/"};
  StartController(o);
  Create("v1", "configmaps", "default", ConfigMap("cfg", {{"team", "blue"}}));
  Create("v1", "pods", "default",
         Pod("ks", {"k8s.ksgate.org/cfg"},
             {{"k8s.ksgate.org/cfg",
               R"j({"apiVersion":"v1","kind":"ConfigMap","name":"cfg","namespaced":true})j"}}));
  Json gm = Pod(
      "gm", {"gateman.kdex.dev/cfg"},
      {{"gateman.kdex.dev/cfg",
        R"j({"kind":"ConfigMap","name":"cfg","expression":"resource.data.team == pod.metadata.labels.team"})j"}});
  gm["metadata"]["labels"] = {{"team", "blue"}};
  Create("v1", "pods", "default", gm);
  // tether's own name for the pod variable, `this`.
  Json th = Pod(
      "th", {kCfg},
      {{kCfg,
        R"j({"kind":"ConfigMap","name":"cfg","expression":"resource.data.team == this.metadata.labels.team"})j"}});
  th["metadata"]["labels"] = {{"team", "blue"}};
  Create("v1", "pods", "default", th);
  // The variables really refer to the pod: another team's pod stays gated.
  Json red = gm;
  red["metadata"]["name"] = "red";
  red["metadata"]["labels"] = {{"team", "red"}};
  Create("v1", "pods", "default", red);
  EXPECT_TRUE(Eventually([&] { return Gates("ks").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Gates("gm").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Gates("th").empty(); }));
  EXPECT_TRUE(Eventually([&] { return Evaluations("false") >= 1; }));
  EXPECT_EQ(Gates("red"), std::vector<std::string>{"gateman.kdex.dev/cfg"});
}

TEST_F(GateControllerTest, GatesOfPrefixesNotConfiguredAreLeftAlone) {
  StartController();  // default: gate.tether.dev/ only
  Create("v1", "configmaps", "default", ConfigMap("cfg"));
  const std::string cond = R"j({"kind":"ConfigMap","name":"cfg"})j";
  Create("v1", "pods", "default",
         Pod("ks", {"k8s.ksgate.org/cfg"}, {{"k8s.ksgate.org/cfg", cond}}));
  Create("v1", "pods", "default", Pod("mine", {kCfg}, {{kCfg, cond}}));
  ASSERT_TRUE(Eventually([&] { return Gates("mine").empty(); }));
  EXPECT_EQ(Gates("ks"), std::vector<std::string>{"k8s.ksgate.org/cfg"});
  auto ev = server_->List("v1", "events", "default");
  ASSERT_TRUE(ev);
  for (const auto& e : (*ev)["items"]) EXPECT_NE(e["involvedObject"].value("name", ""), "ks");
  EXPECT_TRUE(Eventually([&] { return controller_->CachedPods() == 0; }));  // never cached
}

// Acceptance 2. The embedded API server runs no workload controllers, so the test plays the
// Deployment and ReplicaSet controllers: every pod is made from the stored Deployment's template
// (gates and annotations as the user wrote them), owned by the ReplicaSet, named by
// generateName.
TEST_F(GateControllerTest, DeploymentTemplatePodsAreEachGatedAndOpened) {
  StartController();
  Json tmpl = Pod("", {kCfg}, {{kCfg, R"j({"kind":"ConfigMap","name":"go"})j"}});
  tmpl["metadata"].erase("name");
  tmpl["metadata"]["labels"] = {{"app", "web"}};
  Json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "web"}}},
                 {"spec",
                  {{"replicas", 3},
                   {"selector", {{"matchLabels", {{"app", "web"}}}}},
                   {"template", {{"metadata", tmpl["metadata"]}, {"spec", tmpl["spec"]}}}}}};
  auto d = server_->Create("apps/v1", "deployments", "default", deploy);
  ASSERT_TRUE(d) << d.error().ToString();
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", "web-5f7b9"},
               {"labels", {{"app", "web"}}},
               {"ownerReferences",
                {{{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"name", "web"},
                  {"uid", (*d)["metadata"]["uid"]},
                  {"controller", true}}}}}},
             {"spec", (*d)["spec"]}};
  rs["spec"].erase("strategy");
  rs["spec"].erase("revisionHistoryLimit");
  rs["spec"].erase("progressDeadlineSeconds");
  auto r = server_->Create("apps/v1", "replicasets", "default", rs);
  ASSERT_TRUE(r) << r.error().ToString();
  auto spawn = [&]() -> std::string {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", (*r)["spec"]["template"]["metadata"]},
                {"spec", (*r)["spec"]["template"]["spec"]}};
    pod["metadata"]["generateName"] = "web-5f7b9-";
    pod["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                           {"kind", "ReplicaSet"},
                                           {"name", "web-5f7b9"},
                                           {"uid", (*r)["metadata"]["uid"]},
                                           {"controller", true}}};
    auto created = server_->Create("v1", "pods", "default", pod);
    EXPECT_TRUE(created) << created.error().ToString();
    return created ? created->at("metadata").value("name", "") : "";
  };
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) names.push_back(spawn());
  ASSERT_TRUE(Eventually([&] { return controller_->CachedPods() == 3; }));
  ASSERT_TRUE(Eventually([&] { return Evaluations("false") >= 3; }));
  for (const auto& n : names) EXPECT_EQ(Gates(n), std::vector<std::string>{kCfg}) << n;
  Create("v1", "configmaps", "default", ConfigMap("go"));
  for (const auto& n : names) {
    EXPECT_TRUE(Eventually([&] { return Gates(n).empty(); })) << n;
    EXPECT_TRUE(HasEvent(n, "GateRemoved", kCfg)) << n;
  }
  // A replica created later (scale-up, replacement) is gated too, and opened at once.
  const std::string late = spawn();
  EXPECT_TRUE(Eventually([&] { return Gates(late).empty(); }));
}

}  // namespace
}  // namespace tether::gates
