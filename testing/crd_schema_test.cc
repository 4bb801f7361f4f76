#include "testing/crd_schema.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "testing/api_backend.h"
#include "testing/apiserver.h"

namespace tether::testing {
namespace {

namespace fs = std::filesystem;

Json LoadYaml(const fs::path& p) { return YamlToJson(YAML::LoadFile(p.string())); }

fs::path DeployDir() { return fs::path(TETHER_SOURCE_DIR) / "deploy"; }

Json WdCrd() { return LoadYaml(DeployDir() / "crds" / "workloaddependencies.tether.dev.yaml"); }

class CrdSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ApiServer::Start();
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    ASSERT_TRUE(
        server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "", WdCrd()));
    ASSERT_TRUE(server_->Create("v1", "namespaces", "", {{"metadata", {{"name", "production"}}}}));
  }

  Result<Json> CreateWd(Json spec, const std::string& name = "wd") {
    return server_->Create("tether.dev/v1alpha1", "workloaddependencies", "production",
                           {{"apiVersion", "tether.dev/v1alpha1"},
                            {"kind", "WorkloadDependency"},
                            {"metadata", {{"name", name}}},
                            {"spec", std::move(spec)}});
  }

  static Json Valid() {
    return {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn", {{{"kind", "Deployment"}, {"name", "postgresql"}}}}};
  }

  std::unique_ptr<ApiServer> server_;
};

TEST_F(CrdSchemaTest, ShippedExamplesAreAcceptedAndDefaulted) {
  int examples = 0;
  for (const auto& entry : fs::directory_iterator(DeployDir() / "examples")) {
    Json obj = LoadYaml(entry.path());
    if (obj.value("kind", "") != "WorkloadDependency") continue;
    ++examples;
    std::string ns = obj["metadata"].value("namespace", "production");
    if (!server_->Get("v1", "namespaces", "", ns)) {
      ASSERT_TRUE(server_->Create("v1", "namespaces", "", {{"metadata", {{"name", ns}}}}));
    }
    auto created = server_->Create("tether.dev/v1alpha1", "workloaddependencies", ns, obj);
    ASSERT_TRUE(created) << entry.path() << ": " << created.error().ToString();
  }
  EXPECT_GT(examples, 0);
  // Defaults come from the schema, as on a real cluster.
  auto wd = CreateWd(Valid());
  ASSERT_TRUE(wd) << wd.error().ToString();
  EXPECT_EQ((*wd)["spec"]["mode"], "strict") << wd->dump(2);
}

TEST_F(CrdSchemaTest, UnknownFieldsArePruned) {
  Json spec = Valid();
  spec["extra"] = 1;
  spec["dependsOn"][0]["typo"] = "x";
  auto wd = CreateWd(spec);
  ASSERT_TRUE(wd) << wd.error().ToString();
  EXPECT_FALSE((*wd)["spec"].contains("extra"));
  EXPECT_FALSE((*wd)["spec"]["dependsOn"][0].contains("typo"));
  EXPECT_EQ((*wd)["spec"]["dependsOn"][0]["name"], "postgresql");
}

TEST_F(CrdSchemaTest, SchemaViolationsAreRejectedWithKubeMessages) {
  Json spec = Valid();
  spec["mode"] = "aggressive";
  auto bad_mode = CreateWd(spec);
  ASSERT_FALSE(bad_mode);
  EXPECT_EQ(bad_mode.error().http_status, 422);
  EXPECT_NE(bad_mode.error().message.find("spec.mode: Unsupported value: \"aggressive\": "
                                          "supported values: "),
            std::string::npos)
      << bad_mode.error().message;
  // A blocking schema error means the CEL rules were not run, and the answer says so.
  EXPECT_NE(bad_mode.error().message.find("some validation rules were not checked"),
            std::string::npos);

  spec = Valid();
  spec["dependsOn"][0]["condition"] = {{"window", "30 seconds"}};
  auto bad_window = CreateWd(spec);
  ASSERT_FALSE(bad_window);
  EXPECT_NE(bad_window.error().message.find(
                "spec.dependsOn[0].condition.window: Invalid value: \"30 seconds\": "
                "spec.dependsOn[0].condition.window in body should match"),
            std::string::npos)
      << bad_window.error().message;

  spec = Valid();
  spec["dependsOn"][0]["condition"] = {{"minReadyPercent", "eighty"}};
  auto bad_type = CreateWd(spec);
  ASSERT_FALSE(bad_type);
  EXPECT_NE(bad_type.error().message.find("in body must be of type integer: \"string\""),
            std::string::npos)
      << bad_type.error().message;
}

