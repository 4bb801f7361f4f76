#include "cli/demo_command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "deps/controller.h"
#include "deps/crd.h"
#include "deps/types.h"
#include "kube/client.h"
#include "metrics/metrics.h"
#include "testing/apiserver.h"
#include "testing/sim/simulator.h"

namespace tether::cli {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kNs = "shop";
constexpr const char* kWdGr = "workloaddependencies.tether.dev";
constexpr const char* kDeployGr = "deployments.apps";
constexpr const char* kCronGr = "cronjobs.batch";

const Json& Field(const Json& obj, std::initializer_list<const char*> path) {
  static const Json kNull;
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(key);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string Str(const Json& obj, std::initializer_list<const char*> path) {
  const Json& v = Field(obj, path);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string Annotation(const Json& obj, std::string_view key) {
  const Json& annotations = Field(obj, {"metadata", "annotations"});
  if (!annotations.is_object()) return "";
  auto it = annotations.find(std::string(key));
  return it != annotations.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string KindOf(std::string_view gr) {
  if (gr == kDeployGr) return "Deployment";
  if (gr == kCronGr) return "CronJob";
  if (gr == kWdGr) return "WorkloadDependency";
  return std::string(gr);
}

std::string Seconds(Duration d) {
  return FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

std::string DescribeWdCreated(const Json& obj) {
  std::string ns = Str(obj, {"metadata", "namespace"});
  std::string name = Str(obj, {"metadata", "name"});
  auto spec = deps::DecodeSpec(Field(obj, {"spec"}), ns);
  if (!spec) return fmt::format("created WorkloadDependency {} (invalid spec)", name);
  std::string deps;
  for (const auto& d : spec->depends_on) {
    if (!deps.empty()) deps += ", ";
    deps += fmt::format("{} ({}% ready, window {}, recovery window {})", d.ShortRef(),
                        d.condition.min_ready_percent, Seconds(d.condition.window),
                        Seconds(d.condition.recovery_window));
  }
  return fmt::format("created WorkloadDependency {}: {} needs {}", name,
                     spec->dependent.KindSlashName(), deps);
}

std::vector<std::string> DescribeWdChange(const Json& prev, const Json& obj) {
  std::vector<std::string> out;
  std::string name = Str(obj, {"metadata", "name"});
  std::string before = Str(prev, {"status", "phase"});
  std::string after = Str(obj, {"status", "phase"});
  if (before != after && !after.empty()) {
    std::string message = Str(obj, {"status", "message"});
    if (before.empty()) {
      out.push_back(fmt::format("{}: tether is watching it, phase {}", name, after));
    } else {
      std::string line = fmt::format("{}: {} -> {}", name, before, after);
      if (!message.empty() && after != "Healthy") line += " (" + message + ")";
      out.push_back(line);
    }
  }
  // The recovery clock (SPEC 2.4): started when every dependency is healthy, reset on relapse.
  std::string healthy_before = Str(prev, {"status", "healthySince"});
  std::string healthy_after = Str(obj, {"status", "healthySince"});
  if (after == "Suspended" && healthy_after != healthy_before) {
    if (!healthy_after.empty()) {
      out.push_back(fmt::format(
          "{}: every dependency is healthy again (since {}): the recovery window starts", name,
          healthy_after));
    } else if (before == "Suspended") {
      out.push_back(fmt::format("{}: a dependency relapsed: the recovery clock resets", name));
    }
  }
  return out;
}

std::vector<std::string> DescribeWorkloadChange(std::string_view gr, const Json& prev,
                                                const Json& obj) {
  std::vector<std::string> out;
  std::string what = KindOf(gr) + "/" + Str(obj, {"metadata", "name"});
  bool deployment = gr == kDeployGr;
  if (prev.is_null()) {
    if (deployment) {
      out.push_back(fmt::format("created {} ({} replicas)", what,
                                Field(obj, {"spec", "replicas"}).is_number()
                                    ? Field(obj, {"spec", "replicas"}).get<std::int64_t>()
                                    : 1));
    } else {
      out.push_back(
          fmt::format("created {} (schedule \"{}\")", what, Str(obj, {"spec", "schedule"})));
    }
    return out;
  }
  const std::string by_key(deps::kAnnotationSuspendedBy);
  std::string by_before = Annotation(prev, by_key);
  std::string by_after = Annotation(obj, by_key);
  if (by_before.empty() && !by_after.empty()) {
    std::string saved = Annotation(obj, deps::kAnnotationSavedReplicas);
    std::string saved_text =
        saved.empty()
            ? fmt::format("saved-suspend={}", Annotation(obj, deps::kAnnotationSavedSuspend))
            : "saved-replicas=" + saved;
    out.push_back(fmt::format(
        "tether wrote the durable record on {}: {}, suspended-by={}, suspended-because={}", what,
        saved_text, by_after, Annotation(obj, deps::kAnnotationSuspendedBecause)));
  }
  const Json& r_before = Field(prev, {"spec", "replicas"});
  const Json& r_after = Field(obj, {"spec", "replicas"});
  if (deployment && r_before != r_after) {
    std::string who = !by_after.empty() || !by_before.empty() ? "tether scaled " : "scaled ";
    out.push_back(fmt::format("{}{} from {} to {} replicas", who, what,
                              r_before.is_null() ? Json(1).dump() : r_before.dump(),
                              r_after.is_null() ? Json(1).dump() : r_after.dump()));
  }
  bool s_before =
      Field(prev, {"spec", "suspend"}).is_boolean() && Field(prev, {"spec", "suspend"}).get<bool>();
  bool s_after =
      Field(obj, {"spec", "suspend"}).is_boolean() && Field(obj, {"spec", "suspend"}).get<bool>();
  if (s_before != s_after) {
    out.push_back(s_after
                      ? fmt::format("tether suspended {} (spec.suspend: true): no new Jobs", what)
                      : fmt::format("{} resumed (spec.suspend: false)", what));
  }
  if (!by_before.empty() && by_after.empty()) {
    out.push_back(fmt::format("tether cleared the durable record on {}", what));
  }
  if (deployment) {
    auto ready = [](const Json& o) {
      const Json& r = Field(o, {"status", "readyReplicas"});
      return r.is_number() ? r.get<std::int64_t>() : 0;
    };
    auto desired = [](const Json& o) {
      const Json& r = Field(o, {"spec", "replicas"});
      return r.is_number() ? r.get<std::int64_t>() : 1;
    };
    bool had_status = Field(prev, {"status", "observedGeneration"}).is_number();
    bool has_status = Field(obj, {"status", "observedGeneration"}).is_number();
    if (has_status && (!had_status || ready(prev) != ready(obj) ||
                       Field(prev, {"status", "replicas"}) != Field(obj, {"status", "replicas"}))) {
      out.push_back(fmt::format("{} pods ready: {}/{}", what, ready(obj), desired(obj)));
    }
  }
  return out;
}

// ---- the script ----

Json PodTemplate(const std::string& app) {
  return {
      {"metadata", {{"labels", {{"app", app}}}}},
      {"spec", {{"containers", {{{"name", app}, {"image", "registry.example/" + app + ":1"}}}}}}};
}

Json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template", PodTemplate(name)}}}};
}

Json CronJob(const std::string& name) {
  Json tmpl = PodTemplate(name);
  tmpl["spec"]["restartPolicy"] = "OnFailure";
  return {{"apiVersion", "batch/v1"},
          {"kind", "CronJob"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"schedule", "*/15 * * * *"},
            {"suspend", false},
            {"jobTemplate", {{"spec", {{"template", tmpl}}}}}}}};
}

Json Wd(const std::string& name, const std::string& dependent_kind, const std::string& dependent,
        const std::string& on, int min_ready, const DemoOptions& o) {
  return {{"apiVersion", "tether.dev/v1alpha1"},
          {"kind", "WorkloadDependency"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"dependent", {{"kind", dependent_kind}, {"name", dependent}}},
            {"dependsOn",
             {{{"kind", "Deployment"},
               {"name", on},
               {"condition",
                {{"minReadyPercent", min_ready},
                 {"window", FormatDuration(o.window)},
                 {"recoveryWindow", FormatDuration(o.recovery_window)}}}}}},
            {"mode", "strict"},
            {"cascade", true}}}};
}

