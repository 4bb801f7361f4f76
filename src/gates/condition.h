// Gate conditions: the pure logic of tether's scheduling gates (SPEC §3) — which gates of a pod
// are tether's (configured prefixes), strict decoding of the JSON condition held in the
// annotation of the same key, compilation of its CEL expression, evaluation against the
// referenced object, the reference policy of §3.4, and the one JSON patch that removes a set of
// gates while guarding every index with a `test` op.
//
// No I/O. Thread-safety: free functions are reentrant; a compiled Condition is immutable and may
// be evaluated from any number of threads at once.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cel/cel.h"
#include "common/clock.h"
#include "common/error.h"

namespace tether::gates {

using Json = nlohmann::json;

inline constexpr std::string_view kTetherPrefix = "gate.tether.dev/";
inline constexpr std::string_view kKsgatePrefix = "k8s.ksgate.org/";
inline constexpr std::string_view kGatemanPrefix = "gateman.kdex.dev/";

// The decoded annotation (SPEC §3.1).
struct Condition {
  std::string api_version = "v1";
  std::string kind;
  std::string name;
  std::optional<std::string> ns;          // absent: the pod's namespace
  std::optional<std::string> expression;  // absent: the object merely has to exist

  friend bool operator==(const Condition&, const Condition&) = default;
};

// Strictly decodes an annotation value. Errors (kInvalid) say what is wrong and how to fix it:
// not JSON, not an object, a field of the wrong type, `kind`/`name` missing or empty, unknown
// fields (typos such as "expresion"). `namespaced` is accepted and ignored (KSGate).
Result<Condition> ParseCondition(std::string_view annotation);

// Renders a condition back to its canonical JSON (for `tether why`).
Json ConditionToJson(const Condition& c);

// Whether `gate` starts with one of `prefixes`.
bool HasConfiguredPrefix(std::string_view gate, const std::vector<std::string>& prefixes);

// Names in the pod's spec.schedulingGates, in order.
std::vector<std::string> SchedulingGates(const Json& pod);
// The subset of SchedulingGates() with a configured prefix, in order.
std::vector<std::string> OwnedGates(const Json& pod, const std::vector<std::string>& prefixes);

// Parses --gate-prefixes ("a/,b/"): every entry must be non-empty and end with '/'.
Result<std::vector<std::string>> ParsePrefixes(std::string_view flag);

// A condition with its expression compiled (null program: existence check).
struct CompiledCondition {
  Condition condition;
  std::shared_ptr<const cel::Program> program;
  [[nodiscard]] bool UsesNow() const { return program && program->UsesNow(); }
};

// Parses and compiles an annotation. CEL variables: `resource`, `this`, `pod` (alias of `this`);
// now() is available. Compile errors are kInvalid "expression: line:col: ...".
Result<std::shared_ptr<const CompiledCondition>> CompileCondition(std::string_view annotation);

// Evaluates a compiled condition. `resource` null: the object does not exist (the condition is
// then false, whatever the expression). Errors: evaluation errors, non-bool results (kInvalid),
// cost budget exceeded (kTooLarge).
Result<bool> EvaluateCondition(const CompiledCondition& c,
                               const std::shared_ptr<const Json>& resource,
                               const std::shared_ptr<const Json>& pod, TimePoint now,
                               int64_t cost_budget = 1'000'000);

// --gate-reference-policy (SPEC §3.4).
enum class ReferencePolicy { kSameNamespace, kAuthorized, kAny };
Result<ReferencePolicy> ParseReferencePolicy(std::string_view s);
std::string_view ReferencePolicyName(ReferencePolicy p);

struct PolicyDecision {
  enum class Verdict { kAllow, kDeny, kNeedsAccessReview };
  Verdict verdict = Verdict::kAllow;
  std::string reason;  // for kDeny: why, and how to fix
};

// Decides whether a pod in `pod_ns` may reference an object of `kind`/`group` in `target_ns`
// ("" = cluster-scoped) with or without an expression. Under same-namespace, Secrets may only be
// checked for existence. Under authorized, other-namespace and cluster-scoped references need a
// SubjectAccessReview (kNeedsAccessReview); Secrets with expressions still need one even in the
// same namespace.
PolicyDecision CheckReference(ReferencePolicy policy, std::string_view pod_ns,
                              std::string_view target_ns, std::string_view group,
                              std::string_view kind, bool has_expression);

// The JSON patch (RFC 6902) removing exactly `remove` from the pod's spec.schedulingGates: for
// every removed gate a `test` of its name at its index, then `remove` ops from the highest index
// down; when every gate goes, one `remove` of /spec/schedulingGates (as kube-apiserver expects).
// Returns nullopt if none of `remove` is present on the pod.
std::optional<Json> BuildRemovalPatch(const Json& pod, const std::set<std::string>& remove);

}  // namespace tether::gates
