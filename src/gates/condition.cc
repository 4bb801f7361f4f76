#include "gates/condition.h"

#include <fmt/format.h>

#include <algorithm>

namespace tether::gates {
namespace {

Result<std::string> StringField(const Json& obj, const char* field) {
  const Json& v = obj.at(field);
  if (!v.is_string()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("field \"{}\" must be a string, got {}; quote the value", field,
                            v.type_name()));
  }
  return v.get<std::string>();
}

}  // namespace

Result<Condition> ParseCondition(std::string_view annotation) {
  Json doc;
  try {
    doc = Json::parse(annotation);
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("annotation is not valid JSON ({}); expected "
                            "{{\"kind\": ..., \"name\": ..., \"expression\": ...}}",
                            e.what()));
  }
  if (!doc.is_object()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("annotation must be a JSON object, got {}", doc.type_name()));
  }
  Condition c;
  for (const auto& [key, value] : doc.items()) {
    if (key == "namespaced") continue;  // KSGate compatibility; scope comes from discovery
    if (key != "apiVersion" && key != "kind" && key != "name" && key != "namespace" &&
        key != "expression") {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("unknown field \"{}\" (allowed: apiVersion, kind, name, namespace, "
                              "expression); check the spelling",
                              key));
    }
    auto s = StringField(doc, key.c_str());
    if (!s) return Fail(s.error());
    if (key == "apiVersion") {
      if (s->empty()) return Fail(ErrorCode::kInvalid, "field \"apiVersion\" must not be empty");
      c.api_version = *s;
    } else if (key == "kind") {
      c.kind = *s;
    } else if (key == "name") {
      c.name = *s;
    } else if (key == "namespace") {
      if (!s->empty()) c.ns = *s;
    } else {
      c.expression = *s;
    }
  }
  if (c.kind.empty()) {
    return Fail(ErrorCode::kInvalid, "field \"kind\" is required (e.g. \"kind\": \"ConfigMap\")");
  }
  if (c.name.empty()) {
    return Fail(ErrorCode::kInvalid, "field \"name\" is required: the referenced object's name");
  }
  return c;
}

Json ConditionToJson(const Condition& c) {
  Json j = {{"apiVersion", c.api_version}, {"kind", c.kind}, {"name", c.name}};
  if (c.ns) j["namespace"] = *c.ns;
  if (c.expression) j["expression"] = *c.expression;
  return j;
}

bool HasConfiguredPrefix(std::string_view gate, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) {
    return gate.size() > p.size() && gate.substr(0, p.size()) == p;
  });
}

std::vector<std::string> SchedulingGates(const Json& pod) {
  std::vector<std::string> out;
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return out;
  auto gates = spec->find("schedulingGates");
  if (gates == spec->end() || !gates->is_array()) return out;
  for (const auto& g : *gates) {
    if (!g.is_object()) continue;
    auto n = g.find("name");
    if (n != g.end() && n->is_string()) out.push_back(n->get<std::string>());
  }
  return out;
}

std::vector<std::string> OwnedGates(const Json& pod, const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (auto& g : SchedulingGates(pod)) {
    if (HasConfiguredPrefix(g, prefixes)) out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<std::string>> ParsePrefixes(std::string_view flag) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= flag.size()) {
    std::size_t end = flag.find(',', start);
    if (end == std::string_view::npos) end = flag.size();
    std::string_view item = flag.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty() || item.back() != '/') {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("--gate-prefixes: \"{}\" is not a prefix; each entry must end with "
                              "'/' (e.g. gate.tether.dev/,k8s.ksgate.org/)",
                              item));
    }
    out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

Result<std::shared_ptr<const CompiledCondition>> CompileCondition(std::string_view annotation) {
  auto cond = ParseCondition(annotation);
  if (!cond) return Fail(cond.error());
  auto out = std::make_shared<CompiledCondition>();
  out->condition = std::move(*cond);
  if (out->condition.expression) {
    cel::Env env;
    env.variables = {"resource", "this", "pod"};
    env.enable_now = true;
    auto program = cel::Compile(*out->condition.expression, env);
    if (!program) return Fail(program.error().Wrap("expression does not compile"));
    out->program = std::move(*program);
  }
  return std::shared_ptr<const CompiledCondition>(std::move(out));
}