class Demo {
 public:
  explicit Demo(DemoOptions o) : o_(std::move(o)) {
    clock_ = o_.clock != nullptr ? o_.clock : &RealClock::Instance();
    fake_ = dynamic_cast<FakeClock*>(clock_);
    if (!o_.out) o_.out = [](const std::string& line) { fmt::print("{}\n", line); };
  }
  ~Demo() { Teardown(); }

  Result<DemoResult> Run();

 private:
  void Say(const std::string& text) {
    std::lock_guard<std::mutex> lock(out_mu_);
    auto since = std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now() - start_);
    std::string stamp = FormatRfc3339(clock_->Now()).substr(11, 8);
    std::string line = fmt::format("{} +{:>5.1f}s  {}", stamp, since.count() / 1000.0, text);
    result_.timeline.push_back(line);
    o_.out(line);
  }
  void Narrate(const std::string& text) {
    std::lock_guard<std::mutex> lock(out_mu_);
    result_.timeline.push_back("==> " + text);
    o_.out("");
    o_.out("==> " + text);
  }
  void Plain(const std::string& text) {
    std::lock_guard<std::mutex> lock(out_mu_);
    result_.timeline.push_back(text);
    o_.out(text);
  }

  Result<void> Create(const std::string& api_version, const std::string& resource,
                      const Json& obj) {
    auto r = server_->Create(api_version, resource, kNs, obj);
    if (!r) return tl::unexpected(r.error().Wrap("demo: creating " + resource));
    return {};
  }
  std::string Phase(const std::string& wd) {
    auto r = server_->Get("tether.dev/v1alpha1", "workloaddependencies", kNs, wd);
    return r ? Str(*r, {"status", "phase"}) : "";
  }
  Json GetObj(const std::string& api_version, const std::string& resource,
              const std::string& name) {
    auto r = server_->Get(api_version, resource, kNs, name);
    return r ? *r : Json();
  }

  // Waits for `pred`; with a FakeClock, moves virtual time forward in small steps while the
  // system has nothing left to do at the current instant.
  Result<void> WaitUntil(const std::function<bool()>& pred, const std::string& what) {
    TimePoint virtual_deadline = clock_->Now() + o_.step_timeout;
    auto real_deadline =
        std::chrono::steady_clock::now() +
        (fake_ != nullptr ? std::chrono::seconds(60)
                          : std::chrono::duration_cast<std::chrono::seconds>(o_.step_timeout) +
                                std::chrono::seconds(30));
    while (true) {
      if (pred()) return {};
      if (std::chrono::steady_clock::now() > real_deadline || clock_->Now() > virtual_deadline) {
        return Fail(ErrorCode::kTimeout, "demo: timed out waiting for " + what);
      }
      if (fake_ != nullptr) {
        auto settle = std::chrono::steady_clock::now() + 30ms;
        while (std::chrono::steady_clock::now() < settle) {
          if (pred()) return {};
          std::this_thread::sleep_for(2ms);
        }
        fake_->Advance(100ms);
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
  }
  void Pass(Duration d) {
    if (fake_ != nullptr) {
      for (Duration done{0}; done < d; done += 100ms) {
        std::this_thread::sleep_for(5ms);
        fake_->Advance(100ms);
      }
    } else {
      clock_->SleepFor(d, std::stop_token());
    }
  }

  void RecordLoop(const std::stop_token& stop);
  void DrainEvents();
  void Teardown();
  void Summary();

  DemoOptions o_;
  Clock* clock_ = nullptr;
  FakeClock* fake_ = nullptr;
  TimePoint start_;
  std::mutex out_mu_;
  DemoResult result_;

  std::unique_ptr<testing::ApiServer> server_;
  std::unique_ptr<kube::Client> controller_client_;
  std::unique_ptr<kube::Client> sim_client_;
  std::unique_ptr<sim::ClientCluster> sim_cluster_;
  std::unique_ptr<sim::Simulator> sim_;
  metrics::Registry registry_;
  std::unique_ptr<deps::DependencyController> controller_;

  std::mutex rec_mu_;  // guards rv_ and the phase history
  std::int64_t rv_ = 0;
  std::map<std::string, std::vector<std::pair<TimePoint, std::string>>> phases_;
  std::jthread recorder_;
};

void Demo::DrainEvents() {
  std::lock_guard<std::mutex> lock(rec_mu_);
  std::vector<testing::StoredEvent> events;
  // Each batch is consistent up to its own `up_to`; only the common prefix is complete across
  // the three resources, the rest is read again next time.
  std::int64_t complete = std::numeric_limits<std::int64_t>::max();
  for (const char* gr : {kWdGr, kDeployGr, kCronGr}) {
    auto batch = server_->store().EventsAfter(gr, rv_);
    if (!batch) return;  // compacted: cannot happen within a demo's history
    complete = std::min(complete, batch->up_to);
    for (auto& e : batch->events) events.push_back(std::move(e));
  }
  std::erase_if(events, [&](const auto& e) { return e.rv > complete; });
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.rv < b.rv; });
  rv_ = std::max(rv_, complete);
  for (const auto& e : events) {
    if (e.type == "DELETED") continue;
    for (const std::string& line : DescribeChange(e.gr, e.prev, e.object)) Say(line);
    if (e.gr == kWdGr) {
      std::string before = Str(e.prev, {"status", "phase"});
      std::string after = Str(e.object, {"status", "phase"});
      if (before != after && !after.empty()) {
        phases_[Str(e.object, {"metadata", "name"})].emplace_back(clock_->Now(), after);
      }
    }
  }
}

