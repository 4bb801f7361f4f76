// WorkloadDependency model (SPEC §2.1/§2.2): the spec and status as C++ value types, the single
// source of truth for enums/patterns/bounds/defaults (shared by the decoder, the validator and the
// CRD generator in crd.h), decoding of the spec from object JSON with full validation, and
// status JSON encoding/decoding.
//
// Everything here is pure (no I/O). Value types; thread-compatible. The functions are stateless
// and safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace tether::deps {

// ---- Schema constants: the one source of truth used by types.cc and crd.cc. ----
namespace schema {
inline constexpr std::string_view kGroup = "tether.dev";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "tether.dev/v1alpha1";
inline constexpr std::string_view kKind = "WorkloadDependency";
inline constexpr std::string_view kPlural = "workloaddependencies";
inline constexpr std::string_view kSingular = "workloaddependency";
inline constexpr std::string_view kShortName = "wd";

inline constexpr std::array<std::string_view, 7> kDependentKinds = {
    "Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "CronJob", "Job", "Rollout"};
// Kinds that may be referenced in dependsOn without an expression (built-in readiness, §2.3).
inline constexpr std::array<std::string_view, 5> kWorkloadDependencyKinds = {
    "Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Rollout"};
inline constexpr std::array<std::string_view, 4> kModes = {"strict", "soft", "gate", "observe"};
inline constexpr std::array<std::string_view, 7> kPhases = {
    "Healthy", "Degraded", "Suspended", "Released", "Paused", "Observed", "Unknown"};
inline constexpr std::array<std::string_view, 5> kDependencyStates = {
    "Healthy", "Unhealthy", "CoSuspended", "NotFound", "Unknown"};
inline constexpr std::array<std::string_view, 2> kNotifyFormats = {"json", "slack"};
inline constexpr std::array<std::string_view, 1> kActions = {"ScaleToZero"};
inline constexpr std::array<std::string_view, 3> kDefaultOnPhases = {"Suspended", "Healthy",
                                                                     "Released"};
inline constexpr std::string_view kDurationPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";
inline constexpr std::string_view kUrlPattern = "^https?://.+";
inline constexpr int kMinDependsOn = 1;
inline constexpr int kMaxDependsOn = 32;
inline constexpr int kDefaultMinReadyPercent = 100;
inline constexpr std::string_view kDefaultWindow = "30s";
inline constexpr std::string_view kDefaultRecoveryWindow = "60s";
inline constexpr std::string_view kDefaultMode = "strict";
inline constexpr std::string_view kDefaultSecretKey = "url";
inline constexpr std::string_view kDefaultFormat = "json";
inline constexpr std::string_view kDefaultAction = "ScaleToZero";
// apiVersion a workload dependency may carry without becoming an object reference.
std::string_view CanonicalApiVersion(std::string_view workload_kind);
}  // namespace schema

// Annotations of the durable record (§2.5) and of the WorkloadDependency itself.
inline constexpr std::string_view kAnnotationSuspendedBy = "tether.dev/suspended-by";
inline constexpr std::string_view kAnnotationSavedReplicas = "tether.dev/saved-replicas";
inline constexpr std::string_view kAnnotationSavedSuspend = "tether.dev/saved-suspend";
inline constexpr std::string_view kAnnotationSuspendedBecause = "tether.dev/suspended-because";
inline constexpr std::string_view kAnnotationSuspendedAt = "tether.dev/suspended-at";
inline constexpr std::string_view kAnnotationPaused = "tether.dev/paused";
inline constexpr std::string_view kSuspendedNodeSelectorKey = "tether.dev/suspended";

enum class WorkloadKind {
  kDeployment,
  kStatefulSet,
  kReplicaSet,
  kDaemonSet,
  kCronJob,
  kJob,
  kRollout
};
enum class Mode { kStrict, kSoft, kGate, kObserve };
enum class Phase { kHealthy, kDegraded, kSuspended, kReleased, kPaused, kObserved, kUnknown };
enum class DepState { kHealthy, kUnhealthy, kCoSuspended, kNotFound, kUnknown };
enum class NotifyFormat { kJson, kSlack };

std::string_view KindName(WorkloadKind k);
std::optional<WorkloadKind> ParseWorkloadKind(std::string_view s);
std::string_view ModeName(Mode m);
std::optional<Mode> ParseMode(std::string_view s);
std::string_view PhaseName(Phase p);
std::optional<Phase> ParsePhase(std::string_view s);
std::string_view DepStateName(DepState s);
std::optional<DepState> ParseDepState(std::string_view s);

// True for kinds suspended by scaling replicas to 0 through the scale subresource.
bool UsesScale(WorkloadKind k);
// True for CronJob/Job (suspended through spec.suspend).
bool UsesSuspendField(WorkloadKind k);

// A workload identity: (kind, namespace, name). Key() is "Kind/namespace/name".
struct WorkloadRef {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string namespace_;
  std::string name;

