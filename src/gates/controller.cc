#include "gates/controller.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "kube/discovery.h"
#include "kube/informer.h"
#include "kube/workqueue.h"

namespace tether::gates {
namespace {

using kube::ObjectPtr;

std::string WatchKey(const kube::Resource& r) { return r.GroupResource() + "/" + r.version; }

std::string StrAt(const Json& j, const char* a, const char* b) {
  auto x = j.find(a);
  if (x == j.end() || !x->is_object()) return {};
  auto y = x->find(b);
  return y != x->end() && y->is_string() ? y->get<std::string>() : std::string();
}

// Whether an informer's WatchError() says the resource type is no longer served (404: e.g. its
// CRD was deleted). The informer reports "list failed: " / "watch failed: " + Error::ToString().
bool NotServed(const std::string& watch_error) {
  return watch_error.find("failed: NotFound: ") != std::string::npos;
}

// One problem with one gate; `retry` when it may clear without any watched change.
struct GateProblem {
  std::string reason;  // Event reason
  std::string message;
  bool retry = false;
};

}  // namespace

struct GateController::Impl {
  struct Watch {
    kube::Resource resource;
    std::shared_ptr<kube::Informer> informer;
    std::set<std::string> pods;  // pod keys referencing this resource type
    std::jthread sync_waiter;    // enqueues the pods once the cache has synced
    TimePoint started;           // to report a cache that never syncs (e.g. RBAC)
    // Guarded by Impl::mu. When the cache last stopped being live (zero: live or never synced),
    // and when a failing watch last had its type re-resolved through discovery.
    TimePoint unhealthy_since{};
    TimePoint rediscovered{};
  };
  struct PodState {
    std::set<std::string> refs;                   // object index keys
    std::set<std::string> watches;                // watch keys
    std::map<std::string, std::string> reported;  // gate -> last problem reported
  };
  struct Sar {
    bool allowed = false;
    TimePoint at;
  };

  GateControllerOptions o;
  Clock& clock;
  kube::Client& client;
  metrics::Registry& registry;
  kube::Discovery discovery;
  kube::WorkQueue queue;
  std::unique_ptr<kube::EventRecorder> own_recorder;
  kube::EventRecorder* recorder = nullptr;
  std::unique_ptr<kube::Informer> pods;

  metrics::Family<metrics::Gauge>& gated_pods;
  std::shared_ptr<metrics::Histogram> wait_seconds;
  std::shared_ptr<metrics::Counter> eval_true, eval_false, eval_error;
  std::shared_ptr<metrics::Gauge> watches_gauge;

  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<Watch>> watches;
  std::unordered_map<std::string, std::set<std::string>> refs;  // object index key -> pods
  std::unordered_map<std::string, PodState> pod_states;
  std::unordered_map<std::string, Result<std::shared_ptr<const CompiledCondition>>> compiled;
  std::unordered_map<std::string, Sar> sars;

  std::mutex lifecycle_mu;
  bool started = false;
  std::vector<std::jthread> workers;