void Demo::RecordLoop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    std::int64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(rec_mu_);
      seen = rv_;
    }
    server_->store().WaitForChange(seen, std::chrono::steady_clock::now() + 200ms, stop);
    DrainEvents();
  }
}

void Demo::Teardown() {
  if (recorder_.joinable()) {
    recorder_.request_stop();
    recorder_.join();
  }
  if (controller_) controller_->Stop();
  controller_.reset();
  if (sim_) sim_->Stop();
  sim_.reset();
  sim_cluster_.reset();
  sim_client_.reset();
  controller_client_.reset();
  server_.reset();
}

void Demo::Summary() {
  Narrate("Summary");
  struct Row {
    const char* wd;
    const char* what;
    const char* how;
  };
  const Row rows[] = {
      {"payments-needs-database", "Deployment/payments", "its dependency database failed"},
      {"checkout-needs-payments", "Deployment/checkout",
       "cascade: payments was suspended, so checkout could not work either"},
      {"reports-needs-database", "CronJob/reports", "its dependency database failed"},
  };
  std::lock_guard<std::mutex> lock(rec_mu_);
  for (const Row& row : rows) {
    std::optional<TimePoint> suspended;
    std::optional<TimePoint> restored;
    for (const auto& [at, phase] : phases_[row.wd]) {
      if (phase == "Suspended" && !suspended) suspended = at;
      if (phase == "Healthy" && suspended && !restored) restored = at;
    }
    if (suspended && restored) {
      Plain(fmt::format("  {:<20} suspended for {:>5.1f}s ({})", row.what,
                        std::chrono::duration<double>(*restored - *suspended).count(), row.how));
    } else {
      Plain(fmt::format("  {:<20} was not suspended and restored as expected", row.what));
    }
  }
  Json payments = GetObj("apps/v1", "deployments", "payments");
  Json checkout = GetObj("apps/v1", "deployments", "checkout");
  Json reports = GetObj("batch/v1", "cronjobs", "reports");
  bool exact = Field(payments, {"spec", "replicas"}) == Json(3) &&
               Field(checkout, {"spec", "replicas"}) == Json(2) &&
               Field(reports, {"spec", "suspend"}) == Json(false) &&
               Annotation(payments, deps::kAnnotationSuspendedBy).empty() &&
               Annotation(checkout, deps::kAnnotationSuspendedBy).empty() &&
               Annotation(reports, deps::kAnnotationSuspendedBy).empty();
  result_.restored_exactly = exact;
  if (exact) {
    Plain("  Every workload is back exactly where it was (payments 3 replicas, checkout 2,");
    Plain("  reports not suspended), durable records cleared, no manual step.");
  } else {
    Plain("  WARNING: not every workload is back where it was; see the timeline above.");
  }
  Plain("");
  Plain("What you saw: tether waited the hysteresis window before acting, wrote the saved");
  Plain("replica count onto each workload before scaling it (so a restart loses nothing),");
  Plain("propagated the suspension down the chain, and restored everything only after the");
  Plain("database had stayed healthy for the recovery window.");
  Plain("Next: `tether why deployment/payments -n shop`, `tether graph -n shop`, and");
  Plain("`tether manifests` to install tether in a real cluster.");
}

