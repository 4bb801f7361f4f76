#include "deps/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "deps/health.h"
#include "deps/types.h"

namespace tether::deps {
namespace {

using Json = nlohmann::json;

std::string Seconds(Duration d) {
  return FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

std::string WdKey(const Json& wd) {
  if (!wd.is_object() || !wd.contains("metadata") || !wd["metadata"].is_object()) return "?";
  const Json& meta = wd["metadata"];
  auto str = [&](const char* key) {
    auto it = meta.find(key);
    return it != meta.end() && it->is_string() ? it->get<std::string>() : std::string("?");
  };
  return str("namespace") + "/" + str("name");
}

bool IsPaused(const Json& wd) {
  if (!wd.contains("metadata") || !wd["metadata"].is_object()) return false;
  const Json& meta = wd["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return false;
  return meta["annotations"].value(std::string(kAnnotationPaused), "") == "true";
}

// How the dependent is suspended and what it will be restored to, from the durable record.
std::string DependentLine(const Spec& spec, const Json& dependent, const Status& status,
                          std::string_view wd_key) {
  std::string line = spec.dependent.Key();
  if (dependent.is_null()) return line + " — does not exist (tether waits for it to be created)";
  auto record = ReadDurableRecord(dependent);
  if (record && record->suspended_by == wd_key) {
    if (record->saved_replicas) {
      line += fmt::format(" — scaled to 0 by tether; will be restored to {} replicas",
                          *record->saved_replicas);
    } else if (record->saved_suspend) {
      line += fmt::format(
          " — suspended by tether (spec.suspend: true); will be restored to "
          "suspend: {}",
          *record->saved_suspend ? "true" : "false");
    } else {
      line += " — suspended by tether (node selector tether.dev/suspended)";
    }
    if (!record->because.empty()) {
      line += "\n               root cause: ";
      for (std::size_t i = 0; i < record->because.size(); ++i) {
        line += (i ? ", " : "") + record->because[i];
      }
    }
    return line;
  }
  if (record) {
    return line + " — suspended by another WorkloadDependency (" + record->suspended_by + ")";
  }
  const Json& s = dependent.contains("spec") ? dependent["spec"] : Json::object();
  if (UsesScale(spec.dependent.kind)) {
    line += fmt::format(" — running, {} replicas", s.value("replicas", 1));
  } else if (UsesSuspendField(spec.dependent.kind)) {
    line += s.value("suspend", false) ? " — suspended by its owner (not by tether)"
                                      : " — running (not suspended)";
  } else {
    line += " — running";
  }
  if (status.saved_replicas && status.phase == Phase::kSuspended) {
    line += fmt::format(" (status.savedReplicas: {})", *status.saved_replicas);
  }
  return line;
}

std::optional<TimePoint> PhaseSince(const Status& status) {
  if (!status.phase) return std::nullopt;
  switch (*status.phase) {
    case Phase::kSuspended:
    case Phase::kObserved:
      if (status.suspended_at) return status.suspended_at;
      break;
    case Phase::kDegraded:
      if (status.degraded_since) return status.degraded_since;
      break;
    default:
      break;
  }
  if (const StatusCondition* ready = status.FindCondition("Ready")) {
    return ready->last_transition_time;
  }
  return std::nullopt;
}

std::string ConditionText(const Dependency& d) {
  if (d.type == Dependency::Type::kPrometheus) {
    return fmt::format("healthy when the query returns samples; window {}, recovery window {}",
                       Seconds(d.condition.window), Seconds(d.condition.recovery_window));
  }
  std::string what;
  if (!d.condition.expression.empty()) {
    what = "healthy when `" + d.condition.expression + "`";
  } else if (d.type == Dependency::Type::kObject) {
    what = "healthy while it exists";
  } else if (d.condition.min_ready_percent == 0) {
    what = "healthy while it exists";
  } else {
    what = fmt::format("needs {}% ready", d.condition.min_ready_percent);
  }
  return fmt::format("{}; window {}, recovery window {}", what, Seconds(d.condition.window),
                     Seconds(d.condition.recovery_window));
}

// The instant an unhealthy dependency reaches its window (it is then "degraded").
std::optional<TimePoint> DegradedAt(const Dependency& d, const DependencyStatus& s) {
  if (s.state != DepState::kUnhealthy && s.state != DepState::kNotFound &&
      s.state != DepState::kCoSuspended) {
    return std::nullopt;
  }
  std::optional<TimePoint> start = s.unhealthy_since ? s.unhealthy_since : s.since;
  if (!start) return std::nullopt;
  return *start + d.condition.window;
}

std::string JoinRefs(const std::vector<std::string>& refs) {
  std::string out;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (i > 0) out += i + 1 == refs.size() ? " and " : ", ";
    out += refs[i];
  }
  return out;
}

std::string ScaleVerb(const Spec& spec) {
  if (UsesSuspendField(spec.dependent.kind)) return "suspend " + spec.dependent.KindSlashName();
  if (spec.dependent.kind == WorkloadKind::kDaemonSet) {
    return "suspend " + spec.dependent.KindSlashName() + " (node selector)";
  }
  return "scale " + spec.dependent.KindSlashName() + " to 0";
}

std::string RestoreTarget(const Spec& spec, const Json& dependent, const Status& status) {
  std::optional<DurableRecord> record =
      dependent.is_null() ? std::nullopt : ReadDurableRecord(dependent);
  std::string what = spec.dependent.KindSlashName();
  if (record && record->saved_replicas) {
    return fmt::format("{} to {} replicas", what, *record->saved_replicas);
  }
  if (record && record->saved_suspend) {
    return fmt::format("{} (suspend: {})", what, *record->saved_suspend ? "true" : "false");
  }
  if (status.saved_replicas) return fmt::format("{} to {} replicas", what, *status.saved_replicas);
  return what;
}

// What happens next, with times.
std::string NextText(const Spec& spec, const Status& status, const Json& dependent, bool paused,
                     TimePoint now) {
  if (paused) {
    return "paused (annotation tether.dev/paused: \"true\"): tether takes no action at all until "
           "the annotation is removed";
  }
  if (!status.phase) return "not reconciled yet: is the tether controller running?";
  bool observe = spec.mode == Mode::kObserve;
  std::vector<std::string> unhealthy;
  std::vector<std::string> unknown;
  std::optional<TimePoint> first_degraded;
  std::optional<TimePoint> all_recovered;
  bool recovery_known = true;
  for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
    const Dependency& d = spec.depends_on[i];
    if (i >= status.dependencies.size()) {
      recovery_known = false;
      continue;
    }
    const DependencyStatus& s = status.dependencies[i];
    if (s.state == DepState::kHealthy) {
      std::optional<TimePoint> since = s.healthy_since ? s.healthy_since : status.healthy_since;
      if (!since) since = s.since;
      if (!since) {
        recovery_known = false;
        continue;
      }
      TimePoint at = *since + d.condition.recovery_window;
      if (!all_recovered || at > *all_recovered) all_recovered = at;
    } else if (s.state == DepState::kUnknown) {
      unknown.push_back(d.ShortRef());
    } else {
      unhealthy.push_back(d.ShortRef());
      if (auto at = DegradedAt(d, s); at && (!first_degraded || *at < *first_degraded)) {
        first_degraded = at;
      }
    }
  }
  std::string unknown_note;
  if (!unknown.empty()) {
    unknown_note = fmt::format(
        " tether cannot currently observe {} (state Unknown): its clocks are frozen and tether "
        "never acts on what it cannot see.",
        JoinRefs(unknown));
  }
  switch (*status.phase) {
    case Phase::kHealthy:
      if (spec.mode == Mode::kGate) {
        return "all dependencies healthy; scale-ups of " + spec.dependent.KindSlashName() +
               " are allowed (gate mode blocks them while a dependency is unhealthy)" +
               unknown_note;
      }
      return fmt::format(
                 "nothing to do: all dependencies are healthy. If one stays unhealthy for "
                 "longer than its window, tether {} {}.",
                 observe ? "reports (observe mode) that it would" : "will", ScaleVerb(spec)) +
             unknown_note;
    case Phase::kDegraded: {
      if (spec.mode == Mode::kGate) {
        return "gate mode: scale-ups of " + spec.dependent.KindSlashName() +
               " are denied by the admission webhook while " + JoinRefs(unhealthy) +
               " is unhealthy; nothing is scaled down" + unknown_note;
      }
      if (unhealthy.empty()) {
        return "all dependencies are healthy again: back to Healthy at the next reconcile" +
               unknown_note;
      }
      std::string verb = observe ? "report that it would " + ScaleVerb(spec) : ScaleVerb(spec);
      if (first_degraded) {
        if (*first_degraded <= now) {
          return fmt::format("the window has expired: tether will {} now", verb) + unknown_note;
        }
        return fmt::format("tether will {} at {} unless {} become{} healthy before then", verb,
                           FormatWhen(*first_degraded, now), JoinRefs(unhealthy),
                           unhealthy.size() == 1 ? "s" : "") +
               unknown_note;
      }
      return fmt::format("tether will {} once {} has been unhealthy for its window", verb,
                         JoinRefs(unhealthy)) +
             unknown_note;
    }
    case Phase::kSuspended:
    case Phase::kObserved: {
      std::string restore = observe ? "report that it would restore " : "restore ";
      restore += RestoreTarget(spec, dependent, status);
      std::string text;
      if (!unhealthy.empty() || !unknown.empty() || !recovery_known || !all_recovered) {
        std::vector<std::string> waiting = unhealthy;
        waiting.insert(waiting.end(), unknown.begin(), unknown.end());
        text = fmt::format(
            "waiting for {} to become healthy; tether will {} once every dependency has stayed "
            "healthy for its recovery window (a relapse restarts the clock)",
            waiting.empty() ? std::string("the dependencies") : JoinRefs(waiting), restore);
      } else if (*all_recovered <= now) {
        text = fmt::format("every dependency has recovered: tether will {} now", restore);
      } else {
        std::vector<std::string> all;
        for (const auto& d : spec.depends_on) all.push_back(d.ShortRef());
        text =
            fmt::format("tether will {} at {} if {} stay{} healthy", restore,
                        FormatWhen(*all_recovered, now), JoinRefs(all), all.size() == 1 ? "s" : "");
      }
      if (spec.max_suspend_duration && status.suspended_at && !observe) {
        text += fmt::format(
            ". Safety net: released (restored) at {} at the latest (maxSuspendDuration {})",
            FormatWhen(*status.suspended_at + *spec.max_suspend_duration, now),
            Seconds(*spec.max_suspend_duration));
      }
      return text + unknown_note;
    }
    case Phase::kReleased:
      return "restored after maxSuspendDuration; tether will not suspend " +
             spec.dependent.KindSlashName() +
             " again until the dependencies have genuinely recovered once (then Healthy)";
    case Phase::kPaused:
      return "paused: no action until the tether.dev/paused annotation is removed";
    case Phase::kUnknown: {
      const StatusCondition* ready = status.FindCondition("Ready");
      std::string why = ready && !ready->reason.empty() ? ready->reason + ": " : "";
      return "tether takes no action while the phase is Unknown (" + why + status.message +
             "); fix the problem above and tether resumes by itself";
    }
  }
  return "";
}

std::string ExplainDecoded(const Json& wd, const Spec& spec, const Json& dependent, TimePoint now) {
  Status status = DecodeStatus(wd.contains("status") ? wd["status"] : Json());
  std::string key = WdKey(wd);
  std::string out = fmt::format("WorkloadDependency {}  (mode {}, cascade {})\n", key,
                                ModeName(spec.mode), spec.cascade ? "on" : "off");
  out += "  Dependent:   " + DependentLine(spec, dependent, status, key) + "\n";
  if (status.phase) {
    std::string phase(PhaseName(*status.phase));
    if (auto since = PhaseSince(status)) phase += " since " + FormatWhen(*since, now);
    out += "  Phase:       " + phase + "\n";
  } else {
    out += "  Phase:       (none yet)\n";
  }
  if (!status.message.empty()) out += "  Message:     " + status.message + "\n";
  out += "  Depends on:\n";
  for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
    const Dependency& d = spec.depends_on[i];
    std::string line = "    - " + d.Ref();
    if (i < status.dependencies.size()) {
      const DependencyStatus& s = status.dependencies[i];
      line += fmt::format("  {}", DepStateName(s.state));
      if (s.since) line += " since " + FormatWhen(*s.since, now);
      if (!s.message.empty()) line += "  (" + s.message + ")";
    } else {
      line += "  (not evaluated yet)";
    }
    out += line + "\n      " + ConditionText(d) + "\n";
  }
  out += "  Next:        " + NextText(spec, status, dependent, IsPaused(wd), now) + "\n";
  return out;
}

}  // namespace

