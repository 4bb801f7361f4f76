#include "deps/crd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "deps/types.h"

#ifndef TETHER_SOURCE_DIR
#error "TETHER_SOURCE_DIR must point at the repository root"
#endif

namespace tether::deps {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A small OpenAPI v3 structural-schema validator (the subset the CRD uses), to prove that the
// generated schema accepts what it must and rejects what it must. CEL rules are checked
// separately (they need a CEL engine).
void Validate(const json& schema, const json& v, const std::string& path,
              std::vector<std::string>& errors) {
  auto err = [&](const std::string& what) { errors.push_back(path + ": " + what); };
  std::string type = schema.value("type", "");
  if (type == "object") {
    if (!v.is_object()) return err("not an object");
    for (const auto& r : schema.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) err("missing " + r.get<std::string>());
    }
    const json props = schema.value("properties", json::object());
    for (const auto& [k, val] : v.items()) {
      if (props.contains(k)) Validate(props[k], val, path + "." + k, errors);
    }
  } else if (type == "array") {
    if (!v.is_array()) return err("not an array");
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<std::size_t>()) {
      err("too few items");
    }
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<std::size_t>()) {
      err("too many items");
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      Validate(schema["items"], v[i], path + "[" + std::to_string(i) + "]", errors);
    }
  } else if (type == "string") {
    if (!v.is_string()) return err("not a string");
    std::string s = v.get<std::string>();
    if (schema.contains("enum") && !schema["enum"].contains(s)) {
      bool found = false;
      for (const auto& e : schema["enum"]) found = found || e == s;
      if (!found) err("not in enum");
    }
    if (schema.contains("pattern") &&
        !std::regex_search(s, std::regex(schema["pattern"].get<std::string>()))) {
      err("does not match pattern");
    }
    if (schema.contains("maxLength") && s.size() > schema["maxLength"].get<std::size_t>()) {
      err("too long");
    }
    if (schema.contains("minLength") && s.size() < schema["minLength"].get<std::size_t>()) {
      err("too short");
    }
  } else if (type == "integer") {
    if (!v.is_number_integer()) return err("not an integer");
    if (schema.contains("minimum") && v.get<int64_t>() < schema["minimum"].get<int64_t>()) {
      err("below minimum");
    }
    if (schema.contains("maximum") && v.get<int64_t>() > schema["maximum"].get<int64_t>()) {
      err("above maximum");
    }
  } else if (type == "boolean") {
    if (!v.is_boolean()) err("not a boolean");
  }
}

const json& OpenApi() {
  static const json s = WorkloadDependencyCrd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  return s;
}

std::vector<std::string> ValidateObject(const json& obj) {
  std::vector<std::string> errors;
  Validate(OpenApi(), obj, "", errors);
  return errors;
}

json Example() {
  return json::parse(R"({
    "apiVersion": "tether.dev/v1alpha1", "kind": "WorkloadDependency",
    "metadata": {"name": "payments-needs-database", "namespace": "production"},
    "spec": {
      "dependent": {"kind": "Deployment", "name": "payments-service", "namespace": "production"},
      "dependsOn": [
        {"kind": "Deployment", "name": "postgresql",
         "condition": {"minReadyPercent": 80, "window": "30s", "recoveryWindow": "60s"}},
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg-main",
         "condition": {"expression": "resource.status.readyInstances >= 1"}},
        {"prometheus": {"query": "pg_up{service=\"postgresql\"} == 1"}}
      ],
      "onDegraded": {"action": "ScaleToZero", "maxSuspendDuration": "4h"},
      "mode": "strict", "cascade": true,
      "notify": {"webhook": "https://hooks.example/abc", "format": "json",
                 "signingSecretRef": {"name": "hook-hmac", "key": "key"},
                 "onPhases": ["Suspended", "Healthy", "Released"]}}})");
}

