#include "deps/controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "deps/cel_evaluator.h"
#include "deps/cycle.h"
#include "deps/health.h"
#include "deps/state_machine.h"
#include "deps/types.h"
#include "kube/controller.h"
#include "kube/event_recorder.h"
#include "prom/client.h"

namespace tether::deps {
namespace {

using kube::ObjectPtr;
using kube::Resource;
using nlohmann::json;

constexpr std::string_view kPromPrefix = "prom:";

kube::Resource RolloutsResource() {
  return {.group = "argoproj.io",
          .version = "v1alpha1",
          .resource = "rollouts",
          .kind = "Rollout",
          .namespaced = true};
}

kube::Resource WorkloadResource(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::kDeployment:
      return kube::resources::Deployments();
    case WorkloadKind::kStatefulSet:
      return kube::resources::StatefulSets();
    case WorkloadKind::kReplicaSet:
      return kube::resources::ReplicaSets();
    case WorkloadKind::kDaemonSet:
      return kube::resources::DaemonSets();
    case WorkloadKind::kCronJob:
      return kube::resources::CronJobs();
    case WorkloadKind::kJob:
      return kube::resources::Jobs();
    case WorkloadKind::kRollout:
      return RolloutsResource();
  }
  return {};
}

constexpr std::array<WorkloadKind, 7> kAllKinds = {
    WorkloadKind::kDeployment, WorkloadKind::kStatefulSet, WorkloadKind::kReplicaSet,
    WorkloadKind::kDaemonSet,  WorkloadKind::kCronJob,     WorkloadKind::kJob,
    WorkloadKind::kRollout};

std::string GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string()
                                         : std::string(api_version.substr(0, slash));
}

// Key of an object in the reverse index: "Kind.group/namespace/name" (group empty for core).
std::string RefKey(std::string_view group, std::string_view kind, std::string_view ns,
                   std::string_view name) {
  return fmt::format("{}.{}/{}/{}", kind, group, ns, name);
}

std::string ObjectNamespace(const json& o) {
  const auto& md = o.value("metadata", json::object());
  return md.value("namespace", std::string());
}
std::string ObjectName(const json& o) {
  const auto& md = o.value("metadata", json::object());
  return md.value("name", std::string());
}