  explicit Impl(GateControllerOptions opts)
      : o(std::move(opts)),
        clock(*o.clock),
        client(*o.client),
        registry(o.registry ? *o.registry : metrics::Registry::Default()),
        discovery(client, clock),
        queue(clock, {.name = "gates", .registry = &registry}),
        gated_pods(registry.AddGauge("tether_gated_pods",
                                     "Pods waiting on at least one tether scheduling gate.",
                                     {"namespace"})) {
    wait_seconds = registry
                       .AddHistogram("tether_gate_wait_seconds",
                                     "Time from pod creation to the removal of a tether gate.", {},
                                     metrics::ExponentialBuckets(0.1, 2, 16))
                       .WithLabels({});
    auto& evals = registry.AddCounter("tether_gate_evaluations_total",
                                      "Gate condition evaluations by result.", {"result"});
    eval_true = evals.WithLabels({"true"});
    eval_false = evals.WithLabels({"false"});
    eval_error = evals.WithLabels({"error"});
    watches_gauge = registry
                        .AddGauge("tether_gate_watches",
                                  "Shared watches on resource types referenced by gates.")
                        .WithLabels({});
    if (o.recorder) {
      recorder = o.recorder;
    } else {
      own_recorder = std::make_unique<kube::EventRecorder>(
          kube::MakeClientEventSink(client), clock,
          kube::EventRecorderOptions{.component = "tether-gates", .registry = &registry});
      recorder = own_recorder.get();
    }
    kube::InformerOptions po;
    po.resource = kube::resources::Pods();
    po.field_selector = "spec.nodeName=";
    po.registry = &registry;
    po.transform = [prefixes = o.prefixes](Json&& pod) -> std::optional<Json> {
      if (OwnedGates(pod, prefixes).empty()) return std::nullopt;
      pod.erase("status");  // never read; keeps the cache small
      return std::move(pod);
    };
    pods = std::make_unique<kube::Informer>(kube::MakeClientListerWatcher(client, po.resource, ""),
                                            clock, po);
    pods->AddEventHandler({
        .on_add =
            [this](const ObjectPtr& p) {
              gated_pods.WithLabels({StrAt(*p, "metadata", "namespace")})->Inc();
              queue.Add(kube::ObjectKey(*p));
            },
        .on_update = [this](const ObjectPtr&,
                            const ObjectPtr& p) { queue.Add(kube::ObjectKey(*p)); },
        .on_delete =
            [this](const ObjectPtr& p) {
              gated_pods.WithLabels({StrAt(*p, "metadata", "namespace")})->Dec();
              queue.Add(kube::ObjectKey(*p));
            },
    });
  }

  // ---- referenced-object watches ----

  // Requires mu. Returns the watch for `r`, starting it on first use.
  Watch& EnsureWatchLocked(const kube::Resource& r) {
    const std::string wk = WatchKey(r);
    auto it = watches.find(wk);
    if (it != watches.end()) return *it->second;
    auto w = std::make_unique<Watch>();
    w->resource = r;
    w->started = clock.Now();
    kube::InformerOptions io;
    io.resource = r;
    io.registry = &registry;
    if (o.policy == ReferencePolicy::kSameNamespace && r.group.empty() && r.kind == "Secret") {
      // Expressions over Secrets are forbidden under this policy: never hold their data.
      io.transform = [](Json&& s) -> std::optional<Json> {
        Json out = {{"apiVersion", s.value("apiVersion", "v1")},
                    {"kind", "Secret"},
                    {"metadata", s.value("metadata", Json::object())}};
        return out;
      };
    }
    w->informer =
        std::make_shared<kube::Informer>(kube::MakeClientListerWatcher(client, r, ""), clock, io);
    auto on_change = [this, wk](const ObjectPtr& obj) {
      std::vector<std::string> waiting;
      {
        std::lock_guard lock(mu);
        auto rit = refs.find(wk + "|" + kube::ObjectKey(*obj));
        if (rit != refs.end()) waiting.assign(rit->second.begin(), rit->second.end());
      }
      for (const auto& p : waiting) queue.Add(p);
    };
    w->informer->AddEventHandler({
        .on_add = on_change,
        .on_update = [on_change](const ObjectPtr&, const ObjectPtr& n) { on_change(n); },
        .on_delete = on_change,
    });
    // A cache that stops being live may be stale (a watch broken while objects changed, or the
    // type deleted): its gates are held meanwhile (Reconcile). Every transition re-evaluates them:
    // when it breaks, to notice a deleted type; when it heals, to decide on live data.
    w->informer->AddWatchHealthHandler([this, wk, inf = w->informer.get()](bool healthy) {
      std::vector<std::string> waiting;
      {
        std::lock_guard lock(mu);
        auto wit = watches.find(wk);
        if (wit == watches.end() || wit->second->informer.get() != inf) return;
        wit->second->unhealthy_since = healthy ? TimePoint{} : clock.Now();
        waiting.assign(wit->second->pods.begin(), wit->second->pods.end());
      }
      for (const auto& p : waiting) queue.Add(p);
    });
    w->informer->Start();
    w->sync_waiter = std::jthread([this, wk, inf = w->informer](std::stop_token st) {
      if (!inf->WaitForSync(st)) return;
      std::vector<std::string> waiting;
      {
        std::lock_guard lock(mu);
        auto wit = watches.find(wk);
        if (wit != watches.end())
          waiting.assign(wit->second->pods.begin(), wit->second->pods.end());
      }
      for (const auto& p : waiting) queue.Add(p);
    });
    log::Info("gates: started shared watch", {{"resource", wk}});
    auto& ref = *w;
    watches.emplace(wk, std::move(w));
    watches_gauge->Set(static_cast<double>(watches.size()));
    return ref;
  }

