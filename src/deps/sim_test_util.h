// Test-only simulation of a cluster for the WorkloadDependency state machine: workloads as JSON
// objects, WorkloadDependencies with their status, and a reconcile loop that evaluates health,
// calls Decide(), applies the returned patch steps literally (RFC 7386 merge patches, scale
// subresource writes) and lets a fake workload controller update readiness. Time only moves
// through Advance()/RunUntil(), which fire the decision deadlines exactly like the controller's
// timers would. Not thread-safe.
#pragma once

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "deps/health.h"
#include "deps/state_machine.h"
#include "deps/types.h"

namespace tether::deps::testing {

using nlohmann::json;

inline json MakeWorkload(WorkloadKind kind, const std::string& ns, const std::string& name,
                         int64_t replicas) {
  json o = {{"apiVersion", std::string(schema::CanonicalApiVersion(KindName(kind)))},
            {"kind", std::string(KindName(kind))},
            {"metadata", {{"name", name}, {"namespace", ns}, {"generation", 1}}},
            {"spec", json::object()},
            {"status", json::object()}};
  if (UsesScale(kind)) o["spec"]["replicas"] = replicas;
  if (UsesSuspendField(kind)) o["spec"]["suspend"] = false;
  if (kind == WorkloadKind::kDaemonSet) o["spec"]["template"] = {{"spec", json::object()}};
  if (kind == WorkloadKind::kRollout) o["status"]["phase"] = "Healthy";
  return o;
}

struct AppliedAction {
  std::string wd;
  Action::Type type;
  std::string target;
  TimePoint at;
};

class World {
 public:
  struct Wd {
    std::string ns = "prod";
    std::string name;
    json spec;
    Status status;
    bool paused = false;
    std::optional<std::string> cycle_path;
    std::vector<Decision> decisions;
    std::vector<EventSpec> events;
    std::vector<NotificationRequest> notifications;
  };

  TimePoint now = FakeClock::DefaultStart();
  std::map<std::string, json> objects;  // "Kind/ns/name" -> object
  std::set<std::string> broken;         // workloads whose pods never become ready
  std::set<std::string> unobservable;   // dependencies the controller cannot see
  std::map<std::string, Wd> wds;        // by name
  std::vector<AppliedAction> actions;
  const ExpressionEvaluator* evaluator = nullptr;

  std::string Add(WorkloadKind kind, const std::string& name, int64_t replicas = 3,
                  const std::string& ns = "prod") {
    std::string key = fmt::format("{}/{}/{}", KindName(kind), ns, name);
    objects[key] = MakeWorkload(kind, ns, name, replicas);
    Settle(key);
    return key;
  }

  Wd& AddWd(const std::string& name, json spec) {
    Wd& w = wds[name];
    w.name = name;
    w.spec = std::move(spec);
    return w;
  }

  json& Obj(const std::string& key) { return objects.at(key); }
  int64_t Replicas(const std::string& key) { return Obj(key)["spec"].value("replicas", 1); }
  json Annotations(const std::string& key) {
    return Obj(key)["metadata"].value("annotations", json::object());
  }

  void Break(const std::string& key) {
    broken.insert(key);
    Settle(key);
  }
  void Fix(const std::string& key) {
    broken.erase(key);
    Settle(key);
  }
  // A user (or HPA) writes spec.replicas.
  void ScaleByUser(const std::string& key, int64_t replicas) {
    Obj(key)["spec"]["replicas"] = replicas;
    Settle(key);
  }

  // The fake workload controllers: readiness follows spec unless broken.
  void Settle(const std::string& key) {
    json& o = Obj(key);
    auto kind = ParseWorkloadKind(o["kind"].get<std::string>());
    o["status"]["observedGeneration"] = o["metadata"]["generation"];
    bool bad = broken.count(key) > 0;
    if (kind && UsesScale(*kind)) {
      o["status"]["readyReplicas"] = bad ? 0 : o["spec"].value("replicas", 1);
      if (*kind == WorkloadKind::kRollout && o["status"]["phase"] != "Progressing") {
        o["status"]["phase"] = bad ? "Degraded" : "Healthy";
      }
    } else if (kind == WorkloadKind::kDaemonSet) {
      bool off =
          o.contains(json::json_pointer("/spec/template/spec/nodeSelector/tether.dev~1suspended"));
      o["status"]["desiredNumberScheduled"] = off ? 0 : 2;
      o["status"]["numberReady"] = off || bad ? 0 : 2;
    }
  }