// Every object the WorkloadDependency names, as reverse-index keys (lenient: works on specs the
// validator rejects, so an invalid spec still reacts when it is fixed).
std::vector<std::string> ReferencedKeys(const json& wd) {
  std::vector<std::string> keys;
  std::string ns = ObjectNamespace(wd);
  const json spec = wd.value("spec", json::object());
  if (!spec.is_object()) return keys;
  auto workload_key = [&](const json& ref) -> std::optional<std::string> {
    if (!ref.is_object()) return std::nullopt;
    std::string kind = ref.value("kind", std::string());
    std::string name = ref.value("name", std::string());
    if (kind.empty() || name.empty()) return std::nullopt;
    std::string rns = ref.contains("namespace") && ref["namespace"].is_string()
                          ? ref["namespace"].get<std::string>()
                          : ns;
    std::string api = ref.contains("apiVersion") && ref["apiVersion"].is_string()
                          ? ref["apiVersion"].get<std::string>()
                          : std::string(schema::CanonicalApiVersion(kind));
    return RefKey(GroupOf(api), kind, rns, name);
  };
  try {
    if (auto it = spec.find("dependent"); it != spec.end()) {
      if (auto k = workload_key(*it)) keys.push_back(*k);
    }
    if (auto it = spec.find("dependsOn"); it != spec.end() && it->is_array()) {
      for (const auto& d : *it) {
        if (!d.is_object()) continue;
        if (auto p = d.find("prometheus"); p != d.end() && p->is_object()) {
          std::string q = p->value("query", std::string());
          if (!q.empty()) keys.push_back(std::string(kPromPrefix) + q);
          continue;
        }
        if (auto k = workload_key(d)) keys.push_back(*k);
      }
    }
  } catch (const std::exception&) {
    // Wrong JSON types: the reconcile reports InvalidSpec.
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::optional<WorkloadRef> ParseWorkloadKey(std::string_view key) {
  // "Kind/namespace/name"
  auto a = key.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = key.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto kind = ParseWorkloadKind(key.substr(0, a));
  if (!kind) return std::nullopt;
  return WorkloadRef{*kind, std::string(key.substr(a + 1, b - a - 1)),
                     std::string(key.substr(b + 1))};
}

// The workload transform: drops what tether never reads from cached workloads.
std::optional<json> StripWorkload(json&& o) {
  if (auto md = o.find("metadata"); md != o.end() && md->is_object()) {
    if (auto an = md->find("annotations"); an != md->end() && an->is_object()) {
      an->erase("kubectl.kubernetes.io/last-applied-configuration");
    }
  }
  return std::move(o);
}

// Kubernetes Secret data is standard base64 with padding. nullopt on a bad character.
std::optional<std::string> DecodeBase64(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

struct PromEntry {
  bool have = false;
  std::size_t samples = 0;
  std::string error;  // non-empty: the last query failed
};

}  // namespace

struct DependencyController::Impl {
  // Informer handlers reach the controller through this guard: shared informers outlive a
  // stopped controller, whose handlers must then do nothing.
  struct HandlerGuard {
    std::shared_mutex mu;
    Impl* impl = nullptr;
  };
  std::shared_ptr<HandlerGuard> guard = std::make_shared<HandlerGuard>();

  ControllerOptions opts;
  Clock& clock;
  kube::Client& client;
  metrics::Registry& registry;
  std::unique_ptr<kube::InformerFactory> own_factory;
  kube::InformerFactory* factory = nullptr;
  std::unique_ptr<prom::Client> prom;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<kube::EventRecorder> recorder;
  std::unique_ptr<kube::Controller> workers;
  CelExpressionEvaluator cel;

  std::vector<std::shared_ptr<kube::Informer>> wd_informers;

  mutable std::mutex mu;
  bool caches_started = false;
  bool acting = false;
  bool stopped = false;
  // Informer per resource, keyed by "group/Kind".
  std::map<std::string, std::shared_ptr<kube::Informer>> kind_informers;
  // Discovery answers: "apiVersion/Kind" -> resource (nullopt: not served, with retry time).
  std::map<std::string, std::pair<std::optional<Resource>, TimePoint>> discovered;
  // Reverse index: object key -> WorkloadDependency keys, and back.
  std::map<std::string, std::set<std::string>> refs;
  std::map<std::string, std::vector<std::string>> wd_refs;
  // Cycle detection.
  bool cycles_dirty = true;
  std::map<std::string, GraphEntry> graph;  // valid specs only
  std::map<std::string, std::string> cycles;
  // Prometheus cache.
  std::map<std::string, PromEntry> prom_cache;
  bool prom_poll_requested = false;
  bool rollout_check_requested = false;
  std::condition_variable background_cv;
  std::jthread background_thread;
  Clock::TimerId prom_timer = 0;
  Clock::TimerId resync_timer = 0;
  Clock::TimerId discovery_timer = 0;
  // Our own status writes not yet seen by the informer: wd key -> (resourceVersion, status).
  // The status holds the window clocks; reconciling from a cache that lags our last write
  // would restart them.
  std::map<std::string, std::pair<std::string, json>> written;
  // Notifications in flight or delivered but not yet visible in the cache: wd key -> phase.
  std::map<std::string, Phase> notified;
  // Metric series per WorkloadDependency, to remove them when it goes away.
  std::map<std::string, Phase> phase_series;
  std::map<std::string, std::vector<metrics::LabelValues>> state_series;

  // Metrics.
  metrics::Family<metrics::Gauge>* phase_metric = nullptr;
  metrics::Family<metrics::Gauge>* state_metric = nullptr;
  metrics::Family<metrics::Counter>* suspensions = nullptr;
  metrics::Family<metrics::Counter>* restores = nullptr;
  std::shared_ptr<metrics::Counter> strict_reverts;
  std::shared_ptr<metrics::Gauge> suspended_workloads;

  Impl(ControllerOptions o)
      : opts(std::move(o)),
        clock(*opts.clock),
        client(*opts.client),
        registry(opts.registry ? *opts.registry : metrics::Registry::Default()) {}

  // ---- setup ----

  void InitMetrics() {
    phase_metric = &registry.AddGauge("tether_dependency_phase",
                                      "1 for the current phase of each WorkloadDependency.",
                                      {"namespace", "name", "phase"});
    state_metric =
        &registry.AddGauge("tether_dependency_state",
                           "1 for the current state of each dependency of a WorkloadDependency.",
                           {"namespace", "name", "dependency", "state"});
    suspensions =
        &registry.AddCounter("tether_suspensions_total", "Dependents suspended by tether.",
                             {"namespace", "kind", "name"});
    restores = &registry.AddCounter("tether_restores_total", "Dependents restored by tether.",
                                    {"namespace", "kind", "name"});
    strict_reverts =
        registry
            .AddCounter("tether_strict_reverts_total",
                        "Manual scale-ups of strict-mode suspended dependents reverted.")
            .WithLabels({});
    suspended_workloads =
        registry
            .AddGauge("tether_suspended_workloads",
                      "Workloads currently suspended by tether (from WorkloadDependency status).")
            .WithLabels({});
    suspended_workloads->SetCallback([this] { return CountSuspended(); });
  }

  double CountSuspended() const {
    double n = 0;
    for (const auto& inf : wd_informers) {
      for (const auto& o : inf->List()) {
        const json& st = o->value("status", json::object());
        if (st.is_object() && st.value("phase", std::string()) == "Suspended") ++n;
      }
    }
    return n;
  }

  bool NamespaceExcluded(std::string_view ns) const {
    return std::find(opts.exclude_namespaces.begin(), opts.exclude_namespaces.end(), ns) !=
           opts.exclude_namespaces.end();
  }

  void CreateWdInformers() {
    std::vector<std::string> scopes = opts.namespaces;
    if (scopes.empty()) scopes.push_back("");
    std::string excl;
    for (const auto& e : opts.exclude_namespaces) excl += e + ",";
    for (const auto& ns : scopes) {
      if (!ns.empty() && NamespaceExcluded(ns)) continue;
      kube::InformerOptions io;
      io.resource = DependencyController::WorkloadDependencies();
      io.ns = ns;
      io.label_selector = opts.label_selector;
      io.registry = &registry;
      if (!opts.exclude_namespaces.empty()) {
        auto excluded = opts.exclude_namespaces;
        io.transform = [excluded](json&& o) -> std::optional<json> {
          std::string ons = ObjectNamespace(o);
          if (std::find(excluded.begin(), excluded.end(), ons) != excluded.end()) {
            return std::nullopt;
          }
          return std::move(o);
        };
        io.transform_id = "deps-wd-exclude:" + excl;
      }
      auto inf = factory->Get(std::move(io));
      auto g = guard;
      inf->AddEventHandler({
          .on_add =
              [g](const ObjectPtr& o) {
                std::shared_lock lock(g->mu);
                if (g->impl) g->impl->OnWdChange(nullptr, o);
              },
          .on_update =
              [g](const ObjectPtr& a, const ObjectPtr& b) {
                std::shared_lock lock(g->mu);
                if (g->impl) g->impl->OnWdChange(a, b);
              },
          .on_delete =
              [g](const ObjectPtr& o) {
                std::shared_lock lock(g->mu);
                if (g->impl) g->impl->OnWdDelete(o);
              },
      });
      wd_informers.push_back(std::move(inf));
    }
  }

  // Returns the informer for `r`, creating it (with the reverse-index handler) on first use.
  std::shared_ptr<kube::Informer> EnsureInformer(const Resource& r) {
    std::string id = r.group + "/" + r.kind;
    {
      std::lock_guard lock(mu);
      if (auto it = kind_informers.find(id); it != kind_informers.end()) return it->second;
    }
    kube::InformerOptions io;
    io.resource = r;
    io.transform = &StripWorkload;
    io.transform_id = "deps-workload";
    io.registry = &registry;
    auto inf = factory->Get(std::move(io));
    bool start = false;
    {
      std::lock_guard lock(mu);
      auto [it, inserted] = kind_informers.emplace(id, inf);
      if (!inserted) return it->second;
      start = caches_started;
    }
    std::string group = r.group;
    std::string kind = r.kind;
    auto enqueue = [g = guard, group, kind](const ObjectPtr& o) {
      std::shared_lock lock(g->mu);
      if (g->impl) {
        g->impl->EnqueueReferrers(RefKey(group, kind, ObjectNamespace(*o), ObjectName(*o)));
      }
    };
    inf->AddEventHandler({
        .on_add = enqueue,
        .on_update = [enqueue](const ObjectPtr&, const ObjectPtr& b) { enqueue(b); },
        .on_delete = enqueue,
    });
    // A watch that breaks turns its dependencies Unknown; one that recovers lets them be judged
    // again. Either way every WorkloadDependency referencing this kind is re-evaluated.
    inf->AddWatchHealthHandler([g = guard, prefix = kind + "." + group + "/"](bool) {
      std::shared_lock lock(g->mu);
      if (g->impl) g->impl->EnqueueReferrersWithPrefix(prefix);
    });
    if (start) {
      inf->Start();
      WatchSync(inf);
    }
    return inf;
  }

  // Once `inf` has synced, reconciles every WorkloadDependency that references its kind: what
  // read as Unknown ("not synced yet") can now be judged.
  std::vector<std::jthread> sync_waiters;  // guarded by mu
  void WatchSync(const std::shared_ptr<kube::Informer>& inf) {
    const auto& r = inf->options().resource;
    std::string prefix = r.kind + "." + r.group + "/";
    std::lock_guard lock(mu);
    if (stopped) return;
    sync_waiters.emplace_back([inf, prefix, g = guard](const std::stop_token& st) {
      if (!inf->WaitForSync(st)) return;
      std::shared_lock lock(g->mu);
      if (g->impl) g->impl->EnqueueReferrersWithPrefix(prefix);
    });
  }

  void EnqueueReferrersWithPrefix(const std::string& prefix) {
    std::set<std::string> keys;
    {
      std::lock_guard lock(mu);
      for (auto it = refs.lower_bound(prefix); it != refs.end() && it->first.rfind(prefix, 0) == 0;
           ++it) {
        keys.insert(it->second.begin(), it->second.end());
      }
    }
    for (const auto& k : keys) Enqueue(k);
  }

  // Discovery: resolves (apiVersion, kind) to a served resource. Cached; misses are retried
  // after discovery_interval.
  std::optional<Resource> Discover(const std::string& api_version, const std::string& kind) {
    std::string id = api_version + "/" + kind;
    TimePoint now = clock.Now();
    {
      std::lock_guard lock(mu);
      auto it = discovered.find(id);
      if (it != discovered.end() && (it->second.first || now < it->second.second)) {
        return it->second.first;
      }
    }
    std::string path =
        api_version.find('/') == std::string::npos ? "/api/" + api_version : "/apis/" + api_version;
    std::optional<Resource> found;
    auto doc = client.Request("GET", path, nullptr);
    if (doc && doc->is_object() && (*doc)["resources"].is_array()) {
      for (const auto& r : (*doc)["resources"]) {
        std::string name = r.value("name", std::string());
        if (r.value("kind", std::string()) != kind || name.find('/') != std::string::npos) continue;
        Resource res;
        res.group = GroupOf(api_version);
        res.version = api_version.substr(
            api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
        res.resource = name;
        res.kind = kind;
        res.namespaced = r.value("namespaced", true);
        found = res;
        break;
      }
    }
    std::lock_guard lock(mu);
    discovered[id] = {found, now + opts.discovery_interval};
    return found;
  }

  // Looks for the Argo Rollouts CRD; re-arms itself until found.
  void CheckRollouts() {
    if (Discover("argoproj.io/v1alpha1", "Rollout")) {
      bool had;
      {
        std::lock_guard lock(mu);
        had = kind_informers.count("argoproj.io/Rollout") > 0;
      }
      if (!had) {
        log::Info("Argo Rollouts found: watching rollouts.argoproj.io");
        EnsureInformer(RolloutsResource());
        EnqueueAll();
      }
      return;
    }
    std::lock_guard lock(mu);
    if (stopped) return;
    // Discovery I/O runs on the background thread, never on the clock's timer thread.
    discovery_timer = clock.ScheduleAfter(opts.discovery_interval, [this] {
      std::lock_guard l(mu);
      rollout_check_requested = true;
      background_cv.notify_all();
    });
  }

  // ---- event handlers (quick: bookkeeping and enqueue) ----

  void Enqueue(const std::string& wd_key) {
    if (workers) workers->Enqueue(wd_key);
  }

  void EnqueueReferrers(const std::string& ref_key) {
    std::vector<std::string> keys;
    {
      std::lock_guard lock(mu);
      auto it = refs.find(ref_key);
      if (it == refs.end()) return;
      keys.assign(it->second.begin(), it->second.end());
    }
    for (const auto& k : keys) Enqueue(k);
  }

  // Replaces the reverse-index entries of one WorkloadDependency. Prometheus results stay
  // cached while any WorkloadDependency still uses the query (a status write re-indexes the
  // object; dropping the answer then would turn the dependency Unknown until the next poll).
  void IndexWd(const std::string& wd_key, std::vector<std::string> keys) {
    bool new_query = false;
    std::lock_guard lock(mu);
    for (const auto& k : keys) {
      refs[k].insert(wd_key);
      if (k.rfind(kPromPrefix, 0) == 0) {
        auto [it, inserted] = prom_cache.try_emplace(k.substr(kPromPrefix.size()));
        new_query = new_query || inserted;
      }
    }
    auto old_it = wd_refs.find(wd_key);
    if (old_it != wd_refs.end()) {
      for (const auto& k : old_it->second) {
        if (std::binary_search(keys.begin(), keys.end(), k)) continue;
        auto it = refs.find(k);
        if (it == refs.end()) continue;
        it->second.erase(wd_key);
        if (it->second.empty()) {
          refs.erase(it);
          if (k.rfind(kPromPrefix, 0) == 0) prom_cache.erase(k.substr(kPromPrefix.size()));
        }
      }
    }
    if (keys.empty()) {
      wd_refs.erase(wd_key);
    } else {
      wd_refs[wd_key] = std::move(keys);
    }
    if (new_query) {
      prom_poll_requested = true;
      background_cv.notify_all();
    }
  }

  // True if resourceVersion `a` is at least `b` (numeric comparison when both are integers, as
  // etcd revisions are; otherwise only equality is meaningful).
  static bool RvAtLeast(const std::string& a, const std::string& b) {
    if (a == b) return true;
    char* ea = nullptr;
    char* eb = nullptr;
    unsigned long long na = std::strtoull(a.c_str(), &ea, 10);
    unsigned long long nb = std::strtoull(b.c_str(), &eb, 10);
    if (a.empty() || b.empty() || *ea != 0 || *eb != 0) return false;
    return na >= nb;
  }

  static std::string ResourceVersionOf(const json& o) {
    const json md = o.value("metadata", json::object());
    return md.is_object() ? md.value("resourceVersion", std::string()) : std::string();
  }

  // Records one of our own writes of a WorkloadDependency (the object the API server returned)
  // so that reconciles decide from it until the informer has caught up. Its watch event may
  // beat the response to the writer: if the cache already holds this version or a newer one,
  // the cache is the truth and an overlay would only be older than it.
  void RememberWrite(const std::string& key, const json& obj) {
    if (!obj.is_object()) return;
    std::string rv = ResourceVersionOf(obj);
    auto [ns, name] = kube::SplitObjectKey(key);
    std::lock_guard lock(mu);
    auto it = written.find(key);
    if (ObjectPtr cached = FindWd(ns, name); cached && RvAtLeast(ResourceVersionOf(*cached), rv)) {
      if (it != written.end() && RvAtLeast(ResourceVersionOf(*cached), it->second.first)) {
        written.erase(it);
      }
      return;
    }
    if (it != written.end() && !RvAtLeast(rv, it->second.first)) return;
    written[key] = {rv, obj.value("status", json::object())};
  }

  // The cached WorkloadDependency (null when gone) and the status to decide from: our own
  // last write while the cache lags behind it, else the cached status. Both are read under
  // `mu`, which OnWdChange takes only after the informer stored the newer object: reading
  // them one after the other could pair a stale cached object with an overlay just dropped
  // because the cache caught up, and decide from a status older than our own last write
  // (restarting window clocks, repeating a delivered notification).
  std::pair<ObjectPtr, json> CurrentWd(const std::string& key, const std::string& ns,
                                       const std::string& name) {
    std::lock_guard lock(mu);
    ObjectPtr obj = FindWd(ns, name);
    if (!obj) return {nullptr, json()};
    json status = obj->value("status", json::object());
    if (auto it = written.find(key); it != written.end()) {
      if (RvAtLeast(ResourceVersionOf(*obj), it->second.first)) {
        written.erase(it);
      } else {
        status = it->second.second;
      }
    }
    return {std::move(obj), std::move(status)};
  }

  void OnWdChange(const ObjectPtr& old_obj, const ObjectPtr& obj) {
    std::string key = kube::ObjectKey(*obj);
    {
      std::string rv = ResourceVersionOf(*obj);
      std::lock_guard lock(mu);
      auto it = written.find(key);
      if (it != written.end() && RvAtLeast(rv, it->second.first)) written.erase(it);
    }
    IndexWd(key, ReferencedKeys(*obj));
    const bool spec_changed =
        !old_obj || old_obj->value("spec", json()) != obj->value("spec", json());
    if (spec_changed) {
      // Only mark: the next reconcile recomputes cycles once for a whole burst of changes.
      std::optional<GraphEntry> entry;
      std::string ns = ObjectNamespace(*obj);
      if (auto spec = DecodeSpec(obj->value("spec", json::object()), ns)) {
        std::optional<TimePoint> created;
        TimePoint t;
        const json md = obj->value("metadata", json::object());
        if (md.contains("creationTimestamp") && md["creationTimestamp"].is_string() &&
            ParseRfc3339(md["creationTimestamp"].get<std::string>(), &t)) {
          created = t;
        }
        entry = GraphEntryFor(key, *spec, created);
      }
      std::lock_guard lock(mu);
      if (entry) {
        graph[key] = std::move(*entry);
      } else {
        graph.erase(key);
      }
      cycles_dirty = true;
    }
    Enqueue(key);
  }

  void OnWdDelete(const ObjectPtr& obj) {
    std::string key = kube::ObjectKey(*obj);
    IndexWd(key, {});
    {
      std::lock_guard lock(mu);
      cycles_dirty = true;
      graph.erase(key);
      notified.erase(key);
      written.erase(key);
    }
    RemoveSeries(key);
    // Others may have been flagged because of this one: reconsider them now.
    RecheckCycles();
  }

  // Recomputes the cycle map over every WorkloadDependency; enqueues those whose verdict moved.
  void RecheckCycles() {
    std::vector<GraphEntry> entries;
    {
      std::lock_guard lock(mu);
      entries.reserve(graph.size());
      for (const auto& [k, e] : graph) entries.push_back(e);
    }
    auto fresh = FindCycles(std::move(entries));
    std::vector<std::string> changed;
    {
      std::lock_guard lock(mu);
      cycles_dirty = false;
      for (const auto& [k, v] : fresh) {
        auto it = cycles.find(k);
        if (it == cycles.end() || it->second != v) changed.push_back(k);
      }
      for (const auto& [k, v] : cycles) {
        if (!fresh.count(k)) changed.push_back(k);
      }
      cycles = std::move(fresh);
    }
    for (const auto& k : changed) Enqueue(k);
  }

  // ---- Prometheus poller ----

  // The background thread: Prometheus polls and Rollout CRD discovery.
  void BackgroundLoop(const std::stop_token& stop) {
    std::stop_callback wake(stop, [this] {
      std::lock_guard lock(mu);
      background_cv.notify_all();
    });
    for (;;) {
      std::vector<std::string> queries;
      {
        std::unique_lock lock(mu);
        background_cv.wait(lock, [&] {
          return stop.stop_requested() || prom_poll_requested || rollout_check_requested;
        });
        if (stop.stop_requested()) return;
        if (rollout_check_requested) {
          rollout_check_requested = false;
          lock.unlock();
          CheckRollouts();
          continue;
        }
        prom_poll_requested = false;
        for (const auto& [q, e] : prom_cache) queries.push_back(q);
      }
      for (const auto& q : queries) {
        if (stop.stop_requested()) return;
        PromEntry fresh;
        fresh.have = true;
        if (!prom) {
          fresh.error = "no Prometheus configured (set --prometheus-url)";
        } else if (auto r = prom->Query(q)) {
          fresh.samples = r->SampleCount();
        } else {
          fresh.error = r.error().message;
        }
        bool changed = false;
        {
          std::lock_guard lock(mu);
          auto it = prom_cache.find(q);
          if (it == prom_cache.end()) continue;
          PromEntry& e = it->second;
          changed = !e.have || (e.samples > 0) != (fresh.samples > 0) ||
                    e.error.empty() != fresh.error.empty();
          e = fresh;
        }
        if (changed) EnqueueReferrers(std::string(kPromPrefix) + q);
      }
      std::lock_guard lock(mu);
      if (stopped) return;
      clock.Cancel(prom_timer);
      prom_timer = clock.ScheduleAfter(opts.prometheus_interval, [this] {
        std::lock_guard l(mu);
        prom_poll_requested = true;
        background_cv.notify_all();
      });
    }
  }

  // ---- observation ----

  // The informer for a workload kind; null when the kind is not served (Rollouts without CRD).
  std::shared_ptr<kube::Informer> WorkloadInformer(WorkloadKind k) {
    if (k == WorkloadKind::kRollout) {
      std::lock_guard lock(mu);
      auto it = kind_informers.find("argoproj.io/Rollout");
      return it == kind_informers.end() ? nullptr : it->second;
    }
    return EnsureInformer(WorkloadResource(k));
  }

  // Observation of one object from its informer.
  // A cached object is a real observation even while the first list is being applied (its
  // events precede HasSynced()); only absence needs a synced cache to mean NotFound.
  Observation ObserveFrom(const std::shared_ptr<kube::Informer>& inf, const std::string& ns,
                          const std::string& name, const std::string& what) {
    // SPEC §2.3/§9: while the watch is broken the cache may be arbitrarily stale, so the
    // dependency is Unknown (clocks frozen, never suspends) rather than judged on old data.
    if (inf->HasSynced() && !inf->WatchHealthy()) {
      std::string error = inf->WatchError();
      return Observation::Unobservable(fmt::format("watch on {} broken: {}",
                                                   inf->options().resource.GroupResource(),
                                                   error.empty() ? "re-establishing" : error));
    }
    ObjectPtr o = inf->Get(inf->options().resource.namespaced ? ns : "", name);
    if (o) return Observation::Object(*o);
    if (!inf->HasSynced()) {
      unsynced_seen = true;
      return Observation::Unobservable("cache of " + what + " not synced yet");
    }
    return Observation::NotFound();
  }

  Observation Observe(const Dependency& dep, bool* rediscover) {
    switch (dep.type) {
      case Dependency::Type::kPrometheus: {
        std::lock_guard lock(mu);
        auto it = prom_cache.find(dep.prometheus_query);
        if (it == prom_cache.end() || !it->second.have) {
          return Observation::Unobservable("Prometheus query not evaluated yet");
        }
        if (!it->second.error.empty()) return Observation::PrometheusError(it->second.error);
        return Observation::PrometheusSamples(it->second.samples);
      }
      case Dependency::Type::kWorkload: {
        auto kind = dep.Workload();
        if (!kind) return Observation::Unobservable("unsupported kind " + dep.kind);
        auto inf = WorkloadInformer(*kind);
        if (!inf) {
          *rediscover = true;
          return Observation::Unobservable(
              "Rollouts (argoproj.io/v1alpha1) are not served by this cluster");
        }
        return ObserveFrom(inf, dep.namespace_, dep.name, dep.kind);
      }
      case Dependency::Type::kObject: {
        std::optional<Resource> r;
        auto wk = ParseWorkloadKind(dep.kind);
        if (wk && GroupOf(dep.api_version) == GroupOf(schema::CanonicalApiVersion(dep.kind))) {
          r = WorkloadResource(*wk);
          if (*wk == WorkloadKind::kRollout) r = Discover(dep.api_version, dep.kind);
        } else {
          r = Discover(dep.api_version, dep.kind);
        }
        if (!r) {
          *rediscover = true;
          return Observation::Unobservable(
              fmt::format("{} {} is not served by the API server (is its CRD installed?)",
                          dep.api_version, dep.kind));
        }
        auto inf = EnsureInformer(*r);
        return ObserveFrom(inf, dep.namespace_, dep.name, r->GroupResource());
      }
    }
    return Observation::Unobservable("unknown dependency type");
  }

  DependentState ObserveDependentCached(const WorkloadRef& ref, ObjectPtr* out_obj) {
    DependentState st;
    auto inf = WorkloadInformer(ref.kind);
    if (!inf) {
      st.presence = DependentState::Presence::kUnobservable;
      st.reason = "Rollouts (argoproj.io/v1alpha1) are not served by this cluster";
      return st;
    }
    if (!inf->HasSynced()) {
      unsynced_seen = true;
      st.presence = DependentState::Presence::kUnobservable;
      st.reason = "cache of " + std::string(KindName(ref.kind)) + " not synced yet";
      return st;
    }
    ObjectPtr o = inf->Get(ref.namespace_, ref.name);
    if (!o) {
      st.presence = DependentState::Presence::kNotFound;
      return st;
    }
    if (out_obj) *out_obj = o;
    return ObserveDependent(ref.kind, *o);
  }

  // A live read (bypassing the cache) for exit paths, where a stale cache could miss a record
  // written moments ago.
  Result<std::pair<DependentState, json>> ObserveDependentLive(const WorkloadRef& ref) {
    auto o = client.Get(WorkloadResource(ref.kind), ref.namespace_, ref.name);
    if (!o) {
      if (o.error().code == ErrorCode::kNotFound) {
        DependentState st;
        st.presence = DependentState::Presence::kNotFound;
        return std::make_pair(st, json());
      }
      return Fail(o.error().Wrap("reading dependent " + ref.Key()));
    }
    return std::make_pair(ObserveDependent(ref.kind, *o), std::move(*o));
  }

  // ---- actions ----

  Result<void> Execute(const Action& a) {
    if (a.type == Action::Type::kNone) return {};
    Resource r = WorkloadResource(a.target.kind);
    for (const auto& step : a.steps) {
      auto res = client.Patch(r, a.target.namespace_, a.target.name, kube::PatchType::kMerge,
                              step.body, step.target == PatchStep::Target::kScale ? "scale" : "");
      if (!res) {
        return Fail(res.error().Wrap(
            fmt::format("patching {} {}", a.target.Key(),
                        step.target == PatchStep::Target::kScale ? "(scale subresource)" : "")));
      }
    }
    metrics::LabelValues lv{a.target.namespace_, std::string(KindName(a.target.kind)),
                            a.target.name};
    switch (a.type) {
      case Action::Type::kSuspend:
        suspensions->WithLabels(lv)->Inc();
        log::Info("suspended dependent", {{"dependent", a.target.Key()}});
        break;
      case Action::Type::kRestore:
        restores->WithLabels(lv)->Inc();
        log::Info("restored dependent", {{"dependent", a.target.Key()}});
        break;
      case Action::Type::kStrictRevert:
        strict_reverts->Inc();
        log::Info("reverted manual scale-up (strict mode)", {{"dependent", a.target.Key()}});
        break;
      default:
        break;
    }
    return {};
  }

  // Records a core/v1 Event through the aggregating recorder: never blocks, and repeats of the
  // same (object, type, reason, message) bump one Event's count instead of creating new ones.
  void RecordEvent(const json& involved, const EventSpec& e) {
    recorder->Record(
        kube::ObjectReference::From(involved),
        e.type == EventSpec::Type::kWarning ? kube::EventType::kWarning : kube::EventType::kNormal,
        e.reason, e.message);
  }

  // ---- status and metrics ----

  // Merge patch turning `old_status` into `status`: changed keys, explicit nulls for removed.
  static json StatusPatch(const json& old_status, const json& status) {
    json patch = json::object();
    for (const auto& [k, v] : status.items()) {
      if (!old_status.is_object() || !old_status.contains(k) || old_status[k] != v) patch[k] = v;
    }
    if (old_status.is_object()) {
      for (const auto& [k, v] : old_status.items()) {
        if (!status.contains(k)) patch[k] = nullptr;
      }
    }
    return patch;
  }

  void UpdateSeries(const std::string& wd_key, const std::string& ns, const std::string& name,
                    const Status& st) {
    std::vector<metrics::LabelValues> states;
    for (const auto& d : st.dependencies) {
      states.push_back({ns, name, d.ref, std::string(DepStateName(d.state))});
    }
    std::lock_guard lock(mu);
    if (st.phase) {
      auto it = phase_series.find(wd_key);
      if (it != phase_series.end() && it->second != *st.phase) {
        phase_metric->Remove({ns, name, std::string(PhaseName(it->second))});
      }
      phase_metric->WithLabels({ns, name, std::string(PhaseName(*st.phase))})->Set(1);
      phase_series[wd_key] = *st.phase;
    }
    auto& old = state_series[wd_key];
    for (const auto& lv : old) {
      if (std::find(states.begin(), states.end(), lv) == states.end()) state_metric->Remove(lv);
    }
    for (const auto& lv : states) state_metric->WithLabels(lv)->Set(1);
    old = std::move(states);
  }

  void RemoveSeries(const std::string& wd_key) {
    auto [ns, name] = kube::SplitObjectKey(wd_key);
    std::lock_guard lock(mu);
    if (auto it = phase_series.find(wd_key); it != phase_series.end()) {
      phase_metric->Remove({ns, name, std::string(PhaseName(it->second))});
      phase_series.erase(it);
    }
    if (auto it = state_series.find(wd_key); it != state_series.end()) {
      for (const auto& lv : it->second) state_metric->Remove(lv);
      state_series.erase(it);
    }
  }

  // ---- notifications ----

  Result<std::string> ReadSecret(const std::string& ns, const SecretKeyRef& ref) {
    auto s = client.Get(kube::resources::Secrets(), ns, ref.name);
    if (!s) return Fail(s.error().Wrap("reading Secret " + ns + "/" + ref.name));
    const json data = s->value("data", json::object());
    std::string key = ref.key.empty() ? std::string(schema::kDefaultSecretKey) : ref.key;
    if (!data.is_object() || !data.contains(key) || !data[key].is_string()) {
      return Fail(ErrorCode::kNotFound, fmt::format("Secret {}/{} has no key \"{}\"; add it or "
                                                    "fix the secret reference",
                                                    ns, ref.name, key));
    }
    auto decoded = DecodeBase64(data[key].get<std::string>());
    if (!decoded) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("Secret {}/{} key \"{}\" is not valid base64", ns, ref.name, key));
    }
    std::string out = std::move(*decoded);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
      out.pop_back();
    }
    return out;
  }

  void Notify(const json& wd, const std::string& wd_key, const Spec& spec, const Status& st,
              const NotificationRequest& n) {
    {
      std::lock_guard lock(mu);
      auto it = notified.find(wd_key);
      if (it != notified.end() && it->second == n.phase) return;  // in flight or delivered
      notified[wd_key] = n.phase;
    }
    std::string ns = ObjectNamespace(wd);
    std::string name = ObjectName(wd);
    NotificationContext ctx{.wd_name = name,
                            .wd_namespace = ns,
                            .phase = n.phase,
                            .previous_phase = n.previous_phase,
                            .dependent = spec.dependent,
                            .message = st.message,
                            .dependencies = st.dependencies,
                            .timestamp = clock.Now()};
    const NotifySpec& ns_spec = *spec.notify;
    auto fail = [&](const Error& e) {
      RecordEvent(wd, {.type = EventSpec::Type::kWarning,
                       .reason = "NotificationFailed",
                       .message = e.message});
      registry.AddCounter("tether_notifications_total", "", {"result"})
          .WithLabels({"failure"})
          ->Inc();
      // Keep `notified` set: retrying a broken secret on every reconcile would spam Events.
    };
    std::string url = ns_spec.webhook;
    if (ns_spec.webhook_secret_ref) {
      auto u = ReadSecret(ns, *ns_spec.webhook_secret_ref);
      if (!u) return fail(u.error());
      url = *u;
    }
    std::string key;
    if (ns_spec.signing_secret_ref) {
      auto k = ReadSecret(ns, *ns_spec.signing_secret_ref);
      if (!k) return fail(k.error());
      key = *k;
    }
    json body =
        ns_spec.format == NotifyFormat::kSlack ? NotificationSlack(ctx) : NotificationJson(ctx);
    Delivery d{.url = url,
               .body = body.dump(),
               .signing_key = key,
               .description = fmt::format("{} {}", wd_key, PhaseName(n.phase))};
    Phase phase = n.phase;
    notifier->Send(std::move(d), [this, wd_key, ns, name, phase, wd](const Result<void>& r) {
      if (!r) {
        if (r.error().code == ErrorCode::kCancelled) return;
        RecordEvent(wd, {.type = EventSpec::Type::kWarning,
                         .reason = "NotificationFailed",
                         .message = r.error().message});
      }
      // Delivered (or given up after the last attempt): never repeat it.
      json patch = {{"status", {{"lastNotifiedPhase", std::string(PhaseName(phase))}}}};
      auto res = client.Patch(DependencyController::WorkloadDependencies(), ns, name,
                              kube::PatchType::kMerge, patch, "status");
      if (res) RememberWrite(wd_key, *res);
      if (!res && res.error().code != ErrorCode::kNotFound) {
        log::Warn("could not record lastNotifiedPhase",
                  {{"workloadDependency", wd_key}, {"error", res.error().message}});
      }
      Enqueue(wd_key);
    });
  }

  // ---- reconcile ----

  // Set by the observers when a cache they needed has not synced yet. Each reconcile runs on
  // one worker thread; the flag is per thread.
  static thread_local bool unsynced_seen;

  ObjectPtr FindWd(const std::string& ns, const std::string& name) const {
    for (const auto& inf : wd_informers) {
      if (!inf->options().ns.empty() && inf->options().ns != ns) continue;
      if (auto o = inf->Get(ns, name)) return o;
    }
    return nullptr;
  }

  bool HasFinalizer(const json& wd) const {
    const json md = wd.value("metadata", json::object());
    auto it = md.find("finalizers");
    if (it == md.end() || !it->is_array()) return false;
    return std::find(it->begin(), it->end(), opts.finalizer) != it->end();
  }

  // Adds or removes our finalizer. The list is replaced under the object's resourceVersion
  // (safe against concurrent finalizer edits); on a conflict (typically our own stale cache)
  // the live object is read and the edit retried.
  Result<void> SetFinalizer(const json& cached, bool present) {
    json wd = cached;
    const std::string ns = ObjectNamespace(wd);
    const std::string name = ObjectName(wd);
    for (int attempt = 0;; ++attempt) {
      if (HasFinalizer(wd) == present) return {};
      const json md = wd.value("metadata", json::object());
      json list = json::array();
      if (md.contains("finalizers") && md["finalizers"].is_array()) {
        for (const auto& f : md["finalizers"]) {
          if (f != opts.finalizer) list.push_back(f);
        }
      }
      if (present) list.push_back(opts.finalizer);
      json patch = {{"metadata",
                     {{"finalizers", list},
                      {"resourceVersion", md.value("resourceVersion", std::string())}}}};
      auto r = client.Patch(DependencyController::WorkloadDependencies(), ns, name,
                            kube::PatchType::kMerge, patch);
      if (r || r.error().code == ErrorCode::kNotFound) return {};
      if (r.error().code != ErrorCode::kConflict || attempt >= 3) {
        return Fail(r.error().Wrap("updating finalizers of WorkloadDependency " + ns + "/" + name));
      }
      auto live = client.Get(DependencyController::WorkloadDependencies(), ns, name);
      if (!live) {
        if (live.error().code == ErrorCode::kNotFound) return {};
        return Fail(live.error().Wrap("reading WorkloadDependency " + ns + "/" + name));
      }
      wd = std::move(*live);
    }
  }

  // Restores `ref` if it carries our record; records Restored Events.
  Result<void> ReleaseDependent(const json& wd, const std::string& wd_key, const WorkloadRef& ref,
                                std::optional<int64_t> fallback, std::string_view why) {
    auto live = ObserveDependentLive(ref);
    if (!live) return Fail(live.error());
    Action a = Release(ref, live->first, wd_key, fallback);
    if (a.type == Action::Type::kNone) return {};
    if (auto r = Execute(a); !r) return r;
    std::string to = a.replicas ? fmt::format("replicas {}", *a.replicas)
                                : fmt::format("suspend={}", a.suspend.value_or(false));
    EventSpec e{.reason = "Restored",
                .message = fmt::format("restored {} ({}): {}", ref.KindSlashName(), to, why),
                .on_dependent = true};
    RecordEvent(wd, e);
    RecordEvent(live->second, e);
    return {};
  }

  Result<kube::ReconcileResult> Finalize(const json& wd, const std::string& wd_key,
                                         const std::optional<Spec>& spec, const Status& prev) {
    if (!HasFinalizer(wd)) return kube::ReconcileResult::Done();
    std::vector<WorkloadRef> targets;
    if (spec) targets.push_back(spec->dependent);
    if (auto p = ParseWorkloadKey(prev.dependent_ref);
        p && std::find(targets.begin(), targets.end(), *p) == targets.end()) {
      targets.push_back(*p);
    }
    for (const auto& t : targets) {
      if (auto r = ReleaseDependent(wd, wd_key, t, prev.saved_replicas,
                                    "the WorkloadDependency was deleted");
          !r) {
        return Fail(r.error());
      }
    }
    if (auto r = SetFinalizer(wd, false); !r) return Fail(r.error());
    RemoveSeries(wd_key);
    return kube::ReconcileResult::Done();
  }

  Result<kube::ReconcileResult> Reconcile(const std::string& key) {
    auto [ns, name] = kube::SplitObjectKey(key);
    auto current = CurrentWd(key, ns, name);
    ObjectPtr obj = std::move(current.first);
    json old_status = std::move(current.second);
    if (!obj) {
      RemoveSeries(key);
      return kube::ReconcileResult::Done();
    }
    const json& wd = *obj;
    const json& md = wd.value("metadata", json::object());
    const json spec_json = wd.value("spec", json::object());

    DecideInput in;
    in.wd_namespace = ns;
    in.wd_name = name;
    in.generation = md.value("generation", int64_t{0});
    if (auto s = DecodeSpec(spec_json, ns)) {
      // What the admission webhook would refuse (SPEC §5) and the schema cannot express: an
      // expression that does not compile is a spec problem, not an Unknown dependency.
      for (size_t i = 0; i < s->depends_on.size(); ++i) {
        const std::string& expression = s->depends_on[i].condition.expression;
        if (expression.empty()) continue;
        if (auto checked = cel.Check(expression); !checked) {
          in.spec_problems.push_back(fmt::format(
              "spec.dependsOn[{}].condition.expression: {}; fix the CEL expression (try it with "
              "`tether cel eval`)",
              i, checked.error().message));
        }
      }
      if (in.spec_problems.empty()) in.spec = std::move(*s);
    } else {
      in.spec_problems = ValidateSpec(spec_json, ns);
      if (in.spec_problems.empty()) in.spec_problems.push_back(s.error().message);
    }
    in.previous = DecodeStatus(old_status);

    if (md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null()) {
      return Finalize(wd, key, in.spec, in.previous);
    }
    if (!HasFinalizer(wd)) {
      if (auto r = SetFinalizer(wd, true); !r) return Fail(r.error());
    }

    // Before acting on anything, the dependent's and dependencies' caches must be filled; an
    // unsynced cache reads as Unknown below, which never suspends.
    bool rediscover = false;
    unsynced_seen = false;
    ObjectPtr dependent_obj;
    auto evaluate_health = [&] {
      const Spec& spec = *in.spec;
      HealthContext ctx;
      ctx.wd_key = key;
      ctx.dependent_key = spec.dependent.Key();
      ctx.cascade = spec.cascade;
      ctx.evaluator = &cel;
      if (in.dependent.record && in.dependent.record->suspended_by == key) {
        ctx.own_root_causes = in.dependent.record->because;
      }
      in.health.clear();
      for (const auto& dep : spec.depends_on) {
        in.health.push_back(EvaluateHealth(dep, Observe(dep, &rediscover), ctx));
      }
    };
    if (in.spec) {
      in.dependent = ObserveDependentCached(in.spec->dependent, &dependent_obj);
      evaluate_health();
    }
    // A cache still filling: its sync waiter enqueues this WorkloadDependency again. Deciding
    // now would only publish a transient Unknown (and notify about it).
    if (unsynced_seen && in.spec) return kube::ReconcileResult::Done();
    in.paused = md.contains("annotations") && md["annotations"].is_object() &&
                md["annotations"].value(std::string(kAnnotationPaused), std::string()) == "true";
    {
      bool dirty;
      {
        std::lock_guard lock(mu);
        dirty = cycles_dirty;
      }
      if (dirty) RecheckCycles();
      std::lock_guard lock(mu);
      if (auto it = cycles.find(key); it != cycles.end()) in.cycle_path = it->second;
    }
    in.now = clock.Now();

    Decision d = Decide(in);

    // The durable record on the dependent is the source of truth, and our own writes to it may
    // not have reached the cache yet. Before acting, or while a suspension is in effect, decide
    // again from a live read of the dependent (one GET, only on these paths).
    if (in.spec && in.dependent.presence == DependentState::Presence::kPresent &&
        (d.action.type != Action::Type::kNone || d.status.phase != in.previous.phase ||
         in.previous.phase == Phase::kSuspended)) {
      auto live = ObserveDependentLive(in.spec->dependent);
      if (!live) return Fail(live.error());
      in.dependent = live->first;
      if (in.dependent.presence == DependentState::Presence::kPresent) {
        dependent_obj = std::make_shared<const json>(std::move(live->second));
      } else {
        dependent_obj = nullptr;
      }
      evaluate_health();
      d = Decide(in);
    }

    if (d.release_previous_dependent) {
      if (auto prev_ref = ParseWorkloadKey(*d.release_previous_dependent)) {
        if (auto r = ReleaseDependent(wd, key, *prev_ref, in.previous.saved_replicas,
                                      "spec.dependent now names another workload");
            !r) {
          return Fail(r.error());
        }
      }
    }
    if (auto r = Execute(d.action); !r) return Fail(r.error());

    for (const auto& e : d.events) {
      RecordEvent(wd, e);
      if (e.on_dependent && dependent_obj) RecordEvent(*dependent_obj, e);
    }

    json new_status = EncodeStatus(d.status);
    if (d.status_changed) {
      json patch = StatusPatch(old_status, new_status);
      if (!patch.empty()) {
        auto r = client.Patch(DependencyController::WorkloadDependencies(), ns, name,
                              kube::PatchType::kMerge, json{{"status", patch}}, "status");
        if (!r) {
          if (r.error().code == ErrorCode::kNotFound) return kube::ReconcileResult::Done();
          return Fail(r.error().Wrap("writing status of WorkloadDependency " + key));
        }
        RememberWrite(key, *r);
      }
    }
    UpdateSeries(key, ns, name, d.status);

    // A delivered notification stays marked until the cache shows lastNotifiedPhase.
    {
      std::lock_guard lock(mu);
      auto it = notified.find(key);
      if (it != notified.end() && in.previous.last_notified_phase == it->second) notified.erase(it);
    }
    if (d.notification && in.spec && in.spec->notify) {
      Notify(wd, key, *in.spec, d.status, *d.notification);
    }

    if (d.next_deadline) workers->queue().AddAt(key, *d.next_deadline);
    if (rediscover) return kube::ReconcileResult::RequeueAfter(opts.discovery_interval);
    return kube::ReconcileResult::Done();
  }

  // ---- lifecycle ----

  void ArmResync() {
    std::lock_guard lock(mu);
    if (stopped) return;
    resync_timer = clock.ScheduleAfter(opts.resync_period, [this] {
      EnqueueAll();
      ArmResync();
    });
  }

  void EnqueueAll() {
    for (const auto& inf : wd_informers) {
      for (const auto& o : inf->List()) Enqueue(kube::ObjectKey(*o));
    }
  }
};

