#include "deps/types.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tether::deps {

using nlohmann::json;

namespace schema {
std::string_view CanonicalApiVersion(std::string_view workload_kind) {
  if (workload_kind == "Rollout") return "argoproj.io/v1alpha1";
  if (workload_kind == "CronJob" || workload_kind == "Job") return "batch/v1";
  return "apps/v1";
}
}  // namespace schema

namespace {

template <typename E, std::size_t N>
std::optional<E> ParseEnum(std::string_view s, const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

template <std::size_t N>
std::string JoinNames(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

std::string_view KindName(WorkloadKind k) {
  return schema::kDependentKinds[static_cast<std::size_t>(k)];
}
std::optional<WorkloadKind> ParseWorkloadKind(std::string_view s) {
  return ParseEnum<WorkloadKind>(s, schema::kDependentKinds);
}
std::string_view ModeName(Mode m) { return schema::kModes[static_cast<std::size_t>(m)]; }
std::optional<Mode> ParseMode(std::string_view s) { return ParseEnum<Mode>(s, schema::kModes); }
std::string_view PhaseName(Phase p) { return schema::kPhases[static_cast<std::size_t>(p)]; }
std::optional<Phase> ParsePhase(std::string_view s) { return ParseEnum<Phase>(s, schema::kPhases); }
std::string_view DepStateName(DepState s) {
  return schema::kDependencyStates[static_cast<std::size_t>(s)];
}
std::optional<DepState> ParseDepState(std::string_view s) {
  return ParseEnum<DepState>(s, schema::kDependencyStates);
}

bool UsesScale(WorkloadKind k) {
  return k == WorkloadKind::kDeployment || k == WorkloadKind::kStatefulSet ||
         k == WorkloadKind::kReplicaSet || k == WorkloadKind::kRollout;
}
bool UsesSuspendField(WorkloadKind k) {
  return k == WorkloadKind::kCronJob || k == WorkloadKind::kJob;
}

std::string WorkloadRef::Key() const {
  return fmt::format("{}/{}/{}", KindName(kind), namespace_, name);
}
std::string WorkloadRef::KindSlashName() const {
  return fmt::format("{}/{}", KindName(kind), name);
}

std::optional<WorkloadKind> Dependency::Workload() const {
  if (type != Type::kWorkload) return std::nullopt;
  return ParseWorkloadKind(kind);
}
std::string Dependency::Ref() const {
  if (type == Type::kPrometheus) return "prometheus: " + prometheus_query;
  return fmt::format("{}/{}/{}", kind, namespace_, name);
}
std::string Dependency::ShortRef() const {
  if (type == Type::kPrometheus) return "prometheus query " + prometheus_query;
  return fmt::format("{}/{}", kind, name);
}

bool IsValidDuration(std::string_view s) {
  // ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$, matched by hand (no backtracking needed: units are
  // unambiguous once "ms" is tried before "m").
  if (s.empty()) return false;
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  while (i < s.size()) {
    if (!digits()) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (s.substr(i, 2) == "ms") {
      i += 2;
    } else if (i < s.size() && (s[i] == 's' || s[i] == 'm' || s[i] == 'h')) {
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Spec decoding

namespace {

std::string TypeName(const json& j) { return j.type_name(); }

// Upper bound for every duration field: keeps deadline arithmetic far from overflow.
constexpr Duration kMaxDuration = std::chrono::hours(87600);

std::string Quote(std::string_view s) { return json(std::string(s)).dump(); }

class SpecDecoder {
 public:
  explicit SpecDecoder(std::string_view wd_namespace) : wd_namespace_(wd_namespace) {}

  Spec Decode(const json& spec) {
    Spec out;
    if (!spec.is_object()) {
      Problem("spec", fmt::format("must be an object, got {}", TypeName(spec)),
              "set spec.dependent and spec.dependsOn");
      return out;
    }
    DecodeDependent(spec, out);
    DecodeDependsOn(spec, out);
    if (const json* od = Field(spec, "onDegraded", "spec", json::value_t::object)) {
      if (auto action = String(*od, "action", "spec.onDegraded")) {
        if (!ParseEnum<int>(*action, schema::kActions)) {
          Problem("spec.onDegraded.action", fmt::format("{} is not supported", Quote(*action)),
                  "use " + JoinNames(schema::kActions));
        } else {
          out.on_degraded_action = *action;
        }
      }
      if (auto d = DurationField(*od, "maxSuspendDuration", "spec.onDegraded")) {
        out.max_suspend_duration = *d;
      }
    }
    if (auto mode = String(spec, "mode", "spec")) {
      if (auto m = ParseMode(*mode)) {
        out.mode = *m;
      } else {
        Problem("spec.mode", fmt::format("{} is not a mode", Quote(*mode)),
                "use " + JoinNames(schema::kModes));
      }
    }
    if (const json* c = Field(spec, "cascade", "spec", json::value_t::boolean)) {
      out.cascade = c->get<bool>();
    }
    if (const json* n = Field(spec, "notify", "spec", json::value_t::object)) {
      out.notify = DecodeNotify(*n);
    }
    // The dependent must not appear in its own dependsOn.
    for (std::size_t i = 0; i < out.depends_on.size(); ++i) {
      const Dependency& d = out.depends_on[i];
      if (d.type != Dependency::Type::kPrometheus && d.kind == KindName(out.dependent.kind) &&
          d.name == out.dependent.name && d.namespace_ == out.dependent.namespace_ &&
          !out.dependent.name.empty()) {
        Problem(fmt::format("spec.dependsOn[{}]", i),
                fmt::format("is the dependent {} itself", out.dependent.Key()),
                "a workload cannot depend on itself; remove this entry or change spec.dependent");
      }
    }
    return out;
  }

  std::vector<std::string> TakeProblems() { return std::move(problems_); }

 private:
  void Problem(std::string_view path, std::string_view what, std::string_view fix) {
    problems_.push_back(fmt::format("{}: {}; {}", path, what, fix));
  }

  // Returns the field if present and of the right type; records a problem on a type mismatch.
  // Number fields accept both integer kinds.
  const json* Field(const json& obj, std::string_view key, std::string_view parent,
                    json::value_t type) {
    auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null()) return nullptr;
    bool ok = it->type() == type;
    if (type == json::value_t::number_integer) ok = it->is_number_integer();
    if (!ok) {
      json sample(type);
      Problem(fmt::format("{}.{}", parent, key),
              fmt::format("must be {} {}, got {}", type == json::value_t::object ? "an" : "a",
                          type == json::value_t::number_integer ? "integer" : sample.type_name(),
                          TypeName(*it)),
              "fix the type of this field");
      return nullptr;
    }
    return &*it;
  }

  std::optional<std::string> String(const json& obj, std::string_view key,
                                    std::string_view parent) {
    const json* f = Field(obj, key, parent, json::value_t::string);
    if (!f) return std::nullopt;
    return f->get<std::string>();
  }

  std::optional<Duration> DurationField(const json& obj, std::string_view key,
                                        std::string_view parent) {
    auto s = String(obj, key, parent);
    if (!s) return std::nullopt;
    Duration d{};
    if (!IsValidDuration(*s) || !ParseDuration(*s, &d)) {
      Problem(fmt::format("{}.{}", parent, key), fmt::format("{} is not a duration", Quote(*s)),
              "use e.g. \"30s\", \"1m30s\"");
      return std::nullopt;
    }
    if (s->size() > 32 || d < Duration::zero() || d > kMaxDuration) {
      Problem(fmt::format("{}.{}", parent, key), fmt::format("{} is too long", Quote(*s)),
              "use at most 87600h (10 years)");
      return std::nullopt;
    }
    return d;
  }

  void Required(const json& obj, std::string_view key, std::string_view parent,
                std::string_view fix) {
    auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) {
      Problem(fmt::format("{}.{}", parent, key), "is required", fix);
    }
  }

  void DecodeDependent(const json& spec, Spec& out) {
    const json* dep = Field(spec, "dependent", "spec", json::value_t::object);
    if (!dep) {
      if (!spec.contains("dependent")) {
        Problem("spec.dependent", "is required",
                "name the workload to suspend, e.g. {kind: Deployment, name: my-app}");
      }
      return;
    }
    Required(*dep, "kind", "spec.dependent", "use " + JoinNames(schema::kDependentKinds));
    Required(*dep, "name", "spec.dependent", "set the name of the workload to suspend");
    if (auto kind = String(*dep, "kind", "spec.dependent"); kind && !kind->empty()) {
      if (auto k = ParseWorkloadKind(*kind)) {
        out.dependent.kind = *k;
      } else {
        Problem("spec.dependent.kind", fmt::format("{} is not a supported kind", Quote(*kind)),
                "use " + JoinNames(schema::kDependentKinds));
      }
    }
    if (auto name = String(*dep, "name", "spec.dependent")) out.dependent.name = *name;
    out.dependent.namespace_ = String(*dep, "namespace", "spec.dependent").value_or("");
    if (out.dependent.namespace_.empty()) out.dependent.namespace_ = wd_namespace_;
  }

  void DecodeDependsOn(const json& spec, Spec& out) {
    const json* list = Field(spec, "dependsOn", "spec", json::value_t::array);
    if (!list) {
      if (!spec.contains("dependsOn")) {
        Problem("spec.dependsOn", "is required",
                "list 1 to 32 dependencies, e.g. [{kind: Deployment, name: postgresql}]");
      }
      return;
    }
    if (list->size() < static_cast<std::size_t>(schema::kMinDependsOn) ||
        list->size() > static_cast<std::size_t>(schema::kMaxDependsOn)) {
      Problem("spec.dependsOn", fmt::format("has {} entries", list->size()),
              fmt::format("list between {} and {} dependencies", schema::kMinDependsOn,
                          schema::kMaxDependsOn));
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      std::string path = fmt::format("spec.dependsOn[{}]", i);
      const json& e = (*list)[i];
      if (!e.is_object()) {
        Problem(path, fmt::format("must be an object, got {}", TypeName(e)),
                "use {kind, name} or {apiVersion, kind, name, condition.expression} or "
                "{prometheus: {query}}");
        continue;
      }
      out.depends_on.push_back(DecodeDependency(e, path));
    }
  }

  Dependency DecodeDependency(const json& e, const std::string& path) {
    Dependency d;
    d.namespace_ = wd_namespace_;
    bool has_prom = e.contains("prometheus") && !e["prometheus"].is_null();
    bool has_kind = e.contains("kind") && !e["kind"].is_null();
    bool has_name = e.contains("name") && !e["name"].is_null();
    bool has_api = e.contains("apiVersion") && !e["apiVersion"].is_null();
    const json* cond = Field(e, "condition", path, json::value_t::object);
    std::string cond_path = path + ".condition";
    bool has_expr = cond && cond->contains("expression") && !(*cond)["expression"].is_null();
    const std::string one_of =
        "each entry is exactly one of {kind, name} (a workload), {apiVersion, kind, name, "
        "condition.expression} (any object) or {prometheus: {query}}";

    if (cond) {
      if (auto w = DurationField(*cond, "window", cond_path)) d.condition.window = *w;
      if (auto w = DurationField(*cond, "recoveryWindow", cond_path)) {
        d.condition.recovery_window = *w;
      }
    }

    if (has_prom) {
      d.type = Dependency::Type::kPrometheus;
      if (has_kind || has_name || has_api || has_expr) {
        Problem(path, "sets prometheus together with a workload or object reference", one_of);
      }
      if (cond && cond->contains("minReadyPercent")) {
        Problem(cond_path + ".minReadyPercent", "does not apply to a prometheus query",
                "remove it; a query is healthy when it returns at least one sample");
      }
      if (const json* p = Field(e, "prometheus", path, json::value_t::object)) {
        auto q = String(*p, "query", path + ".prometheus");
        if (!q || q->empty()) {
          if (!p->contains("query")) {
            Problem(path + ".prometheus.query", "is required",
                    "set a PromQL instant query, e.g. 'up{job=\"db\"} == 1'");
          } else if (q) {
            Problem(path + ".prometheus.query", "is empty",
                    "set a PromQL instant query, e.g. 'up{job=\"db\"} == 1'");
          }
        } else {
          d.prometheus_query = *q;
        }
      }
      return d;
    }

    if (!has_kind || !has_name) {
      Problem(path,
              fmt::format("is missing {}", !has_kind && !has_name ? "kind and name"
                                           : !has_kind            ? "kind"
                                                                  : "name"),
              one_of);
    }
    d.kind = String(e, "kind", path).value_or("");
    d.name = String(e, "name", path).value_or("");
    d.api_version = String(e, "apiVersion", path).value_or("");
    if (auto ns = String(e, "namespace", path); ns && !ns->empty()) d.namespace_ = *ns;

    if (has_expr) {
      d.type = Dependency::Type::kObject;
      if (auto x = String(*cond, "expression", cond_path)) {
        if (x->empty()) {
          Problem(cond_path + ".expression", "is empty",
                  "write a CEL expression over `resource`, e.g. "
                  "\"resource.status.readyInstances >= 1\"");
        }
        d.condition.expression = *x;
      }
      if (!has_api) {
        Problem(path + ".apiVersion", "is required for an object judged by an expression",
                "set the object's apiVersion, e.g. \"postgresql.cnpg.io/v1\"");
      }
      if (cond->contains("minReadyPercent")) {
        Problem(cond_path + ".minReadyPercent", "does not apply to an expression",
                "remove it or drop the expression to use built-in readiness");
      }
      return d;
    }

    d.type = Dependency::Type::kWorkload;
    if (!d.kind.empty()) {
      if (!ParseEnum<int>(d.kind, schema::kWorkloadDependencyKinds)) {
        Problem(path + ".kind", fmt::format("{} has no built-in readiness", Quote(d.kind)),
                fmt::format("use {}, or add apiVersion and condition.expression to judge any "
                            "object by a CEL expression",
                            JoinNames(schema::kWorkloadDependencyKinds)));
      } else if (has_api && d.api_version != schema::CanonicalApiVersion(d.kind)) {
        Problem(
            path + ".apiVersion",
            fmt::format("{} with kind {} needs condition.expression", Quote(d.api_version), d.kind),
            fmt::format("use apiVersion {} (or omit it) for the built-in workload, or add "
                        "condition.expression",
                        schema::CanonicalApiVersion(d.kind)));
      }
    }
    if (cond) {
      if (const json* p =
              Field(*cond, "minReadyPercent", cond_path, json::value_t::number_integer)) {
        int64_t v = p->get<int64_t>();
        if (v < 0 || v > 100) {
          Problem(cond_path + ".minReadyPercent", fmt::format("{} is out of range", v),
                  "use an integer from 0 to 100 (0 means \"exists\")");
        } else {
          d.condition.min_ready_percent = static_cast<int>(v);
        }
      }
    }
    return d;
  }

  std::optional<SecretKeyRef> SecretRef(const json& obj, std::string_view key,
                                        const std::string& parent, std::string_view default_key) {
    const json* r = Field(obj, key, parent, json::value_t::object);
    if (!r) return std::nullopt;
    std::string path = fmt::format("{}.{}", parent, key);
    SecretKeyRef out;
    out.name = String(*r, "name", path).value_or("");
    if (out.name.empty()) {
      Problem(path + ".name", "is required", "name a Secret in the WorkloadDependency's namespace");
    }
    out.key = String(*r, "key", path).value_or("");
    if (out.key.empty()) out.key = std::string(default_key);
    return out;
  }

  NotifySpec DecodeNotify(const json& n) {
    NotifySpec out;
    auto url = String(n, "webhook", "spec.notify");
    out.webhook_secret_ref =
        SecretRef(n, "webhookSecretRef", "spec.notify", schema::kDefaultSecretKey);
    bool has_url = url && !url->empty();
    if (has_url == out.webhook_secret_ref.has_value()) {
      Problem("spec.notify",
              has_url ? "sets both webhook and webhookSecretRef"
                      : "sets neither webhook nor webhookSecretRef",
              "set exactly one of them");
    }
    if (has_url) {
      if (!(url->rfind("http://", 0) == 0 || url->rfind("https://", 0) == 0) ||
          url->find("://") + 3 >= url->size()) {
        Problem("spec.notify.webhook", fmt::format("{} is not an http(s) URL", Quote(*url)),
                "use a URL starting with https:// (or http://)");
      }
      out.webhook = *url;
    }
    if (auto f = String(n, "format", "spec.notify")) {
      if (*f == "json") {
        out.format = NotifyFormat::kJson;
      } else if (*f == "slack") {
        out.format = NotifyFormat::kSlack;
      } else {
        Problem("spec.notify.format", fmt::format("{} is not a format", Quote(*f)),
                "use " + JoinNames(schema::kNotifyFormats));
      }
    }
    // The signing key's entry has no conventional name; "key" mirrors the example.
    out.signing_secret_ref = SecretRef(n, "signingSecretRef", "spec.notify", "key");
    if (const json* p = Field(n, "onPhases", "spec.notify", json::value_t::array)) {
      out.on_phases.clear();
      for (std::size_t i = 0; i < p->size(); ++i) {
        const json& v = (*p)[i];
        auto ph = v.is_string() ? ParsePhase(v.get<std::string>()) : std::nullopt;
        if (!ph) {
          Problem(fmt::format("spec.notify.onPhases[{}]", i),
                  fmt::format("{} is not a phase", v.dump()), "use " + JoinNames(schema::kPhases));
        } else if (std::find(out.on_phases.begin(), out.on_phases.end(), *ph) ==
                   out.on_phases.end()) {
          out.on_phases.push_back(*ph);
        }
      }
    }
    return out;
  }

  std::string wd_namespace_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> ValidateSpec(const json& spec, std::string_view wd_namespace) {
  SpecDecoder d(wd_namespace);
  d.Decode(spec);
  return d.TakeProblems();
}

Result<Spec> DecodeSpec(const json& spec, std::string_view wd_namespace) {
  SpecDecoder d(wd_namespace);
  Spec out = d.Decode(spec);
  auto problems = d.TakeProblems();
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) {
      if (!msg.empty()) msg += "\n";
      msg += p;
    }
    return Fail(ErrorCode::kInvalid, std::move(msg));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Status

const StatusCondition* Status::FindCondition(std::string_view type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

namespace {

void PutTime(json& j, const char* key, const std::optional<TimePoint>& t) {
  if (t) j[key] = FormatRfc3339(*t);
}

std::optional<TimePoint> GetTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  const std::string& text = it->get_ref<const std::string&>();
  // Reject implausible years before parsing: converting them to nanoseconds would overflow.
  if (text.size() < 4 || text.compare(0, 4, "1970") < 0 || text.compare(0, 4, "2200") > 0) {
    return std::nullopt;
  }
  TimePoint t;
  if (!ParseRfc3339(text, &t)) return std::nullopt;
  // Only plausible instants (1970..2200): deadline arithmetic on them cannot overflow.
  constexpr auto kLatest = std::chrono::hours(24 * 365 * 230);
  if (t.time_since_epoch() < Duration::zero() || t.time_since_epoch() > kLatest) {
    return std::nullopt;
  }
  return t;
}

std::string GetString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<int64_t> GetInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

json EncodeStatus(const Status& s) {
  json j = json::object();
  if (s.observed_generation != 0) j["observedGeneration"] = s.observed_generation;
  if (s.phase) j["phase"] = PhaseName(*s.phase);
  if (!s.message.empty()) j["message"] = s.message;
  if (s.saved_replicas) j["savedReplicas"] = *s.saved_replicas;
  PutTime(j, "degradedSince", s.degraded_since);
  PutTime(j, "suspendedAt", s.suspended_at);
  PutTime(j, "healthySince", s.healthy_since);
  if (!s.dependent_ref.empty()) j["dependentRef"] = s.dependent_ref;
  if (!s.dependencies.empty()) {
    json deps = json::array();
    for (const auto& d : s.dependencies) {
      json e = json::object();
      e["ref"] = d.ref;
      e["state"] = DepStateName(d.state);
      if (d.ready) e["ready"] = *d.ready;
      if (d.desired) e["desired"] = *d.desired;
      PutTime(e, "since", d.since);
      if (!d.message.empty()) e["message"] = d.message;
      PutTime(e, "healthySince", d.healthy_since);
      PutTime(e, "unhealthySince", d.unhealthy_since);
      deps.push_back(std::move(e));
    }
    j["dependencies"] = std::move(deps);
  }
  if (!s.conditions.empty()) {
    json conds = json::array();
    for (const auto& c : s.conditions) {
      json e = json::object();
      e["type"] = c.type;
      e["status"] = c.status;
      if (!c.reason.empty()) e["reason"] = c.reason;
      e["message"] = c.message;
      PutTime(e, "lastTransitionTime", c.last_transition_time);
      if (c.observed_generation != 0) e["observedGeneration"] = c.observed_generation;
      conds.push_back(std::move(e));
    }
    j["conditions"] = std::move(conds);
  }
  if (s.last_notified_phase) j["lastNotifiedPhase"] = PhaseName(*s.last_notified_phase);
  return j;
}

Status DecodeStatus(const json& j) {
  Status s;
  if (!j.is_object()) return s;
  s.observed_generation = GetInt(j, "observedGeneration").value_or(0);
  s.phase = ParsePhase(GetString(j, "phase"));
  s.message = GetString(j, "message");
  s.saved_replicas = GetInt(j, "savedReplicas");
  s.degraded_since = GetTime(j, "degradedSince");
  s.suspended_at = GetTime(j, "suspendedAt");
  s.healthy_since = GetTime(j, "healthySince");
  s.dependent_ref = GetString(j, "dependentRef");
  s.last_notified_phase = ParsePhase(GetString(j, "lastNotifiedPhase"));
  if (auto it = j.find("dependencies"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_object()) continue;
      DependencyStatus d;
      d.ref = GetString(e, "ref");
      d.state = ParseDepState(GetString(e, "state")).value_or(DepState::kUnknown);
      d.ready = GetInt(e, "ready");
      d.desired = GetInt(e, "desired");
      d.since = GetTime(e, "since");
      d.message = GetString(e, "message");
      d.healthy_since = GetTime(e, "healthySince");
      d.unhealthy_since = GetTime(e, "unhealthySince");
      s.dependencies.push_back(std::move(d));
    }
  }
  if (auto it = j.find("conditions"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_object()) continue;
      StatusCondition c;
      c.type = GetString(e, "type");
      c.status = GetString(e, "status");
      c.reason = GetString(e, "reason");
      c.message = GetString(e, "message");
      c.last_transition_time = GetTime(e, "lastTransitionTime");
      c.observed_generation = GetInt(e, "observedGeneration").value_or(0);
      if (!c.type.empty()) s.conditions.push_back(std::move(c));
    }
  }
  return s;
}

}  // namespace tether::deps