std::string FormatWhen(TimePoint t, TimePoint now) {
  std::string full = FormatRfc3339(t);
  std::string shown = full.substr(0, 10) == FormatRfc3339(now).substr(0, 10) && full.size() > 11
                          ? full.substr(11)
                          : full;
  // Rounded to the nearest second: "in 3s" for 2.6s, "now" within half a second.
  auto delta = std::chrono::round<std::chrono::seconds>(t - now);
  if (delta.count() == 0) return shown + " (now)";
  if (delta.count() > 0) return shown + " (in " + FormatDuration(delta) + ")";
  return shown + " (" + FormatDuration(-delta) + " ago)";
}

static std::string ExplainWorkloadDependencyUnchecked(const Json& wd, const Json& dependent,
                                                      TimePoint now) {
  std::string ns = wd.contains("metadata") && wd["metadata"].is_object()
                       ? wd["metadata"].value("namespace", "")
                       : "";
  auto spec = DecodeSpec(wd.contains("spec") ? wd["spec"] : Json(), ns);
  if (!spec) {
    return fmt::format(
        "WorkloadDependency {}\n  Invalid spec: tether ignores it (phase Unknown, reason "
        "InvalidSpec) until it is fixed:\n    {}\n",
        WdKey(wd), spec.error().message);
  }
  return ExplainDecoded(wd, *spec, dependent, now);
}