  // Replaces the pod's references; returns the watches nobody references any more (to be
  // stopped outside the lock).
  std::vector<std::unique_ptr<Watch>> SetRefsLocked(const std::string& pod,
                                                    std::set<std::string> new_refs,
                                                    std::set<std::string> new_watches) {
    auto& st = pod_states[pod];
    for (const auto& r : st.refs) {
      if (new_refs.count(r)) continue;
      auto it = refs.find(r);
      if (it == refs.end()) continue;
      it->second.erase(pod);
      if (it->second.empty()) refs.erase(it);
    }
    for (const auto& r : new_refs) refs[r].insert(pod);
    std::vector<std::unique_ptr<Watch>> unused;
    for (const auto& wk : st.watches) {
      if (new_watches.count(wk)) continue;
      auto it = watches.find(wk);
      if (it == watches.end()) continue;
      it->second->pods.erase(pod);
      if (it->second->pods.empty()) {
        unused.push_back(std::move(it->second));
        watches.erase(it);
      }
    }
    for (const auto& wk : new_watches) {
      auto it = watches.find(wk);
      if (it != watches.end()) it->second->pods.insert(pod);
    }
    st.refs = std::move(new_refs);
    st.watches = std::move(new_watches);
    watches_gauge->Set(static_cast<double>(watches.size()));
    return unused;
  }

  static void StopWatches(std::vector<std::unique_ptr<Watch>> unused) {
    for (auto& w : unused) {
      w->sync_waiter.request_stop();
      if (w->sync_waiter.joinable()) w->sync_waiter.join();
      w->informer->Stop();
      log::Info("gates: stopped unreferenced watch", {{"resource", WatchKey(w->resource)}});
    }
  }

  // True when the watch on `wk` fails because its type is not served any more, and the kind
  // has not been re-resolved for it within `error_retry` (marks it re-resolved now).
  bool TypeMayBeGone(const std::string& wk) {
    std::lock_guard lock(mu);
    auto it = watches.find(wk);
    if (it == watches.end()) return false;
    Watch& w = *it->second;
    if (w.informer->WatchHealthy() || !NotServed(w.informer->WatchError())) return false;
    if (w.rediscovered != TimePoint{} && clock.Now() - w.rediscovered < o.error_retry) {
      return false;
    }
    w.rediscovered = clock.Now();
    return true;
  }

  // ---- evaluation ----

  Result<std::shared_ptr<const CompiledCondition>> Compiled(const std::string& annotation) {
    std::lock_guard lock(mu);
    auto it = compiled.find(annotation);
    if (it != compiled.end()) return it->second;
    if (compiled.size() > 10000) compiled.clear();  // bound memory under annotation churn
    auto c = CompileCondition(annotation);
    compiled.emplace(annotation, c);
    return c;
  }

  // SubjectAccessReview: may the pod's service account `get` the object?
  Result<bool> AccessAllowed(const std::string& pod_ns, const std::string& sa,
                             const kube::Resource& r, const std::string& ns,
                             const std::string& name) {
    const std::string user = fmt::format("system:serviceaccount:{}:{}", pod_ns, sa);
    const std::string key = fmt::format("{}|{}|{}|{}", user, WatchKey(r), ns, name);
    {
      std::lock_guard lock(mu);
      auto it = sars.find(key);
      if (it != sars.end() && clock.Now() - it->second.at < o.access_review_ttl) {
        return it->second.allowed;
      }
    }
    Json body = {
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SubjectAccessReview"},
        {"spec",
         {{"user", user},
          {"groups",
           {"system:serviceaccounts", "system:serviceaccounts:" + pod_ns, "system:authenticated"}},
          {"resourceAttributes",
           {{"verb", "get"},
            {"group", r.group},
            {"version", r.version},
            {"resource", r.resource},
            {"namespace", ns},
            {"name", name}}}}}};
    auto resp = client.Request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", &body);
    if (!resp) return Fail(resp.error().Wrap("SubjectAccessReview"));
    bool allowed = false;
    try {
      allowed = resp->at("status").value("allowed", false);
    } catch (const Json::exception&) {
      return Fail(ErrorCode::kInternal, "SubjectAccessReview answer has no status");
    }
    std::lock_guard lock(mu);
    sars[key] = {allowed, clock.Now()};
    return allowed;
  }

