#include "deps/crd.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "deps/types.h"

namespace tether::deps {

using nlohmann::json;

namespace {

template <std::size_t N>
json Enum(const std::array<std::string_view, N>& names) {
  json a = json::array();
  for (auto n : names) a.push_back(std::string(n));
  return a;
}

// A CEL list literal: ['a', 'b'].
template <std::size_t N>
std::string CelList(const std::array<std::string_view, N>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += ", ";
    out += fmt::format("'{}'", names[i]);
  }
  return out + "]";
}

json Str(std::string description, int max_length = 253) {
  return {{"type", "string"}, {"description", std::move(description)}, {"maxLength", max_length}};
}

json DurationField(std::string description, std::optional<std::string_view> def) {
  json j = {{"type", "string"},
            {"description", std::move(description)},
            {"pattern", std::string(schema::kDurationPattern)},
            {"maxLength", 64}};
  if (def) j["default"] = std::string(*def);
  return j;
}

json SecretRef(std::string description, std::string_view default_key) {
  return {{"type", "object"},
          {"description", std::move(description)},
          {"required", {"name"}},
          {"properties",
           {{"name", Str("Secret name, in the WorkloadDependency's namespace")},
            {"key", [&] {
               json k = Str("Key in the Secret");
               k["default"] = std::string(default_key);
               return k;
             }()}}}};
}

json DependencyItem() {
  std::string workload_kinds = CelList(schema::kWorkloadDependencyKinds);
  std::string rule = fmt::format(
      "has(self.prometheus) ? (!has(self.kind) && !has(self.name) && !has(self.apiVersion) && "
      "!(has(self.condition) && has(self.condition.expression))) : (has(self.kind) && "
      "has(self.name) && ((has(self.condition) && has(self.condition.expression)) ? "
      "has(self.apiVersion) : (self.kind in {} && (!has(self.apiVersion) || self.apiVersion == "
      "(self.kind == 'Rollout' ? '{}' : '{}')))))",
      workload_kinds, schema::CanonicalApiVersion("Rollout"),
      schema::CanonicalApiVersion("Deployment"));
  json condition = {
      {"type", "object"},
      {"description", "When the dependency counts as healthy, and the hysteresis windows"},
      {"properties",
       {{"minReadyPercent",
         {{"type", "integer"},
          {"description",
           fmt::format("Ready share (0..100, default {}) for workloads; 0 means \"exists\"",
                       schema::kDefaultMinReadyPercent)},
          {"minimum", 0},
          {"maximum", 100}}},
        {"window", DurationField("How long unhealthy before acting", schema::kDefaultWindow)},
        {"recoveryWindow",
         DurationField("How long healthy before restoring", schema::kDefaultRecoveryWindow)},
        {"expression",
         Str("CEL expression over `resource`; makes this an object reference", 4096)}}}};
  return {{"type", "object"},
          {"description",
           "Exactly one of: a workload {kind, name}, any object {apiVersion, kind, name, "
           "condition.expression}, or {prometheus: {query}}"},
          {"properties",
           {{"apiVersion", Str("apiVersion of an object judged by condition.expression")},
            {"kind", Str(fmt::format("{} for built-in readiness, or any kind with "
                                     "condition.expression",
                                     fmt::join(schema::kWorkloadDependencyKinds, ", ")),
                         63)},
            {"name", Str("Object name")},
            {"namespace", Str("Defaults to the WorkloadDependency's namespace", 63)},
            {"condition", condition},
            {"prometheus",
             {{"type", "object"},
              {"required", {"query"}},
              {"properties",
               {{"query",
                 [] {
                   json q = Str("PromQL instant query; healthy when it returns at least one sample",
                                4096);
                   q["minLength"] = 1;
                   return q;
                 }()}}}}}}},
          {"x-kubernetes-validations",
           {{{"rule", rule},
             {"message",
              "each dependsOn entry is exactly one of {kind, name} (a workload with built-in "
              "readiness: " +
                  fmt::format("{}", fmt::join(schema::kWorkloadDependencyKinds, ", ")) +
                  "), {apiVersion, kind, name, condition.expression} (any object) or "
                  "{prometheus: {query}}"}}}}};
}

json SpecSchema() {
  json dependent = {{"type", "object"},
                    {"description", "The workload tether suspends"},
                    {"required", {"kind", "name"}},
                    {"properties",
                     {{"kind", {{"type", "string"}, {"enum", Enum(schema::kDependentKinds)}}},
                      {"name",
                       [] {
                         json n = Str("Workload name");
                         n["minLength"] = 1;
                         return n;
                       }()},
                      {"namespace", Str("Defaults to the WorkloadDependency's namespace", 63)}}}};
  json notify = {
      {"type", "object"},
      {"description", "Webhook notification on phase transitions"},
      {"properties",
       {{"webhook",
         [] {
           json w = Str("http(s) URL", 2048);
           w["pattern"] = std::string(schema::kUrlPattern);
           return w;
         }()},
        {"webhookSecretRef",
         SecretRef("Secret holding the webhook URL", schema::kDefaultSecretKey)},
        {"format",
         {{"type", "string"},
          {"enum", Enum(schema::kNotifyFormats)},
          {"default", std::string(schema::kDefaultFormat)}}},
        {"signingSecretRef", SecretRef("Secret holding the HMAC-SHA256 signing key", "key")},
        {"onPhases",
         {{"type", "array"},
          {"maxItems", static_cast<int>(schema::kPhases.size())},
          {"items", {{"type", "string"}, {"enum", Enum(schema::kPhases)}}},
          {"default", Enum(schema::kDefaultOnPhases)}}}}},
      {"x-kubernetes-validations",
       {{{"rule", "has(self.webhook) != has(self.webhookSecretRef)"},
         {"message", "notify needs exactly one of webhook or webhookSecretRef"}}}}};
  return {
      {"type", "object"},
      {"required", {"dependent", "dependsOn"}},
      {"properties",
       {{"dependent", dependent},
        {"dependsOn",
         {{"type", "array"},
          {"description", "All must be healthy"},
          {"minItems", schema::kMinDependsOn},
          {"maxItems", schema::kMaxDependsOn},
          {"items", DependencyItem()}}},
        {"onDegraded",
         {{"type", "object"},
          {"properties",
           {{"action",
             {{"type", "string"},
              {"enum", Enum(schema::kActions)},
              {"default", std::string(schema::kDefaultAction)}}},
            {"maxSuspendDuration",
             DurationField("Safety net: restore after this long suspended (phase Released)",
                           std::nullopt)}}}}},
        {"mode",
         {{"type", "string"},
          {"enum", Enum(schema::kModes)},
          {"default", std::string(schema::kDefaultMode)}}},
        {"cascade",
         {{"type", "boolean"},
          {"default", true},
          {"description", "A CoSuspended dependency counts as unhealthy (suspension propagates)"}}},
        {"notify", notify}}},
      {"x-kubernetes-validations",
       {{{"rule",
          "!self.dependsOn.exists(d, has(d.kind) && has(d.name) && !has(d.prometheus) && "
          "d.kind == self.dependent.kind && d.name == self.dependent.name && "
          "(has(d.namespace) ? d.namespace : '') == "
          "(has(self.dependent.namespace) ? self.dependent.namespace : ''))"},
         {"message", "the dependent must not appear in its own dependsOn"}}}}};
}

json TimeField() { return {{"type", "string"}, {"format", "date-time"}}; }

json StatusSchema() {
  json dep = {{"type", "object"},
              {"properties",
               {{"ref", {{"type", "string"}}},
                {"state", {{"type", "string"}, {"enum", Enum(schema::kDependencyStates)}}},
                {"ready", {{"type", "integer"}, {"format", "int64"}}},
                {"desired", {{"type", "integer"}, {"format", "int64"}}},
                {"since", TimeField()},
                {"message", {{"type", "string"}}},
                {"healthySince", TimeField()},
                {"unhealthySince", TimeField()}}}};
  json cond = {{"type", "object"},
               {"required", {"type", "status"}},
               {"properties",
                {{"type", {{"type", "string"}}},
                 {"status", {{"type", "string"}, {"enum", {"True", "False", "Unknown"}}}},
                 {"reason", {{"type", "string"}}},
                 {"message", {{"type", "string"}}},
                 {"lastTransitionTime", TimeField()},
                 {"observedGeneration", {{"type", "integer"}, {"format", "int64"}}}}}};
  return {{"type", "object"},
          {"properties",
           {{"observedGeneration", {{"type", "integer"}, {"format", "int64"}}},
            {"phase", {{"type", "string"}, {"enum", Enum(schema::kPhases)}}},
            {"message", {{"type", "string"}}},
            {"savedReplicas", {{"type", "integer"}, {"format", "int64"}}},
            {"degradedSince", TimeField()},
            {"suspendedAt", TimeField()},
            {"healthySince", TimeField()},
            {"dependentRef", {{"type", "string"}}},
            {"dependencies", {{"type", "array"}, {"items", dep}}},
            {"conditions",
             {{"type", "array"},
              {"items", cond},
              {"x-kubernetes-list-type", "map"},
              {"x-kubernetes-list-map-keys", {"type"}}}},
            {"lastNotifiedPhase", {{"type", "string"}, {"enum", Enum(schema::kPhases)}}}}}};
}

json PrinterColumn(std::string name, std::string type, std::string path, std::string description,
                   int priority = 0) {
  json c = {{"name", std::move(name)},
            {"type", std::move(type)},
            {"jsonPath", std::move(path)},
            {"description", std::move(description)}};
  if (priority) c["priority"] = priority;
  return c;
}

bool PlainKey(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/')) {
      return false;
    }
  }
  return true;
}

