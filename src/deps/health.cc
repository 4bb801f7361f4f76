#include "deps/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace tether::deps {

using nlohmann::json;

namespace {

const json* Path(const json& j, std::initializer_list<const char*> keys) {
  const json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Integer at a path; numeric strings are accepted (Argo writes some counters as strings).
std::optional<int64_t> IntAt(const json& j, std::initializer_list<const char*> keys) {
  const json* v = Path(j, keys);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_string()) return ParseInt(v->get<std::string>());
  return std::nullopt;
}

std::string StringAt(const json& j, std::initializer_list<const char*> keys) {
  const json* v = Path(j, keys);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

Health Make(DepState state, Verdict verdict, std::string message) {
  Health h;
  h.state = state;
  h.verdict = verdict;
  h.message = std::move(message);
  return h;
}

Health Unknown(std::string message) {
  return Make(DepState::kUnknown, Verdict::kUnknown, std::move(message));
}

// The exact ratio test ready/desired >= min% without floating point or truncation.
bool MeetsRatio(int64_t ready, int64_t desired, int min_percent) {
  // 128-bit so absurd counts from a malformed object cannot overflow.
  return static_cast<__int128>(ready) * 100 >= static_cast<__int128>(min_percent) * desired;
}

Health Ratio(int64_t ready, int64_t desired, int min_percent) {
  bool ok = MeetsRatio(ready, desired, min_percent);
  Health h = Make(ok ? DepState::kHealthy : DepState::kUnhealthy,
                  ok ? Verdict::kHealthy : Verdict::kUnhealthy,
                  ok ? fmt::format("{}/{} ready", ready, desired)
                     : fmt::format("{}/{} ready (< {}%)", ready, desired, min_percent));
  h.ready = ready;
  h.desired = desired;
  return h;
}

// nullopt when the workload controller has observed the object's latest generation.
std::optional<Health> StaleGeneration(const json& obj) {
  auto generation = IntAt(obj, {"metadata", "generation"});
  if (!generation) return std::nullopt;
  auto observed = IntAt(obj, {"status", "observedGeneration"});
  if (observed && *observed >= *generation) return std::nullopt;
  return Unknown(fmt::format(
      "readiness not yet reported for generation {} (controller observed {}); waiting for the "
      "workload controller",
      *generation, observed ? std::to_string(*observed) : std::string("none")));
}

Health WorkloadHealth(WorkloadKind kind, const json& obj, int min_percent) {
  if (kind == WorkloadKind::kDaemonSet) {
    if (auto stale = StaleGeneration(obj)) return *stale;
    int64_t desired = IntAt(obj, {"status", "desiredNumberScheduled"}).value_or(0);
    int64_t ready = IntAt(obj, {"status", "numberReady"}).value_or(0);
    if (desired <= 0) {
      Health h = Make(DepState::kHealthy, Verdict::kHealthy, "0/0 ready (no nodes to run on)");
      h.ready = ready;
      h.desired = 0;
      return h;
    }
    return Ratio(ready, desired, min_percent);
  }
  if (kind == WorkloadKind::kRollout) {
    // Argo's observedGeneration is only comparable when numeric; its phase covers staleness.
    auto generation = IntAt(obj, {"metadata", "generation"});
    auto observed = IntAt(obj, {"status", "observedGeneration"});
    if (generation && observed && *observed < *generation) {
      return Unknown(
          fmt::format("readiness not yet reported for generation {} (controller "
                      "observed {}); waiting for the Rollout controller",
                      *generation, *observed));
    }
  } else if (auto stale = StaleGeneration(obj)) {
    return *stale;
  }
  int64_t desired = IntAt(obj, {"spec", "replicas"}).value_or(1);
  int64_t ready = IntAt(obj, {"status", "readyReplicas"}).value_or(0);
  if (kind == WorkloadKind::kRollout) {
    std::string phase = StringAt(obj, {"status", "phase"});
    if (phase != "Healthy" && phase != "Progressing" && phase != "Paused") {
      Health h = Make(DepState::kUnhealthy, Verdict::kUnhealthy,
                      fmt::format("rollout phase is {}", phase.empty() ? "not reported" : phase));
      h.ready = ready;
      h.desired = desired;
      return h;
    }
  }
  if (desired <= 0) {
    Health h = Make(DepState::kUnhealthy, Verdict::kUnhealthy, "scaled to 0 replicas");
    h.ready = ready;
    h.desired = 0;
    return h;
  }
  return Ratio(ready, desired, min_percent);
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::string JoinRootCauses(const std::vector<std::string>& causes) {
  std::string out;
  for (const auto& c : causes) {
    if (!out.empty()) out += ",";
    out += c;
  }
  return out;
}

std::vector<std::string> SplitRootCauses(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty() && !Contains(out, part)) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<DurableRecord> ReadDurableRecord(const json& object) {
  const json* ann = Path(object, {"metadata", "annotations"});
  if (!ann || !ann->is_object()) return std::nullopt;
  auto get = [&](std::string_view key) -> std::optional<std::string> {
    auto it = ann->find(std::string(key));
    if (it == ann->end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto by = get(kAnnotationSuspendedBy);
  if (!by || by->empty()) return std::nullopt;
  DurableRecord r;
  r.suspended_by = *by;
  if (auto v = get(kAnnotationSavedReplicas)) {
    if (auto n = ParseInt(*v); n && *n >= 0) r.saved_replicas = *n;
  }
  if (auto v = get(kAnnotationSavedSuspend)) {
    if (*v == "true") r.saved_suspend = true;
    if (*v == "false") r.saved_suspend = false;
  }
  if (auto v = get(kAnnotationSuspendedBecause)) r.because = SplitRootCauses(*v);
  if (auto v = get(kAnnotationSuspendedAt)) {
    TimePoint t;
    if (ParseRfc3339(*v, &t)) r.suspended_at = t;
  }
  return r;
}

json DurableRecordAnnotations(const DurableRecord& r) {
  json a = json::object();
  a[std::string(kAnnotationSuspendedBy)] = r.suspended_by;
  if (r.saved_replicas)
    a[std::string(kAnnotationSavedReplicas)] = std::to_string(*r.saved_replicas);
  if (r.saved_suspend)
    a[std::string(kAnnotationSavedSuspend)] = *r.saved_suspend ? "true" : "false";
  a[std::string(kAnnotationSuspendedBecause)] = JoinRootCauses(r.because);
  if (r.suspended_at) a[std::string(kAnnotationSuspendedAt)] = FormatRfc3339(*r.suspended_at);
  return a;
}

Health EvaluateHealth(const Dependency& dep, const Observation& obs, const HealthContext& ctx) {
  Health h = [&]() -> Health {
    switch (obs.kind) {
      case Observation::Kind::kUnobservable:
        return Unknown(obs.reason.empty() ? "cannot observe the dependency" : obs.reason);
      case Observation::Kind::kPrometheusError:
        return Unknown("prometheus query failed: " + obs.reason);
      case Observation::Kind::kPrometheusSamples:
        if (dep.type != Dependency::Type::kPrometheus) {
          return Unknown("internal: a query result was given for a non-query dependency");
        }
        if (obs.samples == 0) {
          return Make(DepState::kUnhealthy, Verdict::kUnhealthy, "query returned no samples");
        }
        return Make(
            DepState::kHealthy, Verdict::kHealthy,
            fmt::format("query returned {} sample{}", obs.samples, obs.samples == 1 ? "" : "s"));
      case Observation::Kind::kNotFound:
        return Make(DepState::kNotFound, Verdict::kUnhealthy,
                    fmt::format("{} not found", dep.ShortRef()));
      case Observation::Kind::kObject:
        break;
    }
    if (dep.type == Dependency::Type::kPrometheus) {
      return Unknown("internal: an object was given for a prometheus dependency");
    }
    const json& obj = obs.object;
    // CoSuspended (§2.6) takes precedence: the workload is at zero because tether put it there.
    if (auto record = ReadDurableRecord(obj)) {
      std::vector<std::string> causes = record->because;
      if (causes.empty()) causes.push_back(dep.Ref());
      Health co;
      co.state = DepState::kCoSuspended;
      co.root_causes = causes;
      std::string base = fmt::format("suspended by tether ({}) because {}", record->suspended_by,
                                     JoinRootCauses(causes));
      if (!ctx.cascade) {
        co.verdict = Verdict::kHealthy;
        co.message = base + "; counts as healthy (cascade: false)";
      } else if (Contains(causes, ctx.dependent_key)) {
        // Mutual suspension: both sides suspended because of each other. Break the tie by key so
        // exactly one side is restored first and the pair cannot livelock.
        if (Contains(ctx.own_root_causes, dep.Ref()) && ctx.dependent_key > dep.Ref()) {
          co.verdict = Verdict::kUnhealthy;
          co.message = base + fmt::format(
                                  "; mutual suspension with {}: waiting for {} to be "
                                  "restored first",
                                  ctx.dependent_key, dep.Ref());
        } else {
          co.verdict = Verdict::kHealthy;
          co.message = base + fmt::format(
                                  "; counts as healthy (root cause is this "
                                  "WorkloadDependency's own dependent {})",
                                  ctx.dependent_key);
        }
      } else {
        co.verdict = Verdict::kUnhealthy;
        co.message = base;
      }
      return co;
    }
    if (dep.type == Dependency::Type::kObject) {
      if (dep.condition.expression.empty()) {
        return Make(DepState::kHealthy, Verdict::kHealthy, "exists");
      }
      if (ctx.evaluator == nullptr) {
        return Unknown("no expression evaluator available");
      }
      auto value = ctx.evaluator->EvaluateBool(dep.condition.expression, obj);
      if (!value) return Unknown("expression error: " + value.error().message);
      if (*value) return Make(DepState::kHealthy, Verdict::kHealthy, "expression is true");
      return Make(DepState::kUnhealthy, Verdict::kUnhealthy,
                  fmt::format("expression is false: {}", dep.condition.expression));
    }
    auto kind = dep.Workload();
    if (!kind) return Unknown(fmt::format("kind {} has no built-in readiness", dep.kind));
    if (dep.condition.min_ready_percent == 0) {
      return Make(DepState::kHealthy, Verdict::kHealthy, "exists");
    }
    return WorkloadHealth(*kind, obj, dep.condition.min_ready_percent);
  }();
  if (h.verdict == Verdict::kUnhealthy && h.root_causes.empty()) {
    h.root_causes.push_back(dep.type == Dependency::Type::kPrometheus ? "Prometheus/" + ctx.wd_key
                                                                      : dep.Ref());
  }
  return h;
}

}  // namespace tether::deps