  void Record(const Json& pod, kube::EventType type, const std::string& reason,
              const std::string& message) {
    recorder->Record(kube::ObjectReference::From(pod), type, reason, message);
  }

  void Reconcile(const std::string& key) {
    ObjectPtr pod = pods->GetByKey(key);
    if (!pod) {
      std::vector<std::unique_ptr<Watch>> unused;
      {
        std::lock_guard lock(mu);
        unused = SetRefsLocked(key, {}, {});
        pod_states.erase(key);
      }
      StopWatches(std::move(unused));
      return;
    }
    const std::string pod_ns = StrAt(*pod, "metadata", "namespace");
    std::string sa = pod->value("/spec/serviceAccountName"_json_pointer, std::string());
    if (sa.empty()) sa = "default";
    const Json annotations = pod->value("/metadata/annotations"_json_pointer, Json::object());

    std::set<std::string> new_refs, new_watches, satisfied;
    std::map<std::string, GateProblem> problems;
    bool needs_time_resync = false, needs_retry = false, pending_sync = false;

    for (const auto& gate : OwnedGates(*pod, o.prefixes)) {
      auto ann = annotations.find(gate);
      if (ann == annotations.end() || !ann->is_string()) {
        problems[gate] = {"GateAnnotationMissing",
                          fmt::format("gate {}: annotation \"{}\" holding the condition JSON is "
                                      "missing; add it to the pod (template)",
                                      gate, gate)};
        continue;
      }
      auto cc = Compiled(ann->get<std::string>());
      if (!cc) {
        problems[gate] = {"GateInvalid", fmt::format("gate {}: {}", gate, cc.error().message)};
        continue;
      }
      const Condition& cond = (*cc)->condition;
      auto res = discovery.ForKind(cond.api_version, cond.kind);
      if (!res) {
        problems[gate] = {"GateReferenceUnknown",
                          fmt::format("gate {}: cannot resolve {} {}: {}", gate, cond.api_version,
                                      cond.kind, res.error().message),
                          true};
        continue;
      }
      const std::string target_ns = res->namespaced ? cond.ns.value_or(pod_ns) : std::string();
      auto decision = CheckReference(o.policy, pod_ns, target_ns, res->group, res->kind,
                                     cond.expression.has_value());
      if (decision.verdict == PolicyDecision::Verdict::kDeny) {
        problems[gate] = {"GateForbidden", fmt::format("gate {}: {}", gate, decision.reason)};
        continue;
      }
      if (decision.verdict == PolicyDecision::Verdict::kNeedsAccessReview) {
        auto allowed = AccessAllowed(pod_ns, sa, *res, target_ns, cond.name);
        if (!allowed) {
          problems[gate] = {"GateForbidden",
                            fmt::format("gate {}: {}", gate, allowed.error().message), true};
          continue;
        }
        if (!*allowed) {
          problems[gate] = {
              "GateForbidden",
              fmt::format("gate {}: reference policy authorized: service account {}/{} may not "
                          "get {} \"{}\"{}; grant it get access or reference another object",
                          gate, pod_ns, sa, res->GroupResource(), cond.name,
                          target_ns.empty() ? "" : " in namespace " + target_ns),
              true};
          continue;
        }
      }
      if (TypeMayBeGone(WatchKey(*res))) {
        // Our watch on this type gets 404: re-resolve the kind. If it is gone, the gate reports
        // it (and retries), and the watch stops once no gate references it; a CRD created again
        // later gets a fresh watch. Data cached from the old type is never used.
        discovery.Invalidate();
        res = discovery.ForKind(cond.api_version, cond.kind);
        if (!res) {
          problems[gate] = {"GateReferenceUnknown",
                            fmt::format("gate {}: cannot resolve {} {}: {}", gate, cond.api_version,
                                        cond.kind, res.error().message),
                            true};
          continue;
        }
      }
      const std::string wk = WatchKey(*res);
      std::shared_ptr<kube::Informer> inf;
      TimePoint watch_started, unhealthy_since;
      {
        std::lock_guard lock(mu);
        auto& w = EnsureWatchLocked(*res);
        inf = w.informer;
        watch_started = w.started;
        unhealthy_since = w.unhealthy_since;
        // Register at once so the sync waiter and change handler see this pod.
        watches[wk]->pods.insert(key);
        refs[wk + "|" + (target_ns.empty() ? cond.name : target_ns + "/" + cond.name)].insert(key);
      }
      new_watches.insert(wk);
      new_refs.insert(wk + "|" + (target_ns.empty() ? cond.name : target_ns + "/" + cond.name));
      if (!inf->HasSynced()) {  // the sync waiter requeues the pod
        if (clock.Now() - watch_started < o.error_retry) {
          pending_sync = true;  // other satisfied gates wait a little, to go in the same patch
        } else {
          problems[gate] = {"GateWatchNotReady",
                            fmt::format("gate {}: the watch on {} has not synced since {}; "
                                        "check that tether may list and watch {} (RBAC) and "
                                        "that the API server is reachable",
                                        gate, res->GroupResource(), FormatRfc3339(watch_started),
                                        res->GroupResource())};
        }
        needs_retry = true;  // re-check (and report) if the cache never syncs
        continue;
      }
      if (!inf->WatchHealthy()) {
        // Possibly stale: never decide on it (a removed gate cannot come back). The health
        // handler requeues the pod when the watch is live again.
        if (unhealthy_since == TimePoint{}) unhealthy_since = clock.Now();  // not recorded yet
        if (clock.Now() - unhealthy_since < o.error_retry) {
          pending_sync = true;
        } else {
          problems[gate] = {
              "GateWatchNotReady",
              fmt::format("gate {}: the watch on {} has been failing since {} ({}); check that "
                          "tether may list and watch {} (RBAC) and that the API server is "
                          "reachable",
                          gate, res->GroupResource(), FormatRfc3339(unhealthy_since),
                          inf->WatchError(), res->GroupResource())};
        }
        needs_retry = true;
        continue;
      }
      ObjectPtr obj = inf->Get(target_ns, cond.name);
      auto ok = EvaluateCondition(**cc, obj, pod, clock.Now(), o.cost_budget);
      if (!ok) {
        eval_error->Inc();
        problems[gate] = {"GateEvaluationError", fmt::format("gate {}: {} {}: {}", gate, res->kind,
                                                             cond.name, ok.error().message)};
        if ((*cc)->UsesNow()) needs_time_resync = true;
        continue;
      }
      (*ok ? eval_true : eval_false)->Inc();
      if (*ok) {
        satisfied.insert(gate);
      } else if ((*cc)->UsesNow()) {
        needs_time_resync = true;
      }
    }

    // Warnings: one Event per distinct problem of a gate.
    std::vector<std::pair<std::string, GateProblem>> to_report;
    std::vector<std::unique_ptr<Watch>> unused;
    {
      std::lock_guard lock(mu);
      unused = SetRefsLocked(key, std::move(new_refs), std::move(new_watches));
      auto& reported = pod_states[key].reported;
      for (auto it = reported.begin(); it != reported.end();) {
        it = problems.count(it->first) ? std::next(it) : reported.erase(it);
      }
      for (auto& [gate, p] : problems) {
        needs_retry = needs_retry || p.retry;
        if (reported[gate] == p.message) continue;
        reported[gate] = p.message;
        to_report.emplace_back(gate, p);
      }
    }
    StopWatches(std::move(unused));
    for (const auto& [gate, p] : to_report) {
      log::Info("gates: gate blocked", {{"pod", key}, {"gate", gate}, {"problem", p.message}});
      Record(*pod, kube::EventType::kWarning, p.reason, p.message);
    }

    // All satisfied gates go in one patch: wait until every referenced cache is known.
    if (!satisfied.empty() && !pending_sync) {
      auto removed = RemoveGates(*pod, satisfied);
      if (!removed) {
        log::Info("gates: removing gates failed",
                  {{"pod", key}, {"error", removed.error().ToString()}});
        queue.AddRateLimited(key);
        return;
      }
    }
    queue.Forget(key);
    if (needs_time_resync) queue.AddAfter(key, o.time_resync);
    if (needs_retry) queue.AddAfter(key, o.error_retry);
  }