  Decision Reconcile(const std::string& wd_name) {
    Wd& w = wds.at(wd_name);
    DecideInput in;
    in.wd_namespace = w.ns;
    in.wd_name = w.name;
    in.generation = 1;
    in.now = now;
    in.previous = w.status;
    in.paused = w.paused;
    in.cycle_path = w.cycle_path;
    auto spec = DecodeSpec(w.spec, w.ns);
    if (!spec) {
      in.spec_problems = ValidateSpec(w.spec, w.ns);
    } else {
      in.spec = *spec;
      const WorkloadRef& d = spec->dependent;
      auto it = objects.find(d.Key());
      if (it == objects.end()) {
        in.dependent.presence = DependentState::Presence::kNotFound;
      } else {
        in.dependent = ObserveDependent(d.kind, it->second);
      }
      HealthContext ctx;
      ctx.wd_key = w.ns + "/" + w.name;
      ctx.dependent_key = d.Key();
      ctx.cascade = spec->cascade;
      ctx.evaluator = evaluator;
      if (in.dependent.record && in.dependent.record->suspended_by == ctx.wd_key) {
        ctx.own_root_causes = in.dependent.record->because;
      }
      for (const auto& dep : spec->depends_on) {
        Observation obs = Observation::NotFound();
        if (unobservable.count(dep.Ref())) {
          obs = Observation::Unobservable("watch broken");
        } else if (dep.type == Dependency::Type::kPrometheus) {
          obs = broken.count(dep.Ref()) ? Observation::PrometheusSamples(0)
                                        : Observation::PrometheusSamples(1);
        } else if (auto o = objects.find(dep.Ref()); o != objects.end()) {
          obs = Observation::Object(o->second);
        }
        in.health.push_back(EvaluateHealth(dep, obs, ctx));
      }
    }
    Decision d = Decide(in);
    if (d.status_changed) w.status = d.status;
    if (d.action.type != Action::Type::kNone) {
      Apply(d.action);
      actions.push_back({wd_name, d.action.type, d.action.target.Key(), now});
    }
    if (d.notification) {
      w.notifications.push_back(*d.notification);
      w.status.last_notified_phase = d.notification->phase;  // delivered
    }
    w.events.insert(w.events.end(), d.events.begin(), d.events.end());
    w.decisions.push_back(d);
    return d;
  }

  void Apply(const Action& a) {
    json& o = Obj(a.target.Key());
    for (const auto& step : a.steps) {
      if (step.target == PatchStep::Target::kScale) {
        o["spec"]["replicas"] = step.body["spec"]["replicas"];
      } else {
        o.merge_patch(step.body);
      }
    }
    Settle(a.target.Key());
  }

  // Reconciles every WorkloadDependency until nothing changes (bounded).
  void ReconcileAll() {
    for (int round = 0; round < 10; ++round) {
      bool changed = false;
      for (auto& [name, w] : wds) {
        Decision d = Reconcile(name);
        changed = changed || d.status_changed || d.action.type != Action::Type::kNone;
      }
      if (!changed) return;
    }
  }

  std::optional<TimePoint> NextDeadline() {
    std::optional<TimePoint> best;
    for (auto& [name, w] : wds) {
      if (w.decisions.empty()) continue;
      auto t = w.decisions.back().next_deadline;
      if (t && (!best || *t < *best)) best = t;
    }
    return best;
  }

  // Moves time to `until`, reconciling at every deadline on the way (the controller's timers)
  // and at `until` itself.
  void RunUntil(TimePoint until) {
    ReconcileAll();
    for (int guard = 0; guard < 10000; ++guard) {
      auto next = NextDeadline();
      if (!next || *next > until) break;
      now = *next;
      ReconcileAll();
    }
    now = until;
    ReconcileAll();
  }
  void Advance(Duration d) { RunUntil(now + d); }

  Phase PhaseOf(const std::string& wd) { return wds.at(wd).status.phase.value_or(Phase::kUnknown); }
  int CountActions(Action::Type t, const std::string& wd = "") {
    int n = 0;
    for (const auto& a : actions) n += a.type == t && (wd.empty() || a.wd == wd);
    return n;
  }
};

inline json SimpleSpec(const std::string& dependent_kind, const std::string& dependent,
                       std::vector<json> deps, const std::string& mode = "strict") {
  json s = {{"dependent", {{"kind", dependent_kind}, {"name", dependent}}},
            {"dependsOn", deps},
            {"mode", mode}};
  return s;
}

inline json DepOn(const std::string& kind, const std::string& name,
                  const std::string& window = "30s", const std::string& recovery = "60s") {
  return {{"kind", kind},
          {"name", name},
          {"condition", {{"window", window}, {"recoveryWindow", recovery}}}};
}

}  // namespace tether::deps::testing
