#include "deps/cel_evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cel/cel.h"
#include "deps/crd.h"

namespace tether::deps {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(CelExpressionEvaluatorTest, JudgesAnObjectThroughHealth) {
  CelExpressionEvaluator eval;
  Dependency d;
  d.type = Dependency::Type::kObject;
  d.api_version = "postgresql.cnpg.io/v1";
  d.kind = "Cluster";
  d.name = "pg-main";
  d.namespace_ = "prod";
  d.condition.expression = "resource.status.readyInstances >= 1";
  HealthContext ctx{.wd_key = "prod/wd", .dependent_key = "Deployment/prod/app"};
  ctx.evaluator = &eval;
  json cluster = {{"status", {{"readyInstances", 2}}}};
  EXPECT_EQ(EvaluateHealth(d, Observation::Object(cluster), ctx).state, DepState::kHealthy);
  cluster["status"]["readyInstances"] = 0;
  EXPECT_EQ(EvaluateHealth(d, Observation::Object(cluster), ctx).state, DepState::kUnhealthy);
  // A missing field is an evaluation error: Unknown, never unhealthy.
  Health h = EvaluateHealth(d, Observation::Object(json{{"status", json::object()}}), ctx);
  EXPECT_EQ(h.state, DepState::kUnknown);
  EXPECT_THAT(h.message, HasSubstr("expression error"));
  // A compile error is reported with its position.
  d.condition.expression = "resorce.status.x";
  h = EvaluateHealth(d, Observation::Object(cluster), ctx);
  EXPECT_EQ(h.state, DepState::kUnknown);
  EXPECT_THAT(h.message, HasSubstr("compiling condition.expression"));
  // Non-boolean results are errors too.
  EXPECT_FALSE(eval.EvaluateBool("1 + 1", cluster).has_value());
}

TEST(CelExpressionEvaluatorTest, CacheIsBounded) {
  CelExpressionEvaluator eval(2);
  json o = {{"a", 1}};
  for (int i = 0; i < 10; ++i) {
    auto r = eval.EvaluateBool("resource.a == " + std::to_string(i % 3), o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(*r, i % 3 == 1);
  }
}

// The CRD's x-kubernetes-validations rules, evaluated with `self` bound as the API server does.
class CrdRuleTest : public ::testing::Test {
 protected:
  static Result<bool> Eval(const json& rule_owner_schema, const json& self) {
    cel::Env env;
    env.variables = {"self"};
    std::string rule = rule_owner_schema["x-kubernetes-validations"][0]["rule"];
    cel::Activation act;
    act.BindJson("self", self);
    return cel::EvaluateBool(rule, env, act);
  }
  static const json& SpecSchema() {
    static const json s = WorkloadDependencyCrd()["spec"]["versions"][0]["schema"]
                                                 ["openAPIV3Schema"]["properties"]["spec"];
    return s;
  }
  static json Example() {
    return json::parse(R"({
      "dependent": {"kind": "Deployment", "name": "payments-service", "namespace": "production"},
      "dependsOn": [
        {"kind": "Deployment", "name": "postgresql",
         "condition": {"minReadyPercent": 80, "window": "30s", "recoveryWindow": "60s"}},
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg-main",
         "condition": {"expression": "resource.status.readyInstances >= 1"}},
        {"prometheus": {"query": "pg_up == 1"}}],
      "notify": {"webhook": "https://hooks.example/abc"}})");
  }
};

TEST_F(CrdRuleTest, AcceptsTheExample) {
  json spec = Example();
  EXPECT_EQ(Eval(SpecSchema(), spec), true);
  const json& item = SpecSchema()["properties"]["dependsOn"]["items"];
  for (const auto& entry : spec["dependsOn"]) EXPECT_EQ(Eval(item, entry), true) << entry;
  EXPECT_EQ(Eval(SpecSchema()["properties"]["notify"], spec["notify"]), true);
}

TEST_F(CrdRuleTest, ExactlyOneOfPerEntryAgreesWithTheDecoder) {
  const json& item = SpecSchema()["properties"]["dependsOn"]["items"];
  for (const char* entry :
       {R"({"kind": "Cluster", "name": "pg", "condition": {"expression": "true"}})",
        R"({"apiVersion": "x/v1", "kind": "Cluster", "name": "pg"})",
        R"({"apiVersion": "v1", "kind": "Deployment", "name": "a"})", R"({"kind": "Deployment"})",
        R"({"prometheus": {"query": "up"}, "name": "x"})",
        R"({"prometheus": {"query": "up"}, "condition": {"expression": "true"}})", R"({})"}) {
    json e = json::parse(entry);
    EXPECT_EQ(Eval(item, e), false) << entry;
    json spec = Example();
    spec["dependsOn"] = json::array({e});
    EXPECT_FALSE(ValidateSpec(spec, "production").empty()) << entry;
  }
  for (const char* entry :
       {R"({"kind": "Rollout", "name": "r"})",
        R"({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "r"})",
        R"({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d"})",
        R"({"prometheus": {"query": "up"}, "condition": {"window": "1m"}})"}) {
    EXPECT_EQ(Eval(item, json::parse(entry)), true) << entry;
  }
}

TEST_F(CrdRuleTest, NotifyNeedsExactlyOneTarget) {
  const json& notify = SpecSchema()["properties"]["notify"];
  EXPECT_EQ(Eval(notify, json::parse(R"({"webhookSecretRef": {"name": "s"}})")), true);
  EXPECT_EQ(Eval(notify, json::parse(R"({"format": "slack"})")), false);
  EXPECT_EQ(
      Eval(notify, json::parse(R"({"webhook": "https://a", "webhookSecretRef": {"name": "s"}})")),
      false);
}

TEST_F(CrdRuleTest, DependentMustNotBeInItsOwnDependsOn) {
  json spec = Example();
  spec["dependsOn"].push_back(
      {{"kind", "Deployment"}, {"name", "payments-service"}, {"namespace", "production"}});
  EXPECT_EQ(Eval(SpecSchema(), spec), false);
  spec["dependsOn"].back()["kind"] = "StatefulSet";
  EXPECT_EQ(Eval(SpecSchema(), spec), true);
  spec = Example();
  spec["dependent"].erase("namespace");
  spec["dependsOn"].push_back({{"kind", "Deployment"}, {"name", "payments-service"}});
  EXPECT_EQ(Eval(SpecSchema(), spec), false);
}

}  // namespace
}  // namespace tether::deps