thread_local bool DependencyController::Impl::unsynced_seen = false;

kube::Resource DependencyController::WorkloadDependencies() {
  return {.group = std::string(schema::kGroup),
          .version = std::string(schema::kVersion),
          .resource = std::string(schema::kPlural),
          .kind = std::string(schema::kKind),
          .namespaced = true};
}

Result<std::unique_ptr<DependencyController>> DependencyController::Create(
    ControllerOptions options) {
  if (!options.clock || !options.client) {
    return Fail(ErrorCode::kInvalid, "DependencyController needs a clock and a client");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (!impl->opts.prometheus_url.empty()) {
    auto p = prom::Client::Create({.url = impl->opts.prometheus_url,
                                   .timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
                                       impl->opts.prometheus_timeout)});
    if (!p) return Fail(p.error());
    impl->prom = std::move(*p);
  }
  if (impl->opts.informers) {
    impl->factory = impl->opts.informers;
  } else {
    impl->own_factory =
        std::make_unique<kube::InformerFactory>(impl->client, impl->clock, &impl->registry);
    impl->factory = impl->own_factory.get();
  }
  impl->InitMetrics();
  NotifierOptions no = impl->opts.notifier;
  no.clock = &impl->clock;
  no.registry = &impl->registry;
  impl->notifier = std::make_unique<Notifier>(no);
  impl->recorder = std::make_unique<kube::EventRecorder>(
      kube::MakeClientEventSink(impl->client), impl->clock,
      kube::EventRecorderOptions{.component = impl->opts.event_component,
                                 .host = impl->opts.instance,
                                 .registry = &impl->registry});
  Impl* raw = impl.get();
  impl->workers = std::make_unique<kube::Controller>(
      impl->clock,
      kube::ControllerOptions{
          .name = "workloaddependency", .workers = impl->opts.workers, .registry = &impl->registry},
      [raw](const std::string& key) -> Result<kube::ReconcileResult> {
        return raw->Reconcile(key);
      });
  impl->guard->impl = impl.get();
  impl->CreateWdInformers();
  for (WorkloadKind k : kAllKinds) {
    if (k != WorkloadKind::kRollout) impl->EnsureInformer(WorkloadResource(k));
  }
  return std::unique_ptr<DependencyController>(new DependencyController(std::move(impl)));
}