Result<DemoResult> Demo::Run() {
  testing::ApiServerOptions so;
  so.clock = clock_;
  so.bookmark_interval = 1s;
  so.namespaces.push_back(kNs);
  auto server = testing::ApiServer::Start(so);
  if (!server) return tl::unexpected(server.error().Wrap("demo: starting the embedded API server"));
  server_ = std::move(*server);
  start_ = clock_->Now();

  Plain("tether demo: an in-process Kubernetes API server, a simulator playing the workload");
  Plain("controllers, and tether's real WorkloadDependency controller. No cluster needed.");
  Plain(fmt::format("Windows are short for the demo: window {}, recovery window {}.",
                    FormatDuration(o_.window), FormatDuration(o_.recovery_window)));
  if (!o_.kubeconfig_path.empty()) {
    auto w =
        server_->WriteKubeconfig(o_.kubeconfig_path, testing::KubeconfigAuth::ClientCert("admin"));
    if (!w) return tl::unexpected(w.error().Wrap("demo: writing kubeconfig"));
    Plain(fmt::format("API server: {}   kubeconfig: {}", server_->url(), o_.kubeconfig_path));
    Plain(fmt::format("  try: kubectl --kubeconfig {} get wd,deploy,cronjob -n shop -w",
                      o_.kubeconfig_path));
  }

  auto crd = server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                             deps::WorkloadDependencyCrd());
  if (!crd) return tl::unexpected(crd.error().Wrap("demo: installing the CRD"));

  auto config = server_->RestConfigFor("tether");
  if (!config) return tl::unexpected(config.error().Wrap("demo: issuing a client certificate"));
  const kube::RestConfig& rc = *config;
  auto cc = kube::Client::Create(rc, *clock_, {.qps = 1e6, .burst = 1000000});
  if (!cc) return tl::unexpected(cc.error());
  controller_client_ = std::move(*cc);
  auto sc = kube::Client::Create(rc, RealClock::Instance(), {.qps = 1e6, .burst = 1000000});
  if (!sc) return tl::unexpected(sc.error());
  sim_client_ = std::move(*sc);

  {
    std::lock_guard<std::mutex> lock(rec_mu_);
    rv_ = server_->store().current_rv();
  }
  recorder_ = std::jthread([this](std::stop_token stop) { RecordLoop(stop); });

  sim_cluster_ = std::make_unique<sim::ClientCluster>(*sim_client_, RealClock::Instance(), 200ms);
  sim::SimulatorOptions sim_options;
  sim_options.namespace_ = kNs;
  sim_options.kinds = {sim::Kind::kDeployment, sim::Kind::kCronJob};
  sim_ = std::make_unique<sim::Simulator>(*sim_cluster_, *clock_, sim_options);
  sim_->Start();

  Narrate("Setting up the shop: database <- payments <- checkout, and a reports CronJob");
  for (auto [name, replicas] : {std::pair{"database", 3}, {"payments", 3}, {"checkout", 2}}) {
    if (auto r = Create("apps/v1", "deployments", Deployment(name, replicas)); !r) {
      return tl::unexpected(r.error());
    }
  }
  if (auto r = Create("batch/v1", "cronjobs", CronJob("reports")); !r) {
    return tl::unexpected(r.error());
  }
  const std::vector<Json> wds = {
      Wd("payments-needs-database", "Deployment", "payments", "database", 80, o_),
      Wd("checkout-needs-payments", "Deployment", "checkout", "payments", 100, o_),
      Wd("reports-needs-database", "CronJob", "reports", "database", 80, o_),
  };
  for (const Json& wd : wds) {
    if (auto r = Create("tether.dev/v1alpha1", "workloaddependencies", wd); !r) {
      return tl::unexpected(r.error());
    }
  }

  deps::ControllerOptions co;
  co.clock = clock_;
  co.client = controller_client_.get();
  co.registry = &registry_;
  co.workers = 2;
  co.notifier.threads = 1;
  auto controller = deps::DependencyController::Create(std::move(co));
  if (!controller) return tl::unexpected(controller.error().Wrap("demo: starting the controller"));
  controller_ = std::move(*controller);
  controller_->Start();

  auto all_phase = [&](const std::string& phase) {
    return [this, phase] {
      return Phase("payments-needs-database") == phase &&
             Phase("checkout-needs-payments") == phase && Phase("reports-needs-database") == phase;
    };
  };
  if (auto r = WaitUntil(all_phase("Healthy"), "every WorkloadDependency to be Healthy"); !r) {
    return tl::unexpected(r.error());
  }
  DrainEvents();
  Narrate("Incident: all 3 database pods become unready (simulated crash)");
  sim_->SetReady(sim::Kind::kDeployment, kNs, "database", 0);
  if (auto r = WaitUntil(all_phase("Suspended"), "payments, checkout and reports to be suspended");
      !r) {
    return tl::unexpected(r.error());
  }
  DrainEvents();
  Narrate(fmt::format(
      "Everything that needs the database is suspended. The database stays down for {} more.",
      FormatDuration(o_.outage)));
  Pass(o_.outage);
  DrainEvents();
  Narrate("The database recovers: its pods become ready again");
  sim_->ClearReady(sim::Kind::kDeployment, kNs, "database");
  auto restored = [this] {
    return Phase("payments-needs-database") == "Healthy" &&
           Phase("checkout-needs-payments") == "Healthy" &&
           Phase("reports-needs-database") == "Healthy" &&
           Field(GetObj("apps/v1", "deployments", "checkout"), {"status", "readyReplicas"}) ==
               Json(2);
  };
  if (auto r = WaitUntil(restored, "every workload to be restored"); !r) {
    return tl::unexpected(r.error());
  }
  // Let the last status writes land in the timeline.
  Pass(200ms);
  DrainEvents();
  Summary();
  if (o_.before_teardown) o_.before_teardown();
  Teardown();
  return std::move(result_);
}