std::string Scalar(const json& v) {
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  return v.dump();  // strings become JSON (= YAML double-quoted) strings
}

bool IsBlock(const json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

void EmitBlock(const json& v, int indent, std::string& out);

// Emits `v` as a sequence item at `indent` ("- " then the value).
void EmitItem(const json& v, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (!IsBlock(v)) {
    out += pad + "- " + Scalar(v) + "\n";
    return;
  }
  std::string inner;
  EmitBlock(v, indent + 2, inner);
  // Replace the first line's indentation with "- ".
  out += pad + "- " + inner.substr(indent + 2);
}

void EmitBlock(const json& v, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (v.is_array()) {
    for (const auto& item : v) EmitItem(item, indent, out);
    return;
  }
  for (const auto& [k, val] : v.items()) {
    std::string key = PlainKey(k) ? k : json(k).dump();
    if (IsBlock(val)) {
      out += pad + key + ":\n";
      EmitBlock(val, val.is_array() ? indent : indent + 2, out);
    } else {
      out += pad + key + ": " + Scalar(val) + "\n";
    }
  }
}

}  // namespace

std::string JsonToYaml(const json& value) {
  if (!IsBlock(value)) return Scalar(value) + "\n";
  std::string out;
  EmitBlock(value, 0, out);
  return out;
}