TEST_F(CrdSchemaTest, CelRulesOfTheCrdAreEnforced) {
  // The dependent may not depend on itself (a rule on spec).
  Json spec = Valid();
  spec["dependsOn"].push_back({{"kind", "Deployment"}, {"name", "payments"}});
  auto self_dep = CreateWd(spec);
  ASSERT_FALSE(self_dep);
  EXPECT_NE(self_dep.error().message.find("the dependent must not appear in its own dependsOn"),
            std::string::npos)
      << self_dep.error().message;
  // A dependsOn entry is exactly one shape (a rule on the list items).
  spec = Valid();
  spec["dependsOn"][0]["prometheus"] = {{"query", "up"}};
  auto mixed = CreateWd(spec);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("spec.dependsOn[0]: Invalid value: \"object\": each "
                                       "dependsOn entry is exactly one of"),
            std::string::npos)
      << mixed.error().message;
  // Updates are validated too.
  auto wd = CreateWd(Valid(), "ok");
  ASSERT_TRUE(wd) << wd.error().ToString();
  Json next = *wd;
  next["spec"]["dependsOn"].push_back({{"kind", "Deployment"}, {"name", "payments"}});
  auto updated = server_->Update("tether.dev/v1alpha1", "workloaddependencies", "production", next);
  ASSERT_FALSE(updated);
  EXPECT_NE(updated.error().message.find("must not appear in its own dependsOn"),
            std::string::npos);
}

// A hand-written schema exercising what tether's own CRD does not use.
Json GadgetCrd(Json spec_schema) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "gadgets.example.com"}}},
          {"spec",
           {{"group", "example.com"},
            {"scope", "Namespaced"},
            {"names", {{"plural", "gadgets"}, {"kind", "Gadget"}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"}, {"properties", {{"spec", spec_schema}}}}}}}}}}}}};
}

TEST(CrdSchema, TransitionRulesMessageExpressionsFieldPathsAndListMaps) {
  auto compiled = CrdSchema::Compile(
      {{"type", "object"},
       {"properties",
        {{"spec",
          {{"type", "object"},
           {"x-kubernetes-validations",
            {{{"rule", "self.size >= oldSelf.size"},
              {"messageExpression", "'size may only grow, not to ' + string(self.size)"},
              {"fieldPath", ".size"}},
             {{"rule", "self.size < 100"}, {"reason", "FieldValueForbidden"}}}},
           {"properties",
            {{"size", {{"type", "integer"}, {"default", 1}}},
             {"ports",
              {{"type", "array"},
               {"x-kubernetes-list-type", "map"},
               {"x-kubernetes-list-map-keys", {"name"}},
               {"items",
                {{"type", "object"},
                 {"required", {"name"}},
                 {"properties",
                  {{"name", {{"type", "string"}}}, {"port", {{"type", "integer"}}}}}}}}},
             {"tags",
              {{"type", "array"},
               {"x-kubernetes-list-type", "set"},
               {"maxItems", 2},
               {"items", {{"type", "string"}, {"maxLength", 3}}}}}}}}}}}},
      "spec.versions[0].schema.openAPIV3Schema");
  ASSERT_TRUE(compiled) << compiled.error().message;
  const CrdSchema& schema = **compiled;

  Json obj = {{"spec", Json::object()}};
  schema.Default(obj);
  EXPECT_EQ(obj["spec"]["size"], 1);
  EXPECT_TRUE(schema.Validate(obj, nullptr).empty());  // no oldSelf on create

  Json old = obj;
  obj["spec"]["size"] = 0;
  auto shrink = schema.Validate(obj, &old);
  ASSERT_EQ(shrink.size(), 1u);
  EXPECT_EQ(shrink[0].field, "spec.size");
  EXPECT_EQ(shrink[0].message, "Invalid value: \"object\": size may only grow, not to 0");

  obj["spec"]["size"] = 100;
  auto forbidden = schema.Validate(obj, &old);
  ASSERT_EQ(forbidden.size(), 1u);
  EXPECT_EQ(forbidden[0].reason, "FieldValueForbidden");
  EXPECT_EQ(forbidden[0].message, "Forbidden: failed rule: self.size < 100");

  obj["spec"]["size"] = 2;
  obj["spec"]["ports"] = {{{"name", "http"}, {"port", 80}}, {{"name", "http"}, {"port", 81}}};
  obj["spec"]["tags"] = {"a", "a", "long"};
  auto lists = schema.Validate(obj, &old);
  std::vector<std::string> got;
  for (const auto& e : lists) got.push_back(e.field + ": " + e.message);
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "spec.ports[1]: Duplicate value: map[string]interface {}{\"name\":\"http\"}",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.tags[2]: Too long: may not be more than 3 bytes",
                "spec.tags[1]: Duplicate value: \"a\"",
                "<nil>: Invalid value: null: some validation rules were not checked because "
                "the object was invalid; correct the existing errors to complete validation"}));
}

