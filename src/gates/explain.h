// Explanations for `tether why pod/<name>`: for every remaining tether gate of a pod, its
// condition, the referenced object's current state, the current result or error, and what would
// open it. ExplainGates is pure (object lookups go through a callback); ExplainPod does the I/O
// (GET the pod, discovery, GET each referenced object).
//
// Thread-safety: reentrant free functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "gates/condition.h"
#include "kube/client.h"

namespace tether::gates {

struct ExplainOptions {
  std::vector<std::string> prefixes = {std::string(kTetherPrefix)};
  ReferencePolicy policy = ReferencePolicy::kSameNamespace;
  TimePoint now{};  // value of now(); ExplainPod uses the real clock when left at epoch
};

// The referenced object as looked up: `resource` names the REST resource ("deployments.apps"),
// `namespaced` its scope, `object` null when the object does not exist.
struct LookedUp {
  std::string resource;
  bool namespaced = true;
  std::shared_ptr<const Json> object;
};
// Resolves the condition's kind (discovery) and reads the object in `ns` ("" when the kind is
// cluster-scoped: the callback decides by discovery, and reports the scope in LookedUp).
using ObjectLookup = std::function<Result<LookedUp>(const Condition& c, const std::string& ns)>;

struct GateExplanation {
  std::string gate;
  std::string condition;  // the annotation as written (or "<missing>")
  std::string object;     // "deployments.apps default/db: exists" / ": not found"
  std::string result;     // "open", "waiting", or "error: ..."
  std::string to_open;    // what would open the gate
};

std::vector<GateExplanation> ExplainGates(const Json& pod, const ObjectLookup& lookup,
                                          const ExplainOptions& options);
// Human-readable rendering, one block per gate.
std::string RenderExplanations(const std::string& pod_key,
                               const std::vector<GateExplanation>& gates);

// For `tether why pod/NAME -n NS`: the rendered explanation of the pod's remaining gates.
Result<std::string> ExplainPod(kube::Client& client, const std::string& ns, const std::string& name,
                               const ExplainOptions& options = {});

}  // namespace tether::gates