TEST(CrdTest, Identity) {
  json crd = WorkloadDependencyCrd();
  EXPECT_EQ(crd["metadata"]["name"], "workloaddependencies.tether.dev");
  EXPECT_EQ(crd["spec"]["group"], "tether.dev");
  EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], json::array({"wd"}));
  const json& v = crd["spec"]["versions"][0];
  EXPECT_EQ(v["name"], "v1alpha1");
  EXPECT_EQ(v["subresources"], json::parse(R"({"status": {}})"));
  std::vector<std::string> columns;
  for (const auto& c : v["additionalPrinterColumns"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns,
            (std::vector<std::string>{"Phase", "Dependent", "Replicas", "Message", "Age"}));
  EXPECT_EQ(v["additionalPrinterColumns"][2]["jsonPath"], ".status.savedReplicas");
}

TEST(CrdTest, AcceptsTheSpecExample) {
  EXPECT_THAT(ValidateObject(Example()), IsEmpty());
  // And the decoder agrees.
  EXPECT_TRUE(DecodeSpec(Example()["spec"], "production").has_value());
}

TEST(CrdTest, SchemaRejectsWhatTheValidatorRejects) {
  auto with = [](const std::string& pointer, json value) {
    json o = Example();
    o[json::json_pointer(pointer)] = std::move(value);
    return ValidateObject(o);
  };
  EXPECT_THAT(with("/spec/dependent/kind", "Pod"), ::testing::Contains(HasSubstr("not in enum")));
  EXPECT_THAT(with("/spec/mode", "lenient"), ::testing::Contains(HasSubstr("not in enum")));
  EXPECT_THAT(
      with("/spec/dependsOn/0/condition/window", "30 s"),
      ::testing::Contains(HasSubstr(".spec.dependsOn[0].condition.window: does not match")));
  EXPECT_THAT(with("/spec/onDegraded/maxSuspendDuration", "4 hours"),
              ::testing::Contains(HasSubstr("does not match pattern")));
  EXPECT_THAT(with("/spec/dependsOn/0/condition/minReadyPercent", 101),
              ::testing::Contains(HasSubstr("above maximum")));
  EXPECT_THAT(with("/spec/dependsOn", json::array()), ::testing::Contains(HasSubstr("too few")));
  json many = json::array();
  for (int i = 0; i < 33; ++i) many.push_back({{"kind", "Deployment"}, {"name", "d"}});
  EXPECT_THAT(with("/spec/dependsOn", many), ::testing::Contains(HasSubstr("too many")));
  EXPECT_THAT(with("/spec/notify/webhook", "ftp://x"),
              ::testing::Contains(HasSubstr("does not match pattern")));
  EXPECT_THAT(with("/spec/notify/format", "xml"), ::testing::Contains(HasSubstr("not in enum")));
  json no_dependent = Example();
  no_dependent["spec"].erase("dependent");
  EXPECT_THAT(ValidateObject(no_dependent), ::testing::Contains(HasSubstr("missing dependent")));
}

TEST(CrdTest, DefaultsMatchTheDecoder) {
  const json& spec = OpenApi()["properties"]["spec"]["properties"];
  EXPECT_EQ(spec["mode"]["default"], "strict");
  EXPECT_EQ(spec["cascade"]["default"], true);
  EXPECT_EQ(spec["onDegraded"]["properties"]["action"]["default"], "ScaleToZero");
  const json& cond = spec["dependsOn"]["items"]["properties"]["condition"]["properties"];
  EXPECT_EQ(cond["window"]["default"], "30s");
  EXPECT_EQ(cond["recoveryWindow"]["default"], "60s");
  // minReadyPercent is defaulted by tether, not the API server: a schema default would land on
  // expression/prometheus entries too.
  EXPECT_FALSE(cond["minReadyPercent"].contains("default"));
  EXPECT_EQ(spec["notify"]["properties"]["webhookSecretRef"]["properties"]["key"]["default"],
            "url");
  EXPECT_EQ(spec["notify"]["properties"]["onPhases"]["default"],
            json::array({"Suspended", "Healthy", "Released"}));
  // Defaults applied by the API server decode to the same values tether would apply.
  json example = Example()["spec"];
  example["dependsOn"][2]["condition"] = {{"window", "30s"}, {"recoveryWindow", "60s"}};
  example["dependsOn"][1]["condition"]["window"] = "30s";
  EXPECT_TRUE(DecodeSpec(example, "production").has_value());
}

