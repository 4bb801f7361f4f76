#include "deps/state_machine.h"

#include <fmt/format.h>

#include <algorithm>

namespace tether::deps {

using nlohmann::json;

namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ---- Patch bodies ----

json RecordPatch(const DurableRecord& r) {
  return json{{"metadata", {{"annotations", DurableRecordAnnotations(r)}}}};
}

json ClearRecordAnnotations() {
  json a = json::object();
  for (auto k : {kAnnotationSuspendedBy, kAnnotationSavedReplicas, kAnnotationSavedSuspend,
                 kAnnotationSuspendedBecause, kAnnotationSuspendedAt}) {
    a[std::string(k)] = nullptr;
  }
  return a;
}

json NodeSelectorPatch(bool suspended) {
  return json{{"spec",
               {{"template",
                 {{"spec",
                   {{"nodeSelector",
                     {{std::string(kSuspendedNodeSelectorKey),
                       suspended ? json("true") : json(nullptr)}}}}}}}}}};
}

PatchStep ObjectStep(json body) {
  PatchStep step;
  step.target = PatchStep::Target::kObject;
  step.body = std::move(body);
  return step;
}
PatchStep ScaleStep(int64_t replicas) {
  PatchStep step;
  step.target = PatchStep::Target::kScale;
  step.body = json{{"spec", {{"replicas", replicas}}}};
  return step;
}

// The dependent is in the state tether leaves it in when suspended.
bool IsInSuspendedForm(WorkloadKind kind, const DependentState& d) {
  if (UsesScale(kind)) return d.replicas == 0;
  if (UsesSuspendField(kind)) return d.suspend;
  return d.node_selector_suspended;
}

std::string SuspendDescription(const WorkloadRef& ref) {
  if (UsesScale(ref.kind)) return fmt::format("scale {} to 0", ref.KindSlashName());
  return fmt::format("suspend {}", ref.KindSlashName());
}

Action MakeRestore(const WorkloadRef& target, const DependentState& state,
                   std::optional<int64_t> fallback_saved) {
  Action a;
  a.type = Action::Type::kRestore;
  a.target = target;
  const DurableRecord* r = state.record ? &*state.record : nullptr;
  json clear = json{{"metadata", {{"annotations", ClearRecordAnnotations()}}}};
  if (UsesScale(target.kind)) {
    int64_t to = 1;
    if (r && r->saved_replicas) {
      to = *r->saved_replicas;
    } else if (fallback_saved) {
      to = *fallback_saved;
    }
    a.replicas = to;
    // Scale back first, then clear the record: a crash in between leaves the record in place
    // and the next reconcile repeats the (idempotent) restore.
    a.steps.push_back(ScaleStep(to));
    a.steps.push_back(ObjectStep(std::move(clear)));
  } else if (UsesSuspendField(target.kind)) {
    bool to = r && r->saved_suspend ? *r->saved_suspend : false;
    a.suspend = to;
    clear["spec"] = {{"suspend", to}};
    a.steps.push_back(ObjectStep(std::move(clear)));
  } else {
    bool keep = r && r->saved_suspend && *r->saved_suspend;  // the user had it there already
    a.suspend = keep;
    if (!keep) clear["spec"] = NodeSelectorPatch(false)["spec"];  // a null removes the key
    a.steps.push_back(ObjectStep(std::move(clear)));
  }
  return a;
}

Action MakeSuspend(const WorkloadRef& target, const DurableRecord& record) {
  Action a;
  a.type = Action::Type::kSuspend;
  a.target = target;
  a.root_causes = record.because;
  a.replicas = record.saved_replicas;
  a.suspend = record.saved_suspend;
  if (UsesScale(target.kind)) {
    // The scale subresource cannot carry annotations: record first, then scale.
    a.steps.push_back(ObjectStep(RecordPatch(record)));
    a.steps.push_back(ScaleStep(0));
  } else if (UsesSuspendField(target.kind)) {
    json body = RecordPatch(record);
    body["spec"] = {{"suspend", true}};
    a.steps.push_back(ObjectStep(std::move(body)));  // one atomic write
  } else {
    json body = RecordPatch(record);
    body.merge_patch(NodeSelectorPatch(true));
    a.steps.push_back(ObjectStep(std::move(body)));
  }
  return a;
}

Action MakeStrictRevert(const WorkloadRef& target) {
  Action a;
  a.type = Action::Type::kStrictRevert;
  a.target = target;
  if (UsesScale(target.kind)) {
    a.replicas = 0;
    a.steps.push_back(ScaleStep(0));
  } else if (UsesSuspendField(target.kind)) {
    a.suspend = true;
    a.steps.push_back(ObjectStep(json{{"spec", {{"suspend", true}}}}));
  } else {
    a.suspend = true;
    a.steps.push_back(ObjectStep(NodeSelectorPatch(true)));
  }
  return a;
}

Action MakeClearRecord(const WorkloadRef& target) {
  Action a;
  a.type = Action::Type::kClearRecord;
  a.target = target;
  a.steps.push_back(ObjectStep(json{{"metadata", {{"annotations", ClearRecordAnnotations()}}}}));
  return a;
}

Health NotEvaluated() {
  Health h;
  h.message = "not yet evaluated";
  return h;
}

// ---- Per-dependency clocks ----

const DependencyStatus* FindPrevious(const Status& prev, std::size_t index,
                                     const std::string& ref) {
  if (index < prev.dependencies.size() && prev.dependencies[index].ref == ref) {
    return &prev.dependencies[index];
  }
  for (const auto& d : prev.dependencies) {
    if (d.ref == ref) return &d;
  }
  return nullptr;
}

DependencyStatus NextEntry(const Dependency& dep, const Health& h, const DependencyStatus* p,
                           TimePoint now) {
  DependencyStatus e;
  e.ref = dep.Ref();
  e.state = h.state;
  e.ready = h.ready;
  e.desired = h.desired;
  e.message = h.message;
  e.since = (p && p->state == h.state && p->since) ? p->since : std::optional<TimePoint>(now);
  if (h.verdict == Verdict::kUnknown) {
    // Frozen: keep the clock as it was; `since` marks when the freeze began.
    if (p) {
      e.healthy_since = p->healthy_since;
      e.unhealthy_since = p->unhealthy_since;
    }
    return e;
  }
  bool healthy = h.verdict == Verdict::kHealthy;
  std::optional<TimePoint> prev_clock;
  if (p) prev_clock = healthy ? p->healthy_since : p->unhealthy_since;
  std::optional<TimePoint> clock;
  if (prev_clock) {
    clock = *prev_clock;
    // Leaving a frozen period: the clock resumes where it stopped.
    if (p->state == DepState::kUnknown && p->since && *p->since <= now) {
      *clock += now - *p->since;
    }
  } else {
    clock = now;
  }
  (healthy ? e.healthy_since : e.unhealthy_since) = clock;
  return e;
}

// ---- Conditions ----

// Builds the conditions list; lastTransitionTime only moves when a condition's status flips.
class Conditions {
 public:
  Conditions(const Status& prev, int64_t generation, TimePoint now)
      : prev_(prev), generation_(generation), now_(now) {}