struct DemoFlags {
  bool keep_running = false;
  std::string kubeconfig_out;
  double window_seconds = 3;
  double recovery_seconds = 5;
  LogFlags log;
};

int RunDemoCommand(const DemoFlags& flags) {
  LogFlags log = flags.log;
  if (!ApplyLogFlags(log)) return 2;
  DemoOptions o;
  o.window =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(flags.window_seconds));
  o.recovery_window =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(flags.recovery_seconds));
  o.kubeconfig_path = flags.kubeconfig_out;
  if (flags.keep_running && o.kubeconfig_path.empty()) {
    o.kubeconfig_path = fmt::format("/tmp/tether-demo-{}.kubeconfig", ::getpid());
  }
  sigset_t signals;
  sigemptyset(&signals);
  if (flags.keep_running) {
    // Block before any thread starts so that only sigwait() below sees Ctrl-C.
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    o.before_teardown = [&signals, path = o.kubeconfig_path] {
      fmt::print(
          "\nThe demo cluster keeps running (--keep-running). Poke at it with:\n"
          "  kubectl --kubeconfig {0} get wd,deploy,cronjob -n shop\n"
          "  tether why deployment/payments -n shop --kubeconfig {0}\n"
          "  tether graph -n shop --kubeconfig {0}\n"
          "Press Ctrl-C to stop.\n",
          path);
      std::fflush(stdout);
      int sig = 0;
      sigwait(&signals, &sig);
    };
  }
  auto result = RunDemo(std::move(o));
  if (!result) {
    fmt::print(stderr, "tether demo: {}\n", result.error().ToString());
    return 1;
  }
  return result->restored_exactly ? 0 : 1;
}

}  // namespace

