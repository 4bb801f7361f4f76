// Health of one dependency (SPEC §2.3, §2.6): a pure function from what the controller observed
// (the object from its cache, "not found", "cannot see", or a Prometheus answer) to a state
// (Healthy | Unhealthy | CoSuspended | NotFound | Unknown), ready/desired figures and a message.
// Also reads/writes tether's durable record (the suspension annotations on a workload).
//
// CEL is reached through the ExpressionEvaluator interface so this module does not depend on
// the CEL engine (a CEL-backed adapter lives with the controller wiring). All functions are
// stateless and thread-safe; an ExpressionEvaluator must be safe to call concurrently if it is
// shared between threads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "deps/types.h"

namespace tether::deps {

// Evaluates a boolean CEL expression with the variable `resource` bound to an object.
class ExpressionEvaluator {
 public:
  virtual ~ExpressionEvaluator() = default;
  // Returns the boolean value, or an error (compile error, runtime error, non-boolean result).
  [[nodiscard]] virtual Result<bool> EvaluateBool(std::string_view expression,
                                                  const nlohmann::json& resource) const = 0;
  // Whether the expression compiles (a spec problem when not); evaluators that cannot tell
  // accept everything.
  [[nodiscard]] virtual Result<void> Check(std::string_view /*expression*/) const { return {}; }
};

// tether's durable record on a suspended workload (§2.5), parsed from its annotations.
struct DurableRecord {
  std::string suspended_by;               // "<namespace>/<name>" of the WorkloadDependency
  std::optional<int64_t> saved_replicas;  // scale kinds
  std::optional<bool> saved_suspend;      // CronJob/Job
  std::vector<std::string> because;       // root-cause keys "Kind/namespace/name"
  std::optional<TimePoint> suspended_at;  // tether.dev/suspended-at
  friend bool operator==(const DurableRecord&, const DurableRecord&) = default;
};

// Reads the record from `object.metadata.annotations`; nullopt when the object carries no
// (parseable) record. A record needs suspended-by; malformed saved values are dropped.
std::optional<DurableRecord> ReadDurableRecord(const nlohmann::json& object);
// The annotation map (values as strings) that encodes `record`.
nlohmann::json DurableRecordAnnotations(const DurableRecord& record);
// Root causes are stored comma-separated.
std::string JoinRootCauses(const std::vector<std::string>& causes);
std::vector<std::string> SplitRootCauses(std::string_view s);

// What the controller saw for one dependency.
struct Observation {
  enum class Kind { kObject, kNotFound, kUnobservable, kPrometheusSamples, kPrometheusError };
  Kind kind = Kind::kUnobservable;
  nlohmann::json object;    // kObject
  std::size_t samples = 0;  // kPrometheusSamples
  std::string reason;       // kUnobservable / kPrometheusError: why it cannot be judged

  static Observation Object(nlohmann::json o) {
    Observation obs;
    obs.kind = Kind::kObject;
    obs.object = std::move(o);
    return obs;
  }
  static Observation NotFound() {
    Observation obs;
    obs.kind = Kind::kNotFound;
    return obs;
  }
  // Cache not synced, watch broken, RBAC denied...
  static Observation Unobservable(std::string why) {
    Observation obs;
    obs.kind = Kind::kUnobservable;
    obs.reason = std::move(why);
    return obs;
  }
  static Observation PrometheusSamples(std::size_t n) {
    Observation obs;
    obs.kind = Kind::kPrometheusSamples;
    obs.samples = n;
    return obs;
  }
  static Observation PrometheusError(std::string why) {
    Observation obs;
    obs.kind = Kind::kPrometheusError;
    obs.reason = std::move(why);
    return obs;
  }
};

// Context of the WorkloadDependency judging the dependency.
struct HealthContext {
  std::string wd_key;         // "<namespace>/<name>" of the WorkloadDependency
  std::string dependent_key;  // its dependent, "Kind/namespace/name"
  bool cascade = true;
  // Root causes in this WorkloadDependency's own record on its dependent, when the dependent is
  // currently suspended by it (used to break mutual suspensions deterministically).
  std::vector<std::string> own_root_causes;
  const ExpressionEvaluator* evaluator = nullptr;
};

enum class Verdict { kHealthy, kUnhealthy, kUnknown };

struct Health {
  DepState state = DepState::kUnknown;
  // How the state machine counts it: CoSuspended counts as healthy or unhealthy per §2.6.
  Verdict verdict = Verdict::kUnknown;
  std::optional<int64_t> ready;
  std::optional<int64_t> desired;
  std::string message;
  // For an unhealthy dependency: the root causes a suspension based on it records (the
  // dependency itself, or the root causes of a CoSuspended dependency).
  std::vector<std::string> root_causes;
  friend bool operator==(const Health&, const Health&) = default;
};

Health EvaluateHealth(const Dependency& dep, const Observation& obs, const HealthContext& ctx);

}  // namespace tether::deps
