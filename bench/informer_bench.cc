// End-to-end informer benchmark against the embedded API server over real HTTPS:
//   * cold start: paged list of N pods into an empty informer cache until HasSynced;
//   * cached bytes per Pod object (heap growth of the cache / N; managedFields stripped on
//     ingest as in production);
//   * watch-event ingest, end to end: M pod updates made while the informer watches, counted by
//     its update handler (the API server, the producer and the informer share the cores, so this
//     is bounded by the producer);
//   * watch-event ingest, informer alone: M pre-serialized watch lines replayed through the
//     client's watch-line decoder into an informer (JSON parse, managedFields strip, cache,
//     handlers) on one thread.
// Usage: informer_bench [pods=10000] [updates=20000]
#include <fmt/format.h>
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "testing/apiserver.h"

using namespace tether;
using Json = nlohmann::json;

namespace {

// Replays pre-serialized watch lines: an empty list, then every line decoded exactly as
// Client::Watch decodes the stream.
class ReplayListerWatcher final : public kube::ListerWatcher {
 public:
  explicit ReplayListerWatcher(const std::vector<std::string>& lines) : lines_(lines) {}
  Result<kube::ListResult> List(const kube::ListOptions&) override {
    return kube::ListResult{{}, "1"};
  }
  Result<void> Watch(const kube::WatchOptions&,
                     const std::function<bool(kube::WatchEvent&&)>& handler,
                     const std::stop_token& stop) override {
    if (!replayed_) {
      replayed_ = true;
      for (const std::string& line : lines_) {
        auto event = kube::ParseWatchEvent(line);
        if (!event) return tl::unexpected(event.error());
        if (!handler(std::move(*event))) return {};
      }
    }
    RealClock::Instance().SleepUntil(TimePoint::max(), stop);
    return Fail(ErrorCode::kCancelled, "stopped");
  }

 private:
  const std::vector<std::string>& lines_;
  bool replayed_ = false;
};

// A realistic Deployment-managed pod (~4 KB of JSON with managedFields).
Json MakePod(int i) {
  std::string name = fmt::format("web-7d9f8c6b5-{:05d}", i);
  Json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", fmt::format("team-{}", i % 20)},
        {"labels", {{"app", "web"}, {"pod-template-hash", "7d9f8c6b5"}, {"tier", "frontend"}}},
        {"annotations", {{"kubectl.kubernetes.io/restartedAt", "2026-06-15T03:00:00Z"}}},
        {"ownerReferences", Json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "ReplicaSet"},
                                          {"name", "web-7d9f8c6b5"},
                                          {"uid", "6f1c2b9e-0d4e-4e3b-9c61-3f1f0a7d9b11"},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})},
        {"managedFields",
         Json::array({{{"manager", "kube-controller-manager"},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1",
                        {{"f:metadata", {{"f:labels", {{"f:app", Json::object()}}}}},
                         {"f:spec", {{"f:containers", Json::object()}}}}}}})}}},
      {"spec",
       {{"containers",
         Json::array(
             {{{"name", "web"},
               {"image", "registry.example/web:1.42.0"},
               {"ports", Json::array({{{"containerPort", 8080}, {"protocol", "TCP"}}})},
               {"env", Json::array({{{"name", "LOG_LEVEL"}, {"value", "info"}},
                                    {{"name", "DB_HOST"}, {"value", "postgresql"}}})},
               {"resources",
                {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}},
                 {"limits", {{"memory", "512Mi"}}}}},
               {"readinessProbe",
                {{"httpGet", {{"path", "/ready"}, {"port", 8080}}}, {"periodSeconds", 5}}},
               {"volumeMounts",
                Json::array({{{"name", "kube-api-access"},
                              {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                              {"readOnly", true}}})}}})},
        {"restartPolicy", "Always"},
        {"serviceAccountName", "web"},
        {"nodeName", fmt::format("node-{}", i % 50)},
        {"tolerations", Json::array({{{"key", "node.kubernetes.io/not-ready"},
                                      {"operator", "Exists"},
                                      {"effect", "NoExecute"},
                                      {"tolerationSeconds", 300}}})},
        {"volumes",
         Json::array({{{"name", "kube-api-access"}, {"projected", {{"defaultMode", 420}}}}})}}},
      {"status",
       {{"phase", "Running"},
        {"podIP", fmt::format("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256)},
        {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}},
                                    {{"type", "PodScheduled"}, {"status", "True"}}})},
        {"containerStatuses",
         Json::array({{{"name", "web"},
                       {"ready", true},
                       {"restartCount", 0},
                       {"image", "registry.example/web:1.42.0"},
                       {"imageID", "registry.example/web@sha256:0123456789abcdef0123456789abcdef"},
                       {"containerID", "containerd://0123456789abcdef0123456789abcdef"},
                       {"state", {{"running", {{"startedAt", "2026-06-15T03:00:05Z"}}}}}}})}}}};
  return pod;
}