json WorkloadDependencyCrd() {
  std::string name = fmt::format("{}.{}", schema::kPlural, schema::kGroup);
  json version = {
      {"name", std::string(schema::kVersion)},
      {"served", true},
      {"storage", true},
      {"subresources", {{"status", json::object()}}},
      {"additionalPrinterColumns",
       {PrinterColumn("Phase", "string", ".status.phase", "Current phase"),
        PrinterColumn("Dependent", "string", ".spec.dependent.name",
                      "The workload tether suspends"),
        PrinterColumn("Replicas", "integer", ".status.savedReplicas",
                      "Replicas saved while the dependent is suspended"),
        PrinterColumn("Message", "string", ".status.message", "Why"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "")}},
      {"schema",
       {{"openAPIV3Schema",
         {{"type", "object"},
          {"description",
           "WorkloadDependency suspends a workload while its dependencies are unhealthy and "
           "restores it when they recover"},
          {"required", {"spec"}},
          {"properties",
           {{"apiVersion", {{"type", "string"}}},
            {"kind", {{"type", "string"}}},
            {"metadata", {{"type", "object"}}},
            {"spec", SpecSchema()},
            {"status", StatusSchema()}}}}}}}};
  version["additionalPrinterColumns"][4].erase("description");
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", name}, {"labels", {{"app.kubernetes.io/part-of", "tether"}}}}},
          {"spec",
           {{"group", std::string(schema::kGroup)},
            {"scope", "Namespaced"},
            {"names",
             {{"kind", std::string(schema::kKind)},
              {"listKind", std::string(schema::kKind) + "List"},
              {"plural", std::string(schema::kPlural)},
              {"singular", std::string(schema::kSingular)},
              {"shortNames", {std::string(schema::kShortName)}},
              {"categories", {"tether"}}}},
            {"versions", {version}}}}};
}

std::string WorkloadDependencyCrdYaml() {
  return "# Generated by tether_crdgen from src/deps/crd.cc. Do not edit: run\n"
         "#   tether_crdgen > deploy/crds/workloaddependencies.tether.dev.yaml\n"
         "---\n" +
         JsonToYaml(WorkloadDependencyCrd());
}

}  // namespace tether::deps