Result<bool> EvaluateCondition(const CompiledCondition& c,
                               const std::shared_ptr<const Json>& resource,
                               const std::shared_ptr<const Json>& pod, TimePoint now,
                               int64_t cost_budget) {
  if (!resource) return false;
  if (!c.program) return true;
  cel::Activation act;
  act.Bind("resource", resource);
  act.Bind("this", pod);
  act.Bind("pod", pod);
  cel::EvalOptions opts;
  opts.cost_budget = cost_budget;
  opts.now = now;
  auto r = c.program->Evaluate(act, opts);
  if (!r) {
    if (r.error().code == ErrorCode::kTooLarge) {
      return Fail(r.error().Wrap(
          fmt::format("expression exceeds the cost budget of {}; simplify it", cost_budget)));
    }
    return Fail(r.error().Wrap("expression evaluation failed"));
  }
  if (r->kind() != cel::Kind::kBool) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("expression must return a bool, got {}; compare the value, e.g. "
                            "\"... == true\"",
                            cel::TypeName(*r)));
  }
  return r->AsBool();
}

Result<ReferencePolicy> ParseReferencePolicy(std::string_view s) {
  if (s == "same-namespace") return ReferencePolicy::kSameNamespace;
  if (s == "authorized") return ReferencePolicy::kAuthorized;
  if (s == "any") return ReferencePolicy::kAny;
  return Fail(ErrorCode::kInvalid,
              fmt::format("--gate-reference-policy: unknown value \"{}\" (use same-namespace, "
                          "authorized or any)",
                          s));
}

std::string_view ReferencePolicyName(ReferencePolicy p) {
  switch (p) {
    case ReferencePolicy::kSameNamespace:
      return "same-namespace";
    case ReferencePolicy::kAuthorized:
      return "authorized";
    case ReferencePolicy::kAny:
      return "any";
  }
  return "unknown";
}

PolicyDecision CheckReference(ReferencePolicy policy, std::string_view pod_ns,
                              std::string_view target_ns, std::string_view group,
                              std::string_view kind, bool has_expression) {
  using V = PolicyDecision::Verdict;
  if (policy == ReferencePolicy::kAny) return {V::kAllow, ""};
  const bool secret = group.empty() && kind == "Secret";
  const bool same_ns = !target_ns.empty() && target_ns == pod_ns;
  if (policy == ReferencePolicy::kSameNamespace) {
    if (target_ns.empty()) {
      return {V::kDeny, fmt::format("reference policy same-namespace forbids cluster-scoped {} "
                                    "references; ask the operator for --gate-reference-policy="
                                    "authorized",
                                    kind)};
    }
    if (!same_ns) {
      return {V::kDeny,
              fmt::format("reference policy same-namespace forbids references to namespace "
                          "\"{}\" from a pod in \"{}\"; reference an object in \"{}\"",
                          target_ns, pod_ns, pod_ns)};
    }
    if (secret && has_expression) {
      return {V::kDeny,
              "reference policy same-namespace allows only existence checks on Secrets; remove "
              "the expression"};
    }
    return {V::kAllow, ""};
  }
  // kAuthorized
  if (same_ns && !(secret && has_expression)) return {V::kAllow, ""};
  return {V::kNeedsAccessReview, ""};
}

std::optional<Json> BuildRemovalPatch(const Json& pod, const std::set<std::string>& remove) {
  auto gates = SchedulingGates(pod);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < gates.size(); ++i) {
    if (remove.count(gates[i]) != 0) idx.push_back(i);
  }
  if (idx.empty()) return std::nullopt;
  Json ops = Json::array();
  for (auto i : idx) {
    ops.push_back({{"op", "test"},
                   {"path", fmt::format("/spec/schedulingGates/{}/name", i)},
                   {"value", gates[i]}});
  }
  if (idx.size() == gates.size()) {
    ops.push_back({{"op", "remove"}, {"path", "/spec/schedulingGates"}});
    return ops;
  }
  for (auto it = idx.rbegin(); it != idx.rend(); ++it) {
    ops.push_back({{"op", "remove"}, {"path", fmt::format("/spec/schedulingGates/{}", *it)}});
  }
  return ops;
}

}  // namespace tether::gates