std::size_t HeapInUse() { return mallinfo2().uordblks; }

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int pods = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int updates = argc > 2 ? std::atoi(argv[2]) : 20000;
  Clock& clock = RealClock::Instance();

  testing::ApiServerOptions so;
  for (int n = 0; n < 20; ++n) so.namespaces.push_back(fmt::format("team-{}", n));
  auto server = testing::ApiServer::Start(so);
  if (!server) {
    fmt::print(stderr, "cannot start the embedded API server: {}\n", server.error().message);
    return 1;
  }
  std::vector<Json> created;
  created.reserve(pods);
  for (int i = 0; i < pods; ++i) {
    auto obj = (*server)->Create("v1", "pods", MakePod(i)["metadata"]["namespace"], MakePod(i));
    if (!obj) {
      fmt::print(stderr, "create pod {}: {}\n", i, obj.error().message);
      return 1;
    }
    created.push_back(std::move(*obj));
  }
  std::string pod_json_bytes = MakePod(0).dump();
  auto kubeconfig = std::filesystem::temp_directory_path() / "tether-informer-bench.kubeconfig";
  (*server)->AddToken("bench-token", "admin", {"system:masters"});
  if (auto w =
          (*server)->WriteKubeconfig(kubeconfig, testing::KubeconfigAuth::Token("bench-token"));
      !w) {
    fmt::print(stderr, "kubeconfig: {}\n", w.error().message);
    return 1;
  }
  kube::LoadOptions load;
  load.kubeconfig = kubeconfig;
  auto config = kube::LoadKubeconfig(load, clock);
  if (!config) {
    fmt::print(stderr, "{}\n", config.error().message);
    return 1;
  }
  auto client = kube::Client::Create(*config, clock, {.qps = 1e6, .burst = 1000000});
  if (!client) {
    fmt::print(stderr, "{}\n", client.error().message);
    return 1;
  }

  std::atomic<int> seen_updates{0};
  std::mutex mu;
  std::condition_variable cv;
  kube::InformerOptions io;
  io.resource = kube::resources::Pods();
  io.watch_timeout_seconds = 3600;
  kube::Informer informer(kube::MakeClientListerWatcher(**client, io.resource, ""), clock, io);
  informer.AddEventHandler({.on_update = [&](const kube::ObjectPtr&, const kube::ObjectPtr&) {
    if (seen_updates.fetch_add(1) + 1 == updates) {
      std::lock_guard l(mu);
      cv.notify_all();
    }
  }});

  malloc_trim(0);
  std::size_t heap_before = HeapInUse();
  auto t0 = std::chrono::steady_clock::now();
  informer.Start();
  std::stop_source never;
  informer.WaitForSync(never.get_token());
  auto synced = std::chrono::steady_clock::now();
  malloc_trim(0);
  std::size_t heap_after = HeapInUse();

  fmt::print("informer_bench: {} pods ({} bytes of JSON each as served, managedFields included)\n",
             pods, pod_json_bytes.size());
  fmt::print("  cold start (paged list over HTTPS -> synced cache): {:.3f} s\n",
             Seconds(synced - t0));
  fmt::print("  cached heap per Pod object:                          {:.0f} bytes\n",
             static_cast<double>(heap_after - heap_before) / pods);

  auto p0 = std::chrono::steady_clock::now();
  std::thread producer([&] {
    for (int i = 0; i < updates; ++i) {
      Json& pod = created[i % pods];
      pod["metadata"]["labels"]["generation-of-test"] = std::to_string(i);
      pod["metadata"].erase("resourceVersion");  // unconditional update
      auto updated = (*server)->Update("v1", "pods", pod["metadata"]["namespace"], pod);
      if (!updated) {
        fmt::print(stderr, "update: {}\n", updated.error().message);
        std::exit(1);
      }
    }
  });
  producer.join();
  auto produced = std::chrono::steady_clock::now();
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, std::chrono::minutes(5), [&] { return seen_updates.load() >= updates; })) {
      fmt::print(stderr, "informer saw only {} of {} updates\n", seen_updates.load(), updates);
      return 1;
    }
  }
  auto consumed = std::chrono::steady_clock::now();
  fmt::print("  {} updates produced in {:.3f} s ({:.0f}/s)\n", updates, Seconds(produced - p0),
             updates / Seconds(produced - p0));
  fmt::print("  watch-event ingest: all {} seen after {:.3f} s -> {:.0f} events/s (lower bound)\n",
             updates, Seconds(consumed - p0), updates / Seconds(consumed - p0));
  informer.Stop();

  // Informer alone: decode + cache + handler for `updates` watch lines on one thread.
  std::vector<std::string> lines;
  lines.reserve(updates);
  for (int i = 0; i < updates; ++i) {
    Json pod = MakePod(i % pods);
    pod["metadata"]["resourceVersion"] = std::to_string(i + 2);
    lines.push_back(Json{{"type", i < pods ? "ADDED" : "MODIFIED"}, {"object", pod}}.dump());
  }
  std::atomic<int> replayed{0};
  kube::InformerOptions ro;
  ro.resource = kube::resources::Pods();
  kube::Informer replay(std::make_unique<ReplayListerWatcher>(lines), clock, ro);
  auto count = [&] {
    if (replayed.fetch_add(1) + 1 == updates) {
      std::lock_guard l(mu);
      cv.notify_all();
    }
  };
  replay.AddEventHandler(
      {.on_add = [&](const kube::ObjectPtr&) { count(); },
       .on_update = [&](const kube::ObjectPtr&, const kube::ObjectPtr&) { count(); }});
  auto r0 = std::chrono::steady_clock::now();
  replay.Start();
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, std::chrono::minutes(5), [&] { return replayed.load() >= updates; })) {
      fmt::print(stderr, "replay: informer saw only {} of {} events\n", replayed.load(), updates);
      return 1;
    }
  }
  auto r1 = std::chrono::steady_clock::now();
  fmt::print(
      "  watch-event ingest, informer alone (decode + cache + handler, 1 thread): "
      "{:.0f} events/s\n",
      updates / Seconds(r1 - r0));
  replay.Stop();
  (*server)->Stop();
  std::filesystem::remove(kubeconfig);
  return 0;
}