bool IsReferenced(std::string_view workload_key, const std::vector<Json>& workload_dependencies) {
  for (const Json& wd : workload_dependencies) {
    std::string wd_ns = wd.contains("metadata") && wd["metadata"].is_object()
                            ? wd["metadata"].value("namespace", "")
                            : "";
    auto spec = DecodeSpec(wd.contains("spec") ? wd["spec"] : Json(), wd_ns);
    if (!spec) continue;
    if (spec->dependent.Key() == workload_key) return true;
    for (const Dependency& d : spec->depends_on) {
      if (d.Ref() == workload_key) return true;
    }
  }
  return false;
}

static std::string ExplainWorkloadUnchecked(std::string_view kind, std::string_view ns,
                                            std::string_view name, const Json& workload,
                                            const std::vector<Json>& workload_dependencies,
                                            TimePoint now) {
  std::string key = fmt::format("{}/{}/{}", kind, ns, name);
  std::string out;
  if (workload.is_null()) {
    out += fmt::format("{} does not exist.\n", key);
  }
  std::vector<std::string> governing;
  std::vector<std::string> dependents;
  for (const Json& wd : workload_dependencies) {
    std::string wd_ns = wd.contains("metadata") && wd["metadata"].is_object()
                            ? wd["metadata"].value("namespace", "")
                            : "";
    auto spec = DecodeSpec(wd.contains("spec") ? wd["spec"] : Json(), wd_ns);
    if (!spec) continue;
    if (spec->dependent.Key() == key) {
      governing.push_back(ExplainDecoded(wd, *spec, workload, now));
      continue;
    }
    Status status = DecodeStatus(wd.contains("status") ? wd["status"] : Json());
    for (std::size_t i = 0; i < spec->depends_on.size(); ++i) {
      if (spec->depends_on[i].Ref() != key) continue;
      std::string line =
          fmt::format("  - {} (WorkloadDependency {}, phase {})", spec->dependent.Key(), WdKey(wd),
                      status.phase ? PhaseName(*status.phase) : "none yet");
      if (i < status.dependencies.size()) {
        line += fmt::format(": sees {} as {}", key, DepStateName(status.dependencies[i].state));
      }
      dependents.push_back(line);
    }
  }
  if (governing.empty()) {
    out += fmt::format(
        "{} is not the dependent of any WorkloadDependency: tether never scales "
        "or suspends it.\n",
        key);
    if (!workload.is_null()) {
      if (auto record = ReadDurableRecord(workload)) {
        out += fmt::format(
            "  It still carries tether's suspension record from {} (saved replicas: {}); that "
            "WorkloadDependency no longer exists or no longer points here, so restore it by hand "
            "if needed (kubectl scale) and remove the tether.dev/* annotations.\n",
            record->suspended_by,
            record->saved_replicas ? std::to_string(*record->saved_replicas) : "-");
      }
    }
  } else {
    if (governing.size() > 1) {
      out += fmt::format("{} is governed by {} WorkloadDependencies:\n", key, governing.size());
    }
    for (const auto& g : governing) out += g;
  }
  if (!dependents.empty()) {
    out += fmt::format("Workloads that depend on {}:\n", key);
    for (const auto& d : dependents) out += d + "\n";
  }
  return out;
}

std::string ExplainWorkloadDependency(const Json& wd, const Json& dependent, TimePoint now) {
  try {
    return ExplainWorkloadDependencyUnchecked(wd, dependent, now);
  } catch (const std::exception& e) {  // malformed object from the cluster
    return fmt::format("WorkloadDependency {}: cannot be explained, the object is malformed: {}\n",
                       WdKey(wd), e.what());
  }
}

std::string ExplainWorkload(std::string_view kind, std::string_view ns, std::string_view name,
                            const Json& workload, const std::vector<Json>& workload_dependencies,
                            TimePoint now) {
  try {
    return ExplainWorkloadUnchecked(kind, ns, name, workload, workload_dependencies, now);
  } catch (const std::exception& e) {
    return fmt::format("{}/{}/{}: cannot be explained, an object is malformed: {}\n", kind, ns,
                       name, e.what());
  }
}

}  // namespace tether::deps