TEST(CrdSchema, NonStructuralSchemasAndInvalidDefaultsAreRejected) {
  auto reasons = [](const Json& schema) {
    auto compiled = CrdSchema::Compile(schema, "spec.versions[0].schema.openAPIV3Schema");
    return compiled ? std::string() : compiled.error().message;
  };
  EXPECT_EQ(reasons({{"type", "object"}, {"properties", {{"spec", {{"type", "object"}}}}}}), "");
  EXPECT_NE(reasons({{"type", "object"}, {"properties", {{"spec", {{"description", "x"}}}}}})
                .find("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required "
                      "value: must not be empty for specified object fields"),
            std::string::npos);
  EXPECT_NE(reasons({{"type", "string"}}).find("must be object at the root"), std::string::npos);
  EXPECT_NE(reasons({{"type", "object"},
                     {"properties",
                      {{"mode", {{"type", "string"}, {"enum", {"a", "b"}}, {"default", "c"}}}}}})
                .find("properties[mode].default: Unsupported value: \"c\""),
            std::string::npos);
  EXPECT_NE(
      reasons({{"type", "object"},
               {"properties",
                {{"ports",
                  {{"type", "array"},
                   {"x-kubernetes-list-type", "map"},
                   {"x-kubernetes-list-map-keys", {"name"}},
                   {"items",
                    {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}}}}}}}})
          .find("all map keys must be required or have a default value"),
      std::string::npos);
}

TEST(CrdSchema, BadRulesAndPatternsRejectTheCrd) {
  auto server = ApiServer::Start();
  ASSERT_TRUE(server) << server.error().ToString();
  auto bad_rule = (*server)->Create(
      "apiextensions.k8s.io/v1", "customresourcedefinitions", "",
      GadgetCrd({{"type", "object"}, {"x-kubernetes-validations", {{{"rule", "self.size >"}}}}}));
  ASSERT_FALSE(bad_rule);
  EXPECT_EQ(bad_rule.error().http_status, 422);
  EXPECT_NE(bad_rule.error().message.find(
                "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: "
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-"
                "validations[0].rule: Invalid value: \"self.size >\": compilation failed: "),
            std::string::npos)
      << bad_rule.error().message;
  auto bad_pattern = (*server)->Create(
      "apiextensions.k8s.io/v1", "customresourcedefinitions", "",
      GadgetCrd({{"type", "object"},
                 {"properties", {{"name", {{"type", "string"}, {"pattern", "([a-z"}}}}}}));
  ASSERT_FALSE(bad_pattern);
  EXPECT_NE(bad_pattern.error().message.find("must be a valid regular expression"),
            std::string::npos)
      << bad_pattern.error().message;
  // Nothing was registered.
  EXPECT_FALSE((*server)->List("example.com/v1", "gadgets", "default"));
}

}  // namespace
}  // namespace tether::testing
