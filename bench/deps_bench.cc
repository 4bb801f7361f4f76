// End-to-end benchmarks of the WorkloadDependency controller against the embedded API server
// (SPEC §10):
//   * window expiry -> scale request received by the API server   (target < 100 ms)
//   * manual scale-up of a strict-mode suspended dependent -> revert (target < 1 s)
//   * controller memory (RSS) with 1,000 WorkloadDependencies over 10,000 pods (< 100 MiB)
// Time windows run on a FakeClock so the measured latency is the controller's own.
// Run: build/<dir>/bench/deps_bench [iterations]   (built with -DTETHER_BENCH=ON)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "deps/controller.h"
#include "deps/crd.h"
#include "kube/client.h"
#include "testing/apiserver.h"

namespace {

using nlohmann::json;
using tether::FakeClock;
using tether::deps::ControllerOptions;
using tether::deps::DependencyController;
using Steady = std::chrono::steady_clock;

constexpr const char* kNs = "bench";

double RssMiB() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0;
  long pages_rss = 0;
  f >> pages_total >> pages_rss;
  return static_cast<double>(pages_rss) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

template <class Pred>
bool Spin(Pred pred, std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

template <class Pred>
bool Poll(Pred pred, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
}

json Pod(const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"labels", {{"app", app}, {"pod-template-hash", "5d9f8c7b6"}}},
            {"annotations", {{"kubernetes.io/psp", "restricted"}}}}},
          {"spec",
           {{"containers",
             {{{"name", "c"},
               {"image", "registry.example.com/team/app:1.2.3"},
               {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}}}}},
          {"status", {{"phase", "Running"}}}};
}

json Wd(const std::string& name, const std::string& dependent, const std::string& dependency) {
  return {{"apiVersion", "tether.dev/v1alpha1"},
          {"kind", "WorkloadDependency"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"dependent", {{"kind", "Deployment"}, {"name", dependent}}},
            {"dependsOn",
             {{{"kind", "Deployment"},
               {"name", dependency},
               {"condition", {{"window", "30s"}, {"recoveryWindow", "60s"}}}}}}}}};
}