  // One guarded JSON patch; on a failed test (422) or conflict, re-read and retry.
  Result<void> RemoveGates(const Json& cached, const std::set<std::string>& satisfied) {
    const std::string ns = StrAt(cached, "metadata", "namespace");
    const std::string name = StrAt(cached, "metadata", "name");
    Json current = cached;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto patch = BuildRemovalPatch(current, satisfied);
      if (!patch) return {};
      auto r = client.Patch(kube::resources::Pods(), ns, name, kube::PatchType::kJson, *patch);
      if (r) {
        TimePoint created;
        const std::string ts = StrAt(current, "metadata", "creationTimestamp");
        const bool have_created = ParseRfc3339(ts, &created);
        Duration waited = have_created ? clock.Now() - created : Duration::zero();
        if (waited < Duration::zero()) waited = Duration::zero();
        std::vector<std::string> removed;
        for (const auto& g : SchedulingGates(current)) {
          if (satisfied.count(g)) removed.push_back(g);
        }
        if (have_created) {
          for (std::size_t i = 0; i < removed.size(); ++i) {
            wait_seconds->Observe(std::chrono::duration<double>(waited).count());
          }
        }
        // One Event per patch (the removals happened together).
        Record(
            current, kube::EventType::kNormal, "GateRemoved",
            fmt::format("{} {} removed: condition satisfied after waiting {}",
                        removed.size() == 1 ? "gate" : "gates", fmt::join(removed, ", "),
                        FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(waited))));
        log::Info("gates: gates removed", {{"pod", ns + "/" + name},
                                           {"gates", fmt::format("{}", fmt::join(removed, ","))}});
        return {};
      }
      if (r.error().code != ErrorCode::kInvalid && r.error().code != ErrorCode::kConflict) {
        return Fail(r.error().Wrap(fmt::format("patching pod {}/{}", ns, name)));
      }
      auto fresh = client.Get(kube::resources::Pods(), ns, name);
      if (!fresh) {
        if (fresh.error().code == ErrorCode::kNotFound) return {};
        return Fail(fresh.error().Wrap(fmt::format("re-reading pod {}/{}", ns, name)));
      }
      current = std::move(*fresh);
    }
    return Fail(ErrorCode::kConflict,
                fmt::format("pod {}/{} kept changing while removing gates; will retry", ns, name));
  }

  void Work() {
    while (auto key = queue.Get()) {
      Reconcile(*key);
      queue.Done(*key);
    }
  }
};

