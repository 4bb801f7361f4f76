// Scheduling-gate benchmark (SPEC §3.2 / §10): 1,000 gated pods waiting on 100 ConfigMaps, with
// 10,000 ungated running pods present, against the embedded API server over real HTTPS.
// Reports p50/p99 latency from a ConfigMap change to the removal of the gates waiting on it (as
// observed through a pod watch: an upper bound), and the controller's memory (RSS growth from
// its start to a synced cache) plus how many pods it caches.
//
//   build/<dir>/src/gates/gates_bench [gated_pods=1000] [objects=100] [running_pods=10000]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gates/controller.h"
#include "kube/informer.h"
#include "testing/apiserver.h"

using tether::gates::Json;
using Steady = std::chrono::steady_clock;

namespace {

double RssMiB() {
  std::ifstream f("/proc/self/statm");
  long total = 0, rss = 0;
  f >> total >> rss;
  return static_cast<double>(rss) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

template <class Pred>
bool Spin(Pred pred, std::chrono::seconds limit = std::chrono::seconds(120)) {
  auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

Json Pod(const std::string& name, int object, bool gated) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}};
  if (gated) {
    p["metadata"]["annotations"]["gate.tether.dev/ready"] =
        "{\"kind\":\"ConfigMap\",\"name\":\"obj-" + std::to_string(object) +
        "\",\"expression\":\"resource.data.ready == 'true'\"}";
    p["spec"]["schedulingGates"] = {{{"name", "gate.tether.dev/ready"}}};
  } else {
    p["spec"]["nodeName"] = "node-1";
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const int gated = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int objects = argc > 2 ? std::atoi(argv[2]) : 100;
  const int running = argc > 3 ? std::atoi(argv[3]) : 10000;
  auto& clock = tether::RealClock::Instance();
  tether::testing::ApiServerOptions so;
  auto server_or = tether::testing::ApiServer::Start(so);
  if (!server_or) return std::fprintf(stderr, "%s\n", server_or.error().ToString().c_str()), 1;
  auto& server = **server_or;
  for (int i = 0; i < running; ++i) {
    (void)server.Create("v1", "pods", "default", Pod("run-" + std::to_string(i), 0, false));
  }
  for (int i = 0; i < objects; ++i) {
    (void)server.Create("v1", "configmaps", "default",
                        {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata", {{"name", "obj-" + std::to_string(i)}}},
                         {"data", {{"ready", "false"}}}});
  }
  for (int i = 0; i < gated; ++i) {
    (void)server.Create("v1", "pods", "default",
                        Pod("gated-" + std::to_string(i), i % objects, true));
  }
  const tether::kube::RestConfig rc = *server.RestConfigFor("tether");
  auto client = std::move(*tether::kube::Client::Create(rc, clock, {.qps = 1e6, .burst = 1000000}));
  auto observer_client =
      std::move(*tether::kube::Client::Create(rc, clock, {.qps = 1e6, .burst = 1000000}));
  tether::metrics::Registry registry;

  // Observer: when does each pod lose its gate?
  std::mutex mu;
  std::unordered_map<std::string, Steady::time_point> flipped;  // object -> flip time
  std::vector<double> latencies_ms;
  std::atomic<int> opened{0};
  tether::kube::InformerOptions oo;
  oo.resource = tether::kube::resources::Pods();
  oo.field_selector = "spec.nodeName=";
  oo.registry = &registry;
  tether::kube::Informer observer(
      tether::kube::MakeClientListerWatcher(*observer_client, oo.resource, ""), clock, oo);
  observer.AddEventHandler({.on_update = [&](const auto& old_obj, const auto& new_obj) {
    if (tether::gates::SchedulingGates(*old_obj).empty() ||
        !tether::gates::SchedulingGates(*new_obj).empty()) {
      return;
    }
    const auto now = Steady::now();
    const std::string ann =
        (*new_obj)["metadata"]["annotations"].value("gate.tether.dev/ready", "");
    auto c = tether::gates::ParseCondition(ann);
    std::lock_guard lock(mu);
    auto it = c ? flipped.find(c->name) : flipped.end();
    if (it != flipped.end()) {
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    }
    ++opened;
  }});
  observer.Start();
  Spin([&] { return observer.HasSynced(); });

  const double rss_before = RssMiB();
  tether::gates::GateControllerOptions o;
  o.clock = &clock;
  o.client = client.get();
  o.registry = &registry;
  auto controller = std::move(*tether::gates::GateController::Create(o));
  controller->Start();
  Spin([&] {
    return controller->HasSynced() && controller->CachedPods() == static_cast<size_t>(gated);
  });
  Spin([&] { return controller->WatchCount() == 1; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // settle initial evaluations
  const double rss_synced = RssMiB();

  for (int i = 0; i < objects; ++i) {
    const std::string name = "obj-" + std::to_string(i);
    auto cm = server.Get("v1", "configmaps", "default", name);
    (*cm)["data"]["ready"] = "true";
    {
      std::lock_guard lock(mu);
      flipped[name] = Steady::now();
    }
    (void)server.Update("v1", "configmaps", "default", *cm);
    // One object at a time (10 pods each): latency, not throughput.
    Spin([&] { return opened.load() >= (i + 1) * gated / objects; }, std::chrono::seconds(10));
  }
  Spin([&] { return opened.load() >= gated; });
  controller->Stop();
  observer.Stop();

  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(
        latencies_ms.size() - 1,
        static_cast<size_t>(p * static_cast<double>(latencies_ms.size())))];
  };
  std::printf("gates_bench: %d gated pods on %d ConfigMaps, %d ungated running pods present\n",
              gated, objects, running);
  std::printf("  gates opened: %d/%d\n", opened.load(), gated);
  std::printf(
      "  change -> gate removed (observed via watch): p50 %.1f ms, p99 %.1f ms, max %.1f ms "
      "(target p99 < 100 ms)\n",
      pct(0.50), pct(0.99), latencies_ms.empty() ? 0.0 : latencies_ms.back());
  std::printf(
      "  controller memory: RSS +%.1f MiB from start to synced cache (%zu pods cached of "
      "%d pods in the cluster)\n",
      rss_synced - rss_before, static_cast<size_t>(gated), gated + running);
  return opened.load() >= gated ? 0 : 1;
}