class Bench {
 public:
  bool Setup() {
    tether::testing::ApiServerOptions so;
    so.clock = &clock_;
    so.namespaces.push_back(kNs);
    auto s = tether::testing::ApiServer::Start(so);
    if (!s) {
      fmt::print(stderr, "api server: {}\n", s.error().ToString());
      return false;
    }
    server_ = std::move(*s);
    if (!server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                         tether::deps::WorkloadDependencyCrd())) {
      return false;
    }
    auto rc = server_->RestConfigFor("tether");
    if (!rc) return false;
    auto c = tether::kube::Client::Create(*rc, clock_, {.qps = 1e6, .burst = 1000000});
    if (!c) return false;
    client_ = std::move(*c);
    return true;
  }

  void SetReady(const std::string& name, int ready) {
    auto d = server_->Get("apps/v1", "deployments", kNs, name);
    json o = *d;
    int64_t replicas = o["spec"].value("replicas", 1);
    o["status"] = {{"observedGeneration", o["metadata"].value("generation", 1)},
                   {"replicas", replicas},
                   {"readyReplicas", ready},
                   {"availableReplicas", ready}};
    (void)server_->UpdateStatus("apps/v1", "deployments", kNs, o);
  }

  std::string Phase(const std::string& wd) {
    auto o = server_->Get("tether.dev/v1alpha1", "workloaddependencies", kNs, wd);
    if (!o || !o->contains("status")) return "";
    return (*o)["status"].value("phase", "");
  }
  bool HasHealthySince(const std::string& wd) {
    auto o = server_->Get("tether.dev/v1alpha1", "workloaddependencies", kNs, wd);
    return o && o->contains("status") && (*o)["status"].contains("healthySince");
  }
  int64_t Replicas(const std::string& name) {
    auto o = server_->Get("apps/v1", "deployments", kNs, name);
    return o ? (*o)["spec"].value("replicas", int64_t{1}) : -1;
  }

  std::unique_ptr<DependencyController> StartController(tether::metrics::Registry& reg) {
    ControllerOptions o;
    o.clock = &clock_;
    o.client = client_.get();
    o.registry = &reg;
    auto c = DependencyController::Create(o);
    if (!c) return nullptr;
    (*c)->Start();
    Poll([&] { return (*c)->HasSynced(); });
    return std::move(*c);
  }

  // Latencies (ms) of window expiry -> scale request, and manual scale-up -> strict revert.
  void Latencies(int iterations) {
    server_->Create("apps/v1", "deployments", kNs, Deployment("db", 3));
    server_->Create("apps/v1", "deployments", kNs, Deployment("payments", 4));
    SetReady("db", 3);
    server_->Create("tether.dev/v1alpha1", "workloaddependencies", kNs,
                    Wd("payments-needs-db", "payments", "db"));
    tether::metrics::Registry reg;
    auto ctl = StartController(reg);
    if (!ctl || !Poll([&] { return Phase("payments-needs-db") == "Healthy"; })) {
      fmt::print(stderr, "controller did not settle\n");
      return;
    }
    std::vector<double> expiry;
    std::vector<double> revert;
    for (int i = 0; i < iterations; ++i) {
      SetReady("db", 0);
      if (!Poll([&] { return Phase("payments-needs-db") == "Degraded"; })) break;
      int before = server_->RequestCount("patch", "deployments/scale");
      auto t0 = Steady::now();
      clock_.Advance(std::chrono::seconds(30));
      if (!Spin([&] { return server_->RequestCount("patch", "deployments/scale") > before; })) {
        break;
      }
      expiry.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
      if (!Poll([&] { return Phase("payments-needs-db") == "Suspended"; })) break;

      auto d = server_->Get("apps/v1", "deployments", kNs, "payments");
      json o = *d;
      o["spec"]["replicas"] = 6;
      auto t1 = Steady::now();
      (void)server_->Update("apps/v1", "deployments", kNs, o);
      if (!Spin([&] { return Replicas("payments") == 0; })) break;
      revert.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t1).count());

      SetReady("db", 3);
      if (!Poll([&] { return HasHealthySince("payments-needs-db"); })) break;
      clock_.Advance(std::chrono::seconds(60));
      if (!Poll(
              [&] { return Phase("payments-needs-db") == "Healthy" && Replicas("payments") == 4; }))
        break;
    }
    Report("window expiry -> scale request received (target < 100 ms)", expiry);
    Report("manual scale-up -> strict revert visible (target < 1000 ms)", revert);
  }

  void Memory(int wds, int pods) {
    const int dbs = std::max(1, wds / 10);
    for (int i = 0; i < dbs; ++i) {
      server_->Create("apps/v1", "deployments", kNs, Deployment(fmt::format("db-{}", i), 3));
      SetReady(fmt::format("db-{}", i), 3);
    }
    for (int i = 0; i < wds; ++i) {
      server_->Create("apps/v1", "deployments", kNs, Deployment(fmt::format("app-{}", i), 2));
      server_->Create(
          "tether.dev/v1alpha1", "workloaddependencies", kNs,
          Wd(fmt::format("wd-{}", i), fmt::format("app-{}", i), fmt::format("db-{}", i % dbs)));
    }
    for (int i = 0; i < pods; ++i) {
      server_->Create("v1", "pods", kNs,
                      Pod(fmt::format("app-{}-{}", i % wds, i), fmt::format("app-{}", i % wds)));
    }
    double base = RssMiB();
    tether::metrics::Registry reg;
    auto t0 = Steady::now();
    auto ctl = StartController(reg);
    bool settled = Poll(
        [&] {
          auto list = server_->List("tether.dev/v1alpha1", "workloaddependencies", kNs);
          if (!list) return false;
          for (const auto& o : (*list)["items"]) {
            if (!o.contains("status") || o["status"].value("phase", "") != "Healthy") return false;
          }
          return true;
        },
        std::chrono::seconds(300));
    double secs = std::chrono::duration<double>(Steady::now() - t0).count();
    double after = RssMiB();
    fmt::print("{} WorkloadDependencies, {} pods in the cluster: all Healthy={} after {:.2f} s\n",
               wds, pods, settled, secs);
    fmt::print(
        "  process RSS {:.1f} MiB (embedded API server included); controller's share "
        "{:.1f} MiB (target < 100 MiB)\n",
        after, after - base);
  }

 private:
  static void Report(const std::string& what, std::vector<double> v) {
    if (v.empty()) {
      fmt::print("{}: no samples\n", what);
      return;
    }
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) { return v[std::min(v.size() - 1, size_t(p * (v.size() - 1)))]; };
    fmt::print("{}: n={} min={:.2f} ms p50={:.2f} ms p90={:.2f} ms max={:.2f} ms\n", what, v.size(),
               v.front(), pct(0.5), pct(0.9), v.back());
  }

  FakeClock clock_;
  std::unique_ptr<tether::testing::ApiServer> server_;
  std::unique_ptr<tether::kube::Client> client_;
};

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 20;
  int wds = argc > 2 ? std::atoi(argv[2]) : 1000;
  int pods = argc > 3 ? std::atoi(argv[3]) : 10000;
  {
    Bench b;
    if (!b.Setup()) return 1;
    b.Latencies(iterations);
  }
  {
    Bench b;
    if (!b.Setup()) return 1;
    b.Memory(wds, pods);
  }
  return 0;
}