TEST(CrdTest, CrossFieldRulesAreEncodedInCel) {
  const json& spec = OpenApi()["properties"]["spec"];
  ASSERT_EQ(spec["x-kubernetes-validations"].size(), 1u);
  EXPECT_THAT(spec["x-kubernetes-validations"][0]["rule"].get<std::string>(),
              HasSubstr("!self.dependsOn.exists(d,"));
  EXPECT_EQ(spec["x-kubernetes-validations"][0]["message"],
            "the dependent must not appear in its own dependsOn");
  const json& item = spec["properties"]["dependsOn"]["items"]["x-kubernetes-validations"][0];
  std::string rule = item["rule"];
  EXPECT_THAT(rule, HasSubstr("has(self.prometheus) ?"));
  EXPECT_THAT(rule,
              HasSubstr("['Deployment', 'StatefulSet', 'ReplicaSet', 'DaemonSet', 'Rollout']"));
  EXPECT_THAT(rule, HasSubstr("has(self.apiVersion)"));
  EXPECT_THAT(item["message"].get<std::string>(), HasSubstr("exactly one of"));
  const json& notify = spec["properties"]["notify"]["x-kubernetes-validations"][0];
  EXPECT_EQ(notify["rule"], "has(self.webhook) != has(self.webhookSecretRef)");
}

TEST(CrdTest, YamlEmitterProducesBlockYaml) {
  json j = json::parse(R"({"a": {"b": [1, "x", {"c": true, "d": []}], "e": {}}, "k-y": null})");
  EXPECT_EQ(JsonToYaml(j),
            "a:\n"
            "  b:\n"
            "  - 1\n"
            "  - \"x\"\n"
            "  - c: true\n"
            "    d: []\n"
            "  e: {}\n"
            "k-y: null\n");
}

// YAML -> JSON with kubectl-like scalar resolution (quoted scalars stay strings).
json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(YamlToJson(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (n.Tag() == "!") return s;
      if (s == "true") return true;
      if (s == "false") return false;
      if (!s.empty() && s.find_first_not_of("-0123456789") == std::string::npos) {
        return std::stoll(s);
      }
      return s;
    }
    default:
      return nullptr;
  }
}

TEST(CrdTest, ExampleManifestsAreValid) {
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TETHER_SOURCE_DIR) + "/deploy/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    SCOPED_TRACE(entry.path().string());
    json obj = YamlToJson(YAML::LoadFile(entry.path().string()));
    EXPECT_EQ(obj["apiVersion"], "tether.dev/v1alpha1");
    EXPECT_EQ(obj["kind"], "WorkloadDependency");
    EXPECT_THAT(ValidateObject(obj), IsEmpty());
    auto spec = DecodeSpec(obj["spec"], obj["metadata"]["namespace"].get<std::string>());
    EXPECT_TRUE(spec.has_value()) << spec.error().message;
  }
  EXPECT_GE(count, 5);
}

TEST(CrdTest, CommittedManifestMatchesTheGenerator) {
  std::ifstream in(std::string(TETHER_SOURCE_DIR) +
                   "/deploy/crds/workloaddependencies.tether.dev.yaml");
  ASSERT_TRUE(in.good()) << "deploy/crds/workloaddependencies.tether.dev.yaml is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), WorkloadDependencyCrdYaml())
      << "the committed CRD drifted from the code; regenerate it with: "
         "tether_crdgen > deploy/crds/workloaddependencies.tether.dev.yaml";
}

}  // namespace
}  // namespace tether::deps