  [[nodiscard]] std::string Key() const;
  [[nodiscard]] std::string KindSlashName() const;  // "Deployment/payments-service"
  friend bool operator==(const WorkloadRef&, const WorkloadRef&) = default;
};

struct DependencyCondition {
  int min_ready_percent = schema::kDefaultMinReadyPercent;  // 0 = exists
  Duration window = std::chrono::seconds(30);
  Duration recovery_window = std::chrono::seconds(60);
  std::string expression;  // CEL over `resource`; only for object references
};

// One dependsOn entry: exactly one of a workload ref, an object ref or a Prometheus query.
struct Dependency {
  enum class Type { kWorkload, kObject, kPrometheus };
  Type type = Type::kWorkload;
  std::string api_version;  // object refs (and optionally workload refs)
  std::string kind;         // workload/object refs
  std::string name;
  std::string namespace_;  // defaulted to the WorkloadDependency's namespace
  DependencyCondition condition;
  std::string prometheus_query;

  // The workload kind, for Type::kWorkload.
  [[nodiscard]] std::optional<WorkloadKind> Workload() const;
  // "Deployment/production/postgresql", or "prometheus: <query>" for queries.
  [[nodiscard]] std::string Ref() const;
  // "Deployment/postgresql" for messages.
  [[nodiscard]] std::string ShortRef() const;
};

struct SecretKeyRef {
  std::string name;
  std::string key;
};

struct NotifySpec {
  std::string webhook;
  std::optional<SecretKeyRef> webhook_secret_ref;
  NotifyFormat format = NotifyFormat::kJson;
  std::optional<SecretKeyRef> signing_secret_ref;
  std::vector<Phase> on_phases = {Phase::kSuspended, Phase::kHealthy, Phase::kReleased};
};

struct Spec {
  WorkloadRef dependent;
  std::vector<Dependency> depends_on;
  std::string on_degraded_action = std::string(schema::kDefaultAction);
  std::optional<Duration> max_suspend_duration;
  Mode mode = Mode::kStrict;
  bool cascade = true;
  std::optional<NotifySpec> notify;
};

// Parses and validates `spec` (the object's .spec) with defaults applied. `wd_namespace` is the
// WorkloadDependency's namespace (the default for every namespace field). On failure the Error
// (code kInvalid) lists every problem, one per line in its message, each naming the field path,
// the problem and the fix; ValidateSpec returns them individually.
Result<Spec> DecodeSpec(const nlohmann::json& spec, std::string_view wd_namespace);
std::vector<std::string> ValidateSpec(const nlohmann::json& spec, std::string_view wd_namespace);

// True if s matches schema::kDurationPattern (and is thus accepted by ParseDuration).
bool IsValidDuration(std::string_view s);

// ---- Status (§2.2) ----

struct DependencyStatus {
  std::string ref;
  DepState state = DepState::kUnknown;
  std::optional<int64_t> ready;
  std::optional<int64_t> desired;
  std::optional<TimePoint> since;  // when the entry last changed state
  std::string message;
  // Window clocks (tether extension, needed to resume after a restart): the start of the
  // current continuous healthy (resp. unhealthy) run, shifted forward over periods in which the
  // entry was Unknown (Unknown freezes the clocks). At most one is set.
  std::optional<TimePoint> healthy_since;
  std::optional<TimePoint> unhealthy_since;
  friend bool operator==(const DependencyStatus&, const DependencyStatus&) = default;
};

struct StatusCondition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::optional<TimePoint> last_transition_time;
  int64_t observed_generation = 0;
  friend bool operator==(const StatusCondition&, const StatusCondition&) = default;
};

struct Status {
  int64_t observed_generation = 0;
  std::optional<Phase> phase;
  std::string message;
  std::optional<int64_t> saved_replicas;
  std::optional<TimePoint> degraded_since;
  std::optional<TimePoint> suspended_at;
  std::optional<TimePoint> healthy_since;
  std::vector<DependencyStatus> dependencies;
  std::vector<StatusCondition> conditions;
  std::optional<Phase> last_notified_phase;
  // Key of the workload this status is about ("Kind/ns/name"); lets the controller notice a
  // changed spec.dependent and restore the previous one (tether extension).
  std::string dependent_ref;
  friend bool operator==(const Status&, const Status&) = default;

  [[nodiscard]] const StatusCondition* FindCondition(std::string_view type) const;
};

// Encodes only the fields that are set; times as RFC 3339.
nlohmann::json EncodeStatus(const Status& status);
// Lenient decoding of a previously written status: unknown or malformed fields are ignored
// (a bad status must never block reconciliation; the durable record is the source of truth).
Status DecodeStatus(const nlohmann::json& status);

}  // namespace tether::deps
