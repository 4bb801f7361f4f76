#include "gates/explain.h"

#include <fmt/format.h>

#include "kube/discovery.h"

namespace tether::gates {

std::vector<GateExplanation> ExplainGates(const Json& pod, const ObjectLookup& lookup,
                                          const ExplainOptions& options) {
  std::vector<GateExplanation> out;
  const std::string pod_ns = pod.value("/metadata/namespace"_json_pointer, std::string());
  const Json annotations = pod.value("/metadata/annotations"_json_pointer, Json::object());
  auto pod_ptr = std::make_shared<const Json>(pod);
  for (const auto& gate : OwnedGates(pod, options.prefixes)) {
    GateExplanation e;
    e.gate = gate;
    auto ann = annotations.find(gate);
    if (ann == annotations.end() || !ann->is_string()) {
      e.condition = "<missing>";
      e.result = "error: the annotation holding the condition is missing";
      e.to_open = fmt::format("add the annotation \"{}\" with the condition JSON", gate);
      out.push_back(std::move(e));
      continue;
    }
    e.condition = ann->get<std::string>();
    auto cc = CompileCondition(e.condition);
    if (!cc) {
      e.result = "error: " + cc.error().message;
      e.to_open =
          "fix the annotation (the pod must be recreated: annotations of a running "
          "workload come from its template)";
      out.push_back(std::move(e));
      continue;
    }
    const Condition& c = (*cc)->condition;
    const std::string target_ns = c.ns.value_or(pod_ns);
    auto found = lookup(c, target_ns);
    if (!found) {
      e.result = "error: " + found.error().message;
      e.to_open = fmt::format("make {} {} known to the API server (install its CRD?)",
                              c.api_version, c.kind);
      out.push_back(std::move(e));
      continue;
    }
    const std::string where = found->namespaced ? target_ns + "/" + c.name : c.name;
    const std::string ns_for_policy = found->namespaced ? target_ns : std::string();
    e.object =
        fmt::format("{} {}: {}", found->resource, where, found->object ? "exists" : "not found");
    auto decision = CheckReference(options.policy, pod_ns, ns_for_policy,
                                   kube::SplitApiVersion(c.api_version).first, c.kind,
                                   c.expression.has_value());
    if (decision.verdict == PolicyDecision::Verdict::kDeny) {
      e.result = "error: " + decision.reason;
      e.to_open = "change the reference (the policy forbids it)";
      out.push_back(std::move(e));
      continue;
    }
    auto r = EvaluateCondition(**cc, found->object, pod_ptr, options.now);
    if (!r) {
      e.result = "error: " + r.error().message;
      e.to_open = "fix the expression or the referenced object's fields it reads";
    } else if (*r) {
      e.result = "open (tether removes the gate at its next evaluation)";
    } else {
      e.result = "waiting";
      if (!found->object) {
        e.to_open = fmt::format("create {} {}", found->resource, where);
        if (c.expression) e.to_open += fmt::format(" such that {}", *c.expression);
      } else {
        e.to_open = fmt::format("make {} true", *c.expression);
      }
    }
    if (decision.verdict == PolicyDecision::Verdict::kNeedsAccessReview) {
      e.result += " (the pod's service account must also be allowed to get the object)";
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string RenderExplanations(const std::string& pod_key,
                               const std::vector<GateExplanation>& gates) {
  if (gates.empty()) return fmt::format("pod {}: no tether scheduling gates remain\n", pod_key);
  std::string out = fmt::format("pod {}: {} tether gate(s) remain\n", pod_key, gates.size());
  for (const auto& g : gates) {
    out += fmt::format("\n{}\n  condition: {}\n", g.gate, g.condition);
    if (!g.object.empty()) out += fmt::format("  object:    {}\n", g.object);
    out += fmt::format("  result:    {}\n", g.result);
    if (!g.to_open.empty()) out += fmt::format("  to open:   {}\n", g.to_open);
  }
  return out;
}

Result<std::string> ExplainPod(kube::Client& client, const std::string& ns, const std::string& name,
                               const ExplainOptions& options) {
  auto pod = client.Get(kube::resources::Pods(), ns, name);
  if (!pod) return Fail(pod.error().Wrap(fmt::format("reading pod {}/{}", ns, name)));
  ExplainOptions opts = options;
  if (opts.now == TimePoint{}) opts.now = RealClock::Instance().Now();
  kube::Discovery discovery(client, RealClock::Instance());
  auto lookup = [&](const Condition& c, const std::string& target_ns) -> Result<LookedUp> {
    auto res = discovery.ForKind(c.api_version, c.kind);
    if (!res) return Fail(res.error());
    LookedUp l;
    l.resource = res->GroupResource();
    l.namespaced = res->namespaced;
    auto obj = client.Get(*res, res->namespaced ? target_ns : std::string(), c.name);
    if (obj) {
      l.object = std::make_shared<const Json>(std::move(*obj));
    } else if (obj.error().code != ErrorCode::kNotFound) {
      return Fail(obj.error().Wrap(fmt::format("reading {} {}", l.resource, c.name)));
    }
    return l;
  };
  auto gates = ExplainGates(*pod, lookup, opts);
  return RenderExplanations(ns + "/" + name, gates);
}

}  // namespace tether::gates