std::vector<std::string> DescribeChange(std::string_view gr, const Json& prev, const Json& object) {
  if (gr == kWdGr) {
    if (prev.is_null()) return {DescribeWdCreated(object)};
    return DescribeWdChange(prev, object);
  }
  if (gr == kDeployGr || gr == kCronGr) return DescribeWorkloadChange(gr, prev, object);
  return {};
}

Result<DemoResult> RunDemo(DemoOptions options) {
  Demo demo(std::move(options));
  return demo.Run();
}

void RegisterDemoCommand(CLI::App& app) {
  auto flags = std::make_shared<DemoFlags>();
  flags->log.level = "warn";  // the timeline is the output; controller logs would drown it
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Run tether against an embedded in-process cluster with a scripted incident (no cluster "
      "needed)");
  AddBoolFlag(cmd, "keep-running", flags->keep_running,
              "Leave the embedded cluster running after the scenario (prints a kubeconfig)");
  AddFlag(cmd, "kubeconfig-out", flags->kubeconfig_out,
          "Write a kubeconfig for the embedded API server to this path");
  AddFlag(cmd, "window", flags->window_seconds, "Hysteresis window in seconds")
      ->check(CLI::Range(0.5, 60.0));
  AddFlag(cmd, "recovery-window", flags->recovery_seconds, "Recovery window in seconds")
      ->check(CLI::Range(0.5, 60.0));
  AddLogFlags(cmd, flags->log);
  cmd->callback([flags] {
    int code = 1;
    try {
      code = RunDemoCommand(*flags);
    } catch (const std::exception& e) {
      // Library exceptions (e.g. a malformed object from the cluster) end here, not in a crash.
      fmt::print(stderr, "tether demo: unexpected error: {}\n", e.what());
    }
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace tether::cli