  void Set(std::string type, std::string status, std::string reason, std::string message) {
    StatusCondition c;
    c.type = std::move(type);
    c.status = std::move(status);
    c.reason = std::move(reason);
    c.message = std::move(message);
    c.observed_generation = generation_;
    const StatusCondition* old = prev_.FindCondition(c.type);
    c.last_transition_time = old && old->status == c.status && old->last_transition_time
                                 ? old->last_transition_time
                                 : std::optional(now_);
    out_.push_back(std::move(c));
  }
  std::vector<StatusCondition> Take() { return std::move(out_); }

 private:
  const Status& prev_;
  int64_t generation_;
  TimePoint now_;
  std::vector<StatusCondition> out_;
};

std::string ReadyReason(Phase phase, Mode mode) {
  switch (phase) {
    case Phase::kHealthy:
      return "AllDependenciesHealthy";
    case Phase::kDegraded:
      return mode == Mode::kGate ? "ScaleUpBlocked" : "DependencyUnhealthy";
    case Phase::kSuspended:
      return "DependentSuspended";
    case Phase::kReleased:
      return "Released";
    case Phase::kObserved:
      return "WouldSuspend";
    case Phase::kPaused:
      return "Paused";
    case Phase::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

std::string ReadyStatus(Phase phase) {
  if (phase == Phase::kHealthy) return "True";
  if (phase == Phase::kPaused || phase == Phase::kUnknown) return "Unknown";
  return "False";
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// ---- The decision ----

class Decider {
 public:
  explicit Decider(const DecideInput& in) : in_(in), prev_(in.previous) {
    wd_key_ = in.wd_namespace + "/" + in.wd_name;
  }

  Decision Run() {
    out_.status.observed_generation = in_.generation;
    out_.status.last_notified_phase = prev_.last_notified_phase;
    out_.status.dependent_ref = prev_.dependent_ref;
    Conditions conds(prev_, in_.generation, in_.now);

    if (!in_.spec) {
      std::string problems = Join(in_.spec_problems, "; ");
      if (problems.empty()) problems = "the spec could not be decoded";
      SetPhase(Phase::kUnknown, "invalid spec: " + problems);
      conds.Set("Ready", "False", "InvalidSpec", out_.status.message);  // SPEC §2.1
      conds.Set("InvalidSpec", "True", "InvalidSpec", problems);
      if (!PrevReadyReasonIs("InvalidSpec") || prev_.message != out_.status.message) {
        Event(EventSpec::Type::kWarning, "InvalidSpec", out_.status.message);
      }
      return Finish(conds);
    }
    const Spec& spec = *in_.spec;
    dependent_ = spec.dependent;
    out_.status.dependent_ref = dependent_.Key();
    if (!prev_.dependent_ref.empty() && prev_.dependent_ref != dependent_.Key()) {
      out_.release_previous_dependent = prev_.dependent_ref;
    }
    ours_ = in_.dependent.presence == DependentState::Presence::kPresent && in_.dependent.record &&
            in_.dependent.record->suspended_by == wd_key_;
    ComputeDependencies(spec);
    // Carry the durable record's saved count into the status mirror.
    if (ours_) out_.status.saved_replicas = in_.dependent.record->saved_replicas;

    if (in_.paused) {
      Carry();
      SetPhase(Phase::kPaused, "paused by annotation tether.dev/paused: no action is taken");
      conds.Set("Ready", "Unknown", "Paused", out_.status.message);
      SetCommonConditions(conds, spec);
      conds.Set("Paused", "True", "PausedByAnnotation",
                "remove the tether.dev/paused annotation to resume");
      ComputeNotification(spec);
      return Finish(conds);
    }
    if (in_.cycle_path) {
      Carry();
      SetPhase(Phase::kUnknown, "dependency cycle: " + *in_.cycle_path);
      conds.Set("Ready", "Unknown", "CycleDetected", out_.status.message);
      SetCommonConditions(conds, spec);
      conds.Set("CycleDetected", "True", "CycleDetected", *in_.cycle_path);
      ComputeNotification(spec);
      if (!PrevReadyReasonIs("CycleDetected")) {
        Event(EventSpec::Type::kWarning, "CycleDetected",
              "this WorkloadDependency closes a dependency cycle: " + *in_.cycle_path +
                  "; remove one of the dependencies");
      }
      return Finish(conds);
    }
    if (in_.dependent.presence != DependentState::Presence::kPresent) {
      bool missing = in_.dependent.presence == DependentState::Presence::kNotFound;
      if (!missing) Carry();
      SetPhase(Phase::kUnknown, missing ? fmt::format("dependent {} not found", dependent_.Key())
                                        : fmt::format("cannot observe dependent {}: {}",
                                                      dependent_.Key(), in_.dependent.reason));
      conds.Set("Ready", "Unknown", missing ? "DependentNotFound" : "DependentUnobservable",
                out_.status.message);
      SetCommonConditions(conds, spec);
      ComputeNotification(spec);
      return Finish(conds);
    }

    if ((spec.mode == Mode::kGate || spec.mode == Mode::kObserve) && ours_) {
      // Mode changed away from strict/soft while suspended: tether stops being responsible.
      out_.action = Release(dependent_, in_.dependent, wd_key_, prev_.saved_replicas);
      Event(EventSpec::Type::kNormal, "Restored",
            fmt::format("restored {} ({}): mode is now {}", dependent_.KindSlashName(),
                        RestoredTo(out_.action), ModeName(spec.mode)),
            true);
      ours_ = false;
      out_.status.saved_replicas.reset();
    }

    if (spec.mode == Mode::kGate) {
      DecideGate(spec);
    } else {
      DecideSuspending(spec);
    }
    Phase phase = *out_.status.phase;
    conds.Set("Ready", ReadyStatus(phase), ReadyReason(phase, spec.mode), out_.status.message);
    SetCommonConditions(conds, spec);
    ComputeDeadline(spec);
    ComputeNotification(spec);
    return Finish(conds);
  }

 private:
  void SetPhase(Phase p, std::string message) {
    out_.status.phase = p;
    out_.status.message = std::move(message);
  }

  bool PrevReadyReasonIs(std::string_view reason) const {
    const StatusCondition* c = prev_.FindCondition("Ready");
    return c && c->reason == reason;
  }

  void Event(EventSpec::Type type, std::string reason, std::string message,
             bool on_dependent = false) {
    out_.events.push_back({.type = type,
                           .reason = std::move(reason),
                           .message = std::move(message),
                           .on_dependent = on_dependent});
  }

  // Keep the previous episode timestamps (phases that freeze the machine).
  void Carry() {
    out_.status.degraded_since = prev_.degraded_since;
    out_.status.suspended_at = prev_.suspended_at;
    out_.status.healthy_since = prev_.healthy_since;
    if (!out_.status.saved_replicas) out_.status.saved_replicas = prev_.saved_replicas;
  }

  void ComputeDependencies(const Spec& spec) {
    for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
      const Dependency& dep = spec.depends_on[i];
      Health h = i < in_.health.size() ? in_.health[i] : NotEvaluated();
      DependencyStatus e = NextEntry(dep, h, FindPrevious(prev_, i, dep.Ref()), in_.now);
      bool unhealthy = h.verdict == Verdict::kUnhealthy;
      std::string line = fmt::format("dependency {} {}: {}", dep.ShortRef(),
                                     unhealthy                        ? "not healthy"
                                     : h.verdict == Verdict::kUnknown ? "unknown"
                                                                      : "healthy",
                                     h.message);
      if (unhealthy) {
        unhealthy_.push_back(line);
        if (e.unhealthy_since && in_.now - *e.unhealthy_since >= dep.condition.window) {
          degraded_.push_back(i);
          for (const auto& c : h.root_causes) {
            if (!Contains(root_causes_, c)) root_causes_.push_back(c);
          }
        }
      } else if (h.verdict == Verdict::kUnknown) {
        unknown_.push_back(line);
      } else {
        if (!e.healthy_since || in_.now - *e.healthy_since < dep.condition.recovery_window) {
          all_recovered_ = false;
        }
        if (e.healthy_since && (!all_healthy_since_ || *e.healthy_since > *all_healthy_since_)) {
          all_healthy_since_ = e.healthy_since;
        }
      }
      out_.status.dependencies.push_back(std::move(e));
    }
    all_healthy_ = unhealthy_.empty() && unknown_.empty();
    if (!all_healthy_) {
      all_recovered_ = false;
      all_healthy_since_.reset();
    }
  }

  std::string ProblemSummary() const {
    if (!unhealthy_.empty()) return Join(unhealthy_, "; ");
    return Join(unknown_, "; ");
  }

  std::string RestoredTo(const Action& a) const {
    if (a.replicas) return fmt::format("{} replicas", *a.replicas);
    if (a.suspend) return fmt::format("suspend: {}", *a.suspend ? "true" : "false");
    return "record cleared";
  }

  void DecideGate(const Spec& spec) {
    if (!unhealthy_.empty()) {
      out_.status.degraded_since = prev_.phase == Phase::kDegraded && prev_.degraded_since
                                       ? prev_.degraded_since
                                       : std::optional(in_.now);
      SetPhase(Phase::kDegraded, fmt::format("scale-ups of {} are blocked: {}",
                                             dependent_.KindSlashName(), ProblemSummary()));
      if (prev_.phase != Phase::kDegraded) {
        Event(EventSpec::Type::kWarning, "Degraded", out_.status.message);
      }
      return;
    }
    if (!unknown_.empty() && prev_.phase == Phase::kDegraded) {
      out_.status.degraded_since = prev_.degraded_since;
      SetPhase(Phase::kDegraded, fmt::format("scale-ups of {} stay blocked: {}",
                                             dependent_.KindSlashName(), ProblemSummary()));
      return;
    }
    out_.status.healthy_since = all_healthy_since_;
    SetPhase(Phase::kHealthy, unknown_.empty() ? "all dependencies healthy" : ProblemSummary());
  }

  void DecideSuspending(const Spec& spec) {
    const bool observe = spec.mode == Mode::kObserve;
    const Phase suspended_phase = observe ? Phase::kObserved : Phase::kSuspended;
    const bool suspended = observe ? prev_.phase == Phase::kObserved : ours_;
    out_.status.healthy_since = all_healthy_since_;

    if (ours_ && prev_.phase == Phase::kReleased) {
      // A release that did not complete: finish it.
      out_.action = MakeRestore(dependent_, in_.dependent, prev_.saved_replicas);
      out_.status.degraded_since = prev_.degraded_since;
      SetPhase(Phase::kReleased, prev_.message);
      return;
    }

    if (suspended) {
      std::optional<TimePoint> since = prev_.suspended_at;
      if (!observe && in_.dependent.record->suspended_at) {
        since = in_.dependent.record->suspended_at;
      }
      if (!since) since = in_.now;
      out_.status.suspended_at = since;
      out_.status.degraded_since = prev_.degraded_since ? prev_.degraded_since : since;

      if (spec.max_suspend_duration && in_.now >= *since + *spec.max_suspend_duration) {
        std::string msg = fmt::format(
            "released after maxSuspendDuration {}: {} restored; it will not be suspended again "
            "until the dependencies recover",
            FormatDuration(*spec.max_suspend_duration), dependent_.KindSlashName());
        if (observe) {
          msg = fmt::format("would release after maxSuspendDuration {} and restore {}",
                            FormatDuration(*spec.max_suspend_duration), dependent_.KindSlashName());
          Event(EventSpec::Type::kNormal, "WouldRestore", msg);
        } else {
          out_.action = MakeRestore(dependent_, in_.dependent, prev_.saved_replicas);
          Event(EventSpec::Type::kWarning, "Released", msg + " (" + RestoredTo(out_.action) + ")",
                true);
        }
        out_.status.suspended_at.reset();
        SetPhase(Phase::kReleased, msg);
        return;
      }

      if (all_recovered_) {
        out_.status.suspended_at.reset();
        out_.status.degraded_since.reset();
        out_.status.saved_replicas.reset();
        if (observe) {
          SetPhase(Phase::kHealthy, "all dependencies recovered");
          Event(EventSpec::Type::kNormal, "WouldRestore",
                fmt::format("would restore {}: all dependencies recovered",
                            dependent_.KindSlashName()));
          return;
        }
        bool as_left = IsInSuspendedForm(dependent_.kind, in_.dependent);
        if (spec.mode == Mode::kSoft && !as_left) {
          out_.action = MakeClearRecord(dependent_);
          SetPhase(Phase::kHealthy, fmt::format("all dependencies recovered; {} was changed "
                                                "manually while suspended and is left as set",
                                                dependent_.KindSlashName()));
          Event(EventSpec::Type::kNormal, "Restored", out_.status.message, true);
          return;
        }
        out_.action = MakeRestore(dependent_, in_.dependent, prev_.saved_replicas);
        SetPhase(Phase::kHealthy, "all dependencies recovered");
        Event(EventSpec::Type::kNormal, "Restored",
              fmt::format("restored {} ({}): all dependencies recovered",
                          dependent_.KindSlashName(), RestoredTo(out_.action)),
              true);
        return;
      }

      std::string msg =
          observe ? fmt::format("would {}: {}", SuspendDescription(dependent_), ProblemSummary())
                  : ProblemSummary();
      if (all_healthy_) {
        msg = fmt::format("all dependencies healthy; {} at {} unless one relapses",
                          observe ? "would restore" : "restoring", RecoveryDeadlineText(spec));
      }
      if (!observe) {
        bool as_left = IsInSuspendedForm(dependent_.kind, in_.dependent);
        if (!as_left && spec.mode == Mode::kStrict) {
          out_.action = MakeStrictRevert(dependent_);
          Event(EventSpec::Type::kWarning, "StrictEnforced",
                fmt::format("{} was changed while suspended (strict mode): reverted; the saved "
                            "value is kept",
                            dependent_.KindSlashName()),
                true);
        } else if (!as_left) {
          msg += fmt::format("; {} was changed manually and is left as set (soft mode)",
                             dependent_.KindSlashName());
        }
      }
      SetPhase(suspended_phase, msg);
      return;
    }

    if (prev_.phase == Phase::kReleased) {
      if (all_recovered_) {
        SetPhase(Phase::kHealthy, "all dependencies recovered");
        return;
      }
      out_.status.degraded_since = prev_.degraded_since;
      SetPhase(Phase::kReleased,
               fmt::format("released: not suspending again until the dependencies recover; {}",
                           all_healthy_ ? "all dependencies healthy, recovering at " +
                                              RecoveryDeadlineText(spec)
                                        : ProblemSummary()));
      return;
    }

    const bool continuing = prev_.phase == Phase::kDegraded || prev_.phase == Phase::kSuspended ||
                            prev_.phase == Phase::kObserved;
    if (!degraded_.empty()) {
      out_.status.degraded_since =
          continuing && prev_.degraded_since ? prev_.degraded_since : std::optional(in_.now);
      const auto& rec = in_.dependent.record;
      if (!observe && rec && rec->suspended_by != wd_key_) {
        SetPhase(Phase::kDegraded,
                 fmt::format("{}; {} is already suspended by {}", ProblemSummary(),
                             dependent_.KindSlashName(), rec->suspended_by));
        EnteringDegradedEvent();
        return;
      }
      if (dependent_.kind == WorkloadKind::kRollout && in_.dependent.rollout_progressing) {
        SetPhase(Phase::kDegraded,
                 fmt::format("{}; suspension deferred while Rollout/{} is Progressing",
                             ProblemSummary(), dependent_.name));
        EnteringDegradedEvent();
        return;
      }
      out_.status.suspended_at = in_.now;
      if (observe) {
        std::string msg =
            fmt::format("would {}: {}", SuspendDescription(dependent_), ProblemSummary());
        SetPhase(Phase::kObserved, msg);
        Event(EventSpec::Type::kNormal, "WouldSuspend", msg);
        return;
      }
      DurableRecord record;
      record.suspended_by = wd_key_;
      record.because = root_causes_;
      record.suspended_at = in_.now;
      if (UsesScale(dependent_.kind)) {
        int64_t saved = in_.dependent.replicas;
        // Record lost by hand while tether kept it at zero: the status mirror still knows.
        if (saved == 0 && prev_.phase == Phase::kSuspended && prev_.saved_replicas) {
          saved = *prev_.saved_replicas;
        }
        record.saved_replicas = saved;
      } else if (UsesSuspendField(dependent_.kind)) {
        record.saved_suspend = in_.dependent.suspend;
      } else {
        record.saved_suspend = in_.dependent.node_selector_suspended;
      }
      out_.action = MakeSuspend(dependent_, record);
      out_.status.saved_replicas = record.saved_replicas;
      std::string msg = ProblemSummary();
      SetPhase(Phase::kSuspended, msg);
      std::string what = UsesScale(dependent_.kind)
                             ? fmt::format("scaled {} to 0 (saved {} replicas)",
                                           dependent_.KindSlashName(), *record.saved_replicas)
                             : fmt::format("suspended {}", dependent_.KindSlashName());
      Event(EventSpec::Type::kWarning, UsesScale(dependent_.kind) ? "ScaledToZero" : "Suspended",
            fmt::format("{}: {}", what, msg), true);
      return;
    }

    if (!unhealthy_.empty() || (!unknown_.empty() && prev_.phase == Phase::kDegraded)) {
      out_.status.degraded_since =
          continuing && prev_.degraded_since ? prev_.degraded_since : std::optional(in_.now);
      SetPhase(Phase::kDegraded, ProblemSummary());
      EnteringDegradedEvent();
      return;
    }
    SetPhase(Phase::kHealthy, unknown_.empty() ? "all dependencies healthy" : ProblemSummary());
  }

  void EnteringDegradedEvent() {
    if (prev_.phase != Phase::kDegraded) {
      Event(EventSpec::Type::kWarning, "Degraded", out_.status.message);
    }
  }

  std::string RecoveryDeadlineText(const Spec& spec) const {
    std::optional<TimePoint> latest;
    for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
      const auto& e = out_.status.dependencies[i];
      if (!e.healthy_since) continue;
      TimePoint t = *e.healthy_since + spec.depends_on[i].condition.recovery_window;
      if (!latest || t > *latest) latest = t;
    }
    return latest ? FormatRfc3339(*latest) : "unknown";
  }

  void SetCommonConditions(Conditions& conds, const Spec& spec) {
    if (unhealthy_.empty()) {
      conds.Set("Degraded", "False", "NoUnhealthyDependency", "");
    } else {
      conds.Set("Degraded", "True", "DependencyUnhealthy", Join(unhealthy_, "; "));
    }
    bool suspended_after = (ours_ && out_.action.type != Action::Type::kRestore &&
                            out_.action.type != Action::Type::kClearRecord) ||
                           out_.action.type == Action::Type::kSuspend;
    if (suspended_after) {
      conds.Set(
          "Suspended", "True", UsesScale(dependent_.kind) ? "ScaledToZero" : "Suspended",
          fmt::format("{} is suspended by this WorkloadDependency", dependent_.KindSlashName()));
    } else {
      conds.Set("Suspended", "False", "NotSuspended", "");
    }
  }

  void ComputeDeadline(const Spec& spec) {
    Phase phase = *out_.status.phase;
    std::optional<TimePoint> best;
    auto consider = [&](TimePoint t) {
      if (t > in_.now && (!best || t < *best)) best = t;
    };
    bool suspended_like = phase == Phase::kSuspended || phase == Phase::kObserved;
    bool can_suspend = spec.mode != Mode::kGate && !suspended_like && phase != Phase::kReleased;
    bool waits_recovery = suspended_like || phase == Phase::kReleased;
    for (std::size_t i = 0; i < spec.depends_on.size(); ++i) {
      const auto& e = out_.status.dependencies[i];
      const auto& c = spec.depends_on[i].condition;
      if (e.state == DepState::kUnknown) continue;  // frozen
      if (can_suspend && e.unhealthy_since) consider(*e.unhealthy_since + c.window);
      if (waits_recovery && e.healthy_since) consider(*e.healthy_since + c.recovery_window);
    }
    if (suspended_like && spec.max_suspend_duration && out_.status.suspended_at) {
      consider(*out_.status.suspended_at + *spec.max_suspend_duration);
    }
    out_.next_deadline = best;
  }

  void ComputeNotification(const Spec& spec) {
    if (!spec.notify) return;
    Phase phase = *out_.status.phase;
    if (!prev_.last_notified_phase) {
      // First status with notifications configured: the starting phase is not news.
      out_.status.last_notified_phase = phase;
      return;
    }
    if (phase == *prev_.last_notified_phase) return;
    const auto& on = spec.notify->on_phases;
    if (std::find(on.begin(), on.end(), phase) == on.end()) return;
    NotificationRequest n;
    n.phase = phase;
    n.previous_phase =
        prev_.phase && *prev_.phase != phase ? prev_.phase : prev_.last_notified_phase;
    out_.notification = n;
  }

  Decision Finish(Conditions& conds) {
    out_.status.conditions = conds.Take();
    out_.status_changed = !(out_.status == prev_);
    return std::move(out_);
  }

  const DecideInput& in_;
  const Status& prev_;
  std::string wd_key_;
  WorkloadRef dependent_;
  bool ours_ = false;
  Decision out_;
  std::vector<std::string> unhealthy_;  // one line per unhealthy dependency
  std::vector<std::string> unknown_;
  std::vector<std::size_t> degraded_;  // indexes past their window
  std::vector<std::string> root_causes_;
  bool all_healthy_ = false;
  bool all_recovered_ = true;
  std::optional<TimePoint> all_healthy_since_;
};

}  // namespace

DependentState ObserveDependent(WorkloadKind kind, const json& object) {
  DependentState d;
  d.record = ReadDurableRecord(object);
  const json* spec = object.contains("spec") ? &object["spec"] : nullptr;
  if (UsesScale(kind)) {
    d.replicas = 1;
    if (spec && spec->contains("replicas") && (*spec)["replicas"].is_number_integer()) {
      d.replicas = (*spec)["replicas"].get<int64_t>();
    }
  }
  if (UsesSuspendField(kind) && spec && spec->contains("suspend") &&
      (*spec)["suspend"].is_boolean()) {
    d.suspend = (*spec)["suspend"].get<bool>();
  }
  if (kind == WorkloadKind::kDaemonSet) {
    auto p = json::json_pointer("/spec/template/spec/nodeSelector/" +
                                std::string("tether.dev~1suspended"));
    d.node_selector_suspended = object.contains(p) && object[p] == "true";
  }
  if (kind == WorkloadKind::kRollout) {
    auto p = json::json_pointer("/status/phase");
    d.rollout_progressing = object.contains(p) && object[p] == "Progressing";
  }
  return d;
}

Action Release(const WorkloadRef& dependent, const DependentState& state, std::string_view wd_key,
               std::optional<int64_t> fallback_saved) {
  if (state.presence != DependentState::Presence::kPresent || !state.record ||
      state.record->suspended_by != wd_key) {
    return {};
  }
  return MakeRestore(dependent, state, fallback_saved);
}

bool GateBlocksScaleUp(const Spec& spec, const Status& status) {
  return spec.mode == Mode::kGate && status.phase == Phase::kDegraded;
}

Decision Decide(const DecideInput& input) { return Decider(input).Run(); }

}  // namespace tether::deps