DependencyController::DependencyController(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DependencyController::~DependencyController() {
  Stop();
  impl_->suspended_workloads->SetCallback({});
}

void DependencyController::StartCaches() {
  std::vector<std::shared_ptr<kube::Informer>> to_start;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->caches_started || impl_->stopped) return;
    impl_->caches_started = true;
    to_start = impl_->wd_informers;
    for (const auto& [id, inf] : impl_->kind_informers) to_start.push_back(inf);
  }
  for (const auto& inf : to_start) inf->Start();
  for (const auto& inf : to_start) impl_->WatchSync(inf);
  impl_->background_thread =
      std::jthread([this](const std::stop_token& st) { impl_->BackgroundLoop(st); });
  {
    std::lock_guard lock(impl_->mu);
    impl_->prom_poll_requested = true;
    impl_->background_cv.notify_all();
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->rollout_check_requested = true;
    impl_->background_cv.notify_all();
  }
}

void DependencyController::Start() {
  StartCaches();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->acting || impl_->stopped) return;
    impl_->acting = true;
  }
  impl_->recorder->Start();
  impl_->workers->Start();
  impl_->EnqueueAll();
  impl_->ArmResync();
}

void DependencyController::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->clock.Cancel(impl_->resync_timer);
    impl_->clock.Cancel(impl_->prom_timer);
    impl_->clock.Cancel(impl_->discovery_timer);
  }
  impl_->workers->Stop();
  impl_->recorder->Stop();  // writes what the workers recorded
  impl_->notifier->Stop();
  std::vector<std::jthread> waiters;
  {
    std::lock_guard lock(impl_->mu);
    waiters.swap(impl_->sync_waiters);
  }
  waiters.clear();  // requests stop and joins
  impl_->background_thread.request_stop();
  if (impl_->background_thread.joinable()) impl_->background_thread.join();
  {
    // Shared informers keep running for other controllers; our handlers must go quiet.
    std::unique_lock lock(impl_->guard->mu);
    impl_->guard->impl = nullptr;
  }
  if (impl_->own_factory) impl_->own_factory->StopAll();
}

bool DependencyController::HasSynced() const {
  std::lock_guard lock(impl_->mu);
  for (const auto& inf : impl_->wd_informers) {
    if (!inf->HasSynced()) return false;
  }
  for (const auto& [id, inf] : impl_->kind_informers) {
    if (!inf->HasSynced()) return false;
  }
  return true;
}

void DependencyController::EnqueueAll() { impl_->EnqueueAll(); }

}  // namespace tether::deps
