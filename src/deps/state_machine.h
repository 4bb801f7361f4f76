// The WorkloadDependency state machine (SPEC §2.4, §2.5): a pure function
// Decide(DecideInput) -> Decision. The input is everything the controller observed (spec,
// previous status, per-dependency health, the dependent's state and durable record, pause
// annotation, cycle check, now); the output is the new status, the action on the dependent as
// ready-to-send patch bodies in order, the Events, the notification to send, and the next
// instant at which the decision can change by the passage of time alone (the controller arms
// one timer there; no polling).
//
// Durable-record first: whether the dependent is suspended by this WorkloadDependency is read
// from the annotations on the dependent, never from memory; status only supplies the window
// clocks and phase latches (Released, Observed).
//
// Pure and stateless; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "deps/health.h"
#include "deps/types.h"

namespace tether::deps {

// The dependent workload as the controller sees it.
struct DependentState {
  enum class Presence { kPresent, kNotFound, kUnobservable };
  Presence presence = Presence::kPresent;
  std::string reason;                    // kUnobservable: why
  int64_t replicas = 0;                  // scale kinds: spec.replicas (absent = 1)
  bool suspend = false;                  // CronJob/Job: spec.suspend
  bool node_selector_suspended = false;  // DaemonSet: template nodeSelector has tether's key
  std::optional<DurableRecord> record;
  bool rollout_progressing = false;  // Rollout: status.phase == Progressing
};

// Builds a DependentState from the dependent's object.
DependentState ObserveDependent(WorkloadKind kind, const nlohmann::json& object);

// One request to the API server. Steps run in order; if one fails the rest are skipped and the
// reconcile is retried (every step is idempotent, so a retry re-runs the whole list).
struct PatchStep {
  enum class Target { kObject, kScale };  // the object itself or its `scale` subresource
  enum class Type { kMerge };             // RFC 7386 merge patch
  Target target = Target::kObject;
  Type type = Type::kMerge;
  nlohmann::json body;
  friend bool operator==(const PatchStep&, const PatchStep&) = default;
};

struct Action {
  enum class Type { kNone, kSuspend, kRestore, kStrictRevert, kClearRecord };
  Type type = Type::kNone;
  WorkloadRef target;
  std::vector<PatchStep> steps;
  // kSuspend: the saved value recorded; kRestore: the value restored to.
  std::optional<int64_t> replicas;
  std::optional<bool> suspend;
  std::vector<std::string> root_causes;  // kSuspend
};

struct EventSpec {
  enum class Type { kNormal, kWarning };
  Type type = Type::kNormal;
  std::string reason;
  std::string message;
  bool on_dependent = false;  // also record it on the dependent object
  friend bool operator==(const EventSpec&, const EventSpec&) = default;
};

struct NotificationRequest {
  Phase phase = Phase::kHealthy;
  std::optional<Phase> previous_phase;
};

struct DecideInput {
  std::string wd_namespace;
  std::string wd_name;
  int64_t generation = 0;
  // The decoded spec, or the validation problems when it is invalid.
  std::optional<Spec> spec;
  std::vector<std::string> spec_problems;
  Status previous;
  std::vector<Health> health;  // one per spec->depends_on, in order
  DependentState dependent;
  bool paused = false;                    // annotation tether.dev/paused: "true"
  std::optional<std::string> cycle_path;  // set when this WorkloadDependency closes a cycle
  TimePoint now;
};

struct Decision {
  Status status;
  bool status_changed = false;  // write status only when true
  Action action;
  std::vector<EventSpec> events;
  // Send this notification; on delivery (or final failure) set status.lastNotifiedPhase to its
  // phase. At most one delivery per phase should be in flight.
  std::optional<NotificationRequest> notification;
  // Earliest future instant at which a window or maxSuspendDuration expires.
  std::optional<TimePoint> next_deadline;
  // Key of a previously managed dependent (spec.dependent changed) that must be restored with
  // Release() if it still carries this WorkloadDependency's record.
  std::optional<std::string> release_previous_dependent;
};

Decision Decide(const DecideInput& input);

// The action that leaves `dependent` restored when this WorkloadDependency (`wd_key` =
// "<namespace>/<name>") stops being responsible for it: deletion (finalizer), mode change to
// gate/observe, spec.dependent changed. kNone when the dependent carries no record of ours.
// `fallback_saved` (status.savedReplicas) is used only if the record lost its saved count.
Action Release(const WorkloadRef& dependent, const DependentState& state, std::string_view wd_key,
               std::optional<int64_t> fallback_saved = std::nullopt);

// Condition helper for gate mode (§2.5): true while the admission webhook must deny scale-ups.
bool GateBlocksScaleUp(const Spec& spec, const Status& status);

}  // namespace tether::deps