Result<std::unique_ptr<GateController>> GateController::Create(GateControllerOptions options) {
  if (options.clock == nullptr || options.client == nullptr) {
    return Fail(ErrorCode::kInvalid,
                "GateController: options.clock and options.client are required");
  }
  if (options.prefixes.empty()) {
    return Fail(ErrorCode::kInvalid, "GateController: at least one gate prefix is required");
  }
  for (const auto& p : options.prefixes) {
    if (p.empty() || p.back() != '/') {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("GateController: prefix \"{}\" must end with '/'", p));
    }
  }
  if (options.workers < 1) options.workers = 1;
  return std::unique_ptr<GateController>(
      new GateController(std::make_unique<Impl>(std::move(options))));
}

GateController::GateController(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GateController::~GateController() { Stop(); }

void GateController::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) return;
  impl_->started = true;
  if (impl_->own_recorder) impl_->own_recorder->Start();
  impl_->pods->Start();
  for (int i = 0; i < impl_->o.workers; ++i) {
    impl_->workers.emplace_back([this] { impl_->Work(); });
  }
}

void GateController::Stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->started) return;
  impl_->started = false;
  impl_->queue.ShutDown();
  impl_->workers.clear();  // joins
  impl_->pods->Stop();
  std::vector<std::unique_ptr<Impl::Watch>> all;
  {
    std::lock_guard l(impl_->mu);
    for (auto& [k, w] : impl_->watches) all.push_back(std::move(w));
    impl_->watches.clear();
    impl_->refs.clear();
    impl_->pod_states.clear();
    impl_->watches_gauge->Set(0);
  }
  Impl::StopWatches(std::move(all));
  if (impl_->own_recorder) impl_->own_recorder->Stop();
}

bool GateController::HasSynced() const { return impl_->pods->HasSynced(); }

std::size_t GateController::WatchCount() const {
  std::lock_guard lock(impl_->mu);
  return impl_->watches.size();
}

std::size_t GateController::CachedPods() const { return impl_->pods->Size(); }

}  // namespace tether::gates
