#include "deps/types.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tether::deps {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The §2.1 example, as JSON.
json ExampleSpec() {
  return json::parse(R"({
    "dependent": {"kind": "Deployment", "name": "payments-service", "namespace": "production"},
    "dependsOn": [
      {"kind": "Deployment", "name": "postgresql",
       "condition": {"minReadyPercent": 80, "window": "30s", "recoveryWindow": "60s"}},
      {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg-main",
       "condition": {"expression": "resource.status.readyInstances >= 1"}},
      {"prometheus": {"query": "pg_up{service=\"postgresql\"} == 1"}}
    ],
    "onDegraded": {"action": "ScaleToZero", "maxSuspendDuration": "4h"},
    "mode": "strict",
    "cascade": true,
    "notify": {"webhook": "https://hooks.example/abc", "format": "json",
               "signingSecretRef": {"name": "hook-hmac", "key": "key"},
               "onPhases": ["Suspended", "Healthy", "Released"]}
  })");
}

TEST(DecodeSpecTest, DecodesTheSpecExample) {
  auto spec = DecodeSpec(ExampleSpec(), "production");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->dependent.Key(), "Deployment/production/payments-service");
  ASSERT_EQ(spec->depends_on.size(), 3u);
  const auto& pg = spec->depends_on[0];
  EXPECT_EQ(pg.type, Dependency::Type::kWorkload);
  EXPECT_EQ(pg.Ref(), "Deployment/production/postgresql");
  EXPECT_EQ(pg.condition.min_ready_percent, 80);
  EXPECT_EQ(pg.condition.window, std::chrono::seconds(30));
  EXPECT_EQ(pg.condition.recovery_window, std::chrono::seconds(60));
  const auto& cluster = spec->depends_on[1];
  EXPECT_EQ(cluster.type, Dependency::Type::kObject);
  EXPECT_EQ(cluster.api_version, "postgresql.cnpg.io/v1");
  EXPECT_EQ(cluster.condition.expression, "resource.status.readyInstances >= 1");
  const auto& prom = spec->depends_on[2];
  EXPECT_EQ(prom.type, Dependency::Type::kPrometheus);
  EXPECT_EQ(prom.prometheus_query, "pg_up{service=\"postgresql\"} == 1");
  EXPECT_EQ(spec->max_suspend_duration, std::chrono::hours(4));
  EXPECT_EQ(spec->mode, Mode::kStrict);
  ASSERT_TRUE(spec->notify.has_value());
  EXPECT_EQ(spec->notify->webhook, "https://hooks.example/abc");
  ASSERT_TRUE(spec->notify->signing_secret_ref.has_value());
  EXPECT_EQ(spec->notify->signing_secret_ref->name, "hook-hmac");
}

TEST(DecodeSpecTest, AppliesDefaults) {
  auto spec = DecodeSpec(json::parse(R"({
    "dependent": {"kind": "StatefulSet", "name": "web"},
    "dependsOn": [{"kind": "Deployment", "name": "db", "namespace": "data"},
                  {"kind": "DaemonSet", "name": "agent"}],
    "notify": {"webhookSecretRef": {"name": "slack"}}
  })"),
                         "shop");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->dependent.Key(), "StatefulSet/shop/web");
  EXPECT_EQ(spec->depends_on[0].Ref(), "Deployment/data/db");
  EXPECT_EQ(spec->depends_on[1].Ref(), "DaemonSet/shop/agent");
  EXPECT_EQ(spec->depends_on[1].condition.min_ready_percent, 100);
  EXPECT_EQ(spec->depends_on[1].condition.window, std::chrono::seconds(30));
  EXPECT_EQ(spec->depends_on[1].condition.recovery_window, std::chrono::seconds(60));
  EXPECT_EQ(spec->mode, Mode::kStrict);
  EXPECT_TRUE(spec->cascade);
  EXPECT_FALSE(spec->max_suspend_duration.has_value());
  EXPECT_EQ(spec->on_degraded_action, "ScaleToZero");
  ASSERT_TRUE(spec->notify->webhook_secret_ref.has_value());
  EXPECT_EQ(spec->notify->webhook_secret_ref->key, "url");
  EXPECT_EQ(spec->notify->format, NotifyFormat::kJson);
  EXPECT_THAT(spec->notify->on_phases,
              ElementsAre(Phase::kSuspended, Phase::kHealthy, Phase::kReleased));
}

TEST(DecodeSpecTest, BadDurationNamesFieldProblemAndFix) {
  json s = ExampleSpec();
  s["dependsOn"][1]["condition"]["window"] = "30 s";
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre("spec.dependsOn[1].condition.window: \"30 s\" is not a duration; use "
                          "e.g. \"30s\", \"1m30s\""));
}

TEST(DecodeSpecTest, CollectsAllProblems) {
  json s = json::parse(R"({
    "dependent": {"kind": "Pod", "name": "x"},
    "dependsOn": [{"kind": "Deployment"}, {"prometheus": {"query": "up"}, "kind": "Deployment"}],
    "mode": "lenient",
    "onDegraded": {"maxSuspendDuration": "4 hours"},
    "notify": {"webhook": "ftp://x", "format": "xml", "onPhases": ["Sleeping"]}
  })");
  auto problems = ValidateSpec(s, "ns");
  EXPECT_EQ(problems.size(), 8u) << json(problems).dump(1);
  auto result = DecodeSpec(s, "ns");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalid);
  for (const auto& p : problems) EXPECT_THAT(result.error().message, HasSubstr(p));
  EXPECT_THAT(result.error().message, HasSubstr("spec.dependent.kind: \"Pod\""));
  EXPECT_THAT(result.error().message, HasSubstr("spec.dependsOn[0]: is missing name"));
  EXPECT_THAT(result.error().message,
              HasSubstr("spec.dependsOn[1]: sets prometheus together with a workload"));
  EXPECT_THAT(result.error().message, HasSubstr("spec.mode: \"lenient\" is not a mode; use "
                                                "strict, soft, gate or observe"));
  EXPECT_THAT(result.error().message, HasSubstr("spec.onDegraded.maxSuspendDuration"));
  EXPECT_THAT(result.error().message, HasSubstr("spec.notify.webhook: \"ftp://x\""));
  EXPECT_THAT(result.error().message, HasSubstr("spec.notify.format"));
  EXPECT_THAT(result.error().message, HasSubstr("spec.notify.onPhases[0]"));
}

TEST(DecodeSpecTest, RequiresDependentAndDependsOn) {
  auto problems = ValidateSpec(json::object(), "ns");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_THAT(problems[0], HasSubstr("spec.dependent: is required"));
  EXPECT_THAT(problems[1], HasSubstr("spec.dependsOn: is required"));
  EXPECT_THAT(ValidateSpec(json::array(), "ns"), ElementsAre(HasSubstr("spec: must be an object")));
}

TEST(DecodeSpecTest, DependsOnBounds) {
  json s = ExampleSpec();
  s["dependsOn"] = json::array();
  EXPECT_THAT(ValidateSpec(s, "production"), ElementsAre(HasSubstr("spec.dependsOn: has 0")));
  for (int i = 0; i < 33; ++i)
    s["dependsOn"].push_back({{"kind", "Deployment"}, {"name", "d" + std::to_string(i)}});
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre("spec.dependsOn: has 33 entries; list between 1 and 32 dependencies"));
  s["dependsOn"].erase(s["dependsOn"].begin());
  EXPECT_THAT(ValidateSpec(s, "production"), IsEmpty());
}

TEST(DecodeSpecTest, ExactlyOneOfPerEntry) {
  auto check = [](json entry) {
    json s = ExampleSpec();
    s["dependsOn"] = json::array({entry});
    return ValidateSpec(s, "production");
  };
  // Object ref without apiVersion.
  EXPECT_THAT(check(json::parse(R"({"kind": "Cluster", "name": "pg",
      "condition": {"expression": "true"}})")),
              ElementsAre(HasSubstr("spec.dependsOn[0].apiVersion: is required")));
  // Unknown kind without an expression.
  EXPECT_THAT(check(json::parse(R"({"apiVersion": "x/v1", "kind": "Cluster", "name": "pg"})")),
              ElementsAre(HasSubstr("spec.dependsOn[0].kind: \"Cluster\" has no built-in")));
  // A workload ref may carry its canonical apiVersion, but not another one.
  EXPECT_THAT(check(json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment", "name": "a"})")),
              IsEmpty());
  EXPECT_THAT(check(json::parse(R"({"apiVersion": "v1", "kind": "Deployment", "name": "a"})")),
              ElementsAre(HasSubstr("spec.dependsOn[0].apiVersion")));
  // Nothing at all.
  EXPECT_THAT(check(json::object()),
              ElementsAre(HasSubstr("spec.dependsOn[0]: is missing kind and name; each entry is "
                                    "exactly one of")));
  // prometheus with a name.
  EXPECT_THAT(check(json::parse(R"({"prometheus": {"query": "up"}, "name": "x"})")),
              ElementsAre(HasSubstr("sets prometheus together")));
  EXPECT_THAT(check(json::parse(R"({"prometheus": {}})")),
              ElementsAre(HasSubstr("spec.dependsOn[0].prometheus.query: is required")));
  // minReadyPercent bounds and type.
  EXPECT_THAT(check(json::parse(R"({"kind": "Deployment", "name": "a",
      "condition": {"minReadyPercent": 101}})")),
              ElementsAre(HasSubstr("minReadyPercent: 101 is out of range")));
  EXPECT_THAT(check(json::parse(R"({"kind": "Deployment", "name": "a",
      "condition": {"minReadyPercent": "80"}})")),
              ElementsAre(HasSubstr("minReadyPercent: must be a integer, got string")));
}

TEST(DecodeSpecTest, NotifyNeedsExactlyOneTarget) {
  json s = ExampleSpec();
  s["notify"] = json::parse(R"({"webhook": "https://a", "webhookSecretRef": {"name": "s"}})");
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre("spec.notify: sets both webhook and webhookSecretRef; set exactly one "
                          "of them"));
  s["notify"] = json::parse(R"({"format": "slack"})");
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre(HasSubstr("sets neither webhook nor webhookSecretRef")));
  s["notify"] = json::parse(R"({"webhook": "http://"})");
  EXPECT_THAT(ValidateSpec(s, "production"), ElementsAre(HasSubstr("is not an http(s) URL")));
}

TEST(DecodeSpecTest, DependentMustNotDependOnItself) {
  json s = ExampleSpec();
  s["dependsOn"].push_back(json::parse(R"({"kind": "Deployment", "name": "payments-service"})"));
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre(HasSubstr("spec.dependsOn[3]: is the dependent "
                                    "Deployment/production/payments-service itself")));
  // Same name, other kind or namespace: a different workload.
  s["dependsOn"][3]["kind"] = "StatefulSet";
  EXPECT_THAT(ValidateSpec(s, "production"), IsEmpty());
  s["dependsOn"][3]["kind"] = "Deployment";
  s["dependsOn"][3]["namespace"] = "staging";
  EXPECT_THAT(ValidateSpec(s, "production"), IsEmpty());
}

TEST(DecodeSpecTest, RejectsAbsurdDurations) {
  json s = ExampleSpec();
  s["onDegraded"]["maxSuspendDuration"] = "100000h";
  EXPECT_THAT(ValidateSpec(s, "production"),
              ElementsAre("spec.onDegraded.maxSuspendDuration: \"100000h\" is too long; use at "
                          "most 87600h (10 years)"));
}

TEST(StatusTest, IgnoresImplausibleTimes) {
  Status st = DecodeStatus(json::parse(R"({"suspendedAt": "9999-01-01T00:00:00Z",
      "degradedSince": "1960-01-01T00:00:00Z", "healthySince": "2026-06-15T03:00:00Z"})"));
  EXPECT_FALSE(st.suspended_at.has_value());
  EXPECT_FALSE(st.degraded_since.has_value());
  EXPECT_EQ(st.healthy_since, FakeClock::DefaultStart());
}

TEST(DurationTest, MatchesThePattern) {
  for (auto ok : {"30s", "1m30s", "1.5h", "100ms", "4h", "0s", "1h2m3s4ms"}) {
    EXPECT_TRUE(IsValidDuration(ok)) << ok;
  }
  for (auto bad : {"", "30", "30 s", "s", "1.s", ".5s", "-1s", "1d", "1mss", "30S"}) {
    EXPECT_FALSE(IsValidDuration(bad)) << bad;
  }
}

TEST(StatusTest, EncodesOnlySetFieldsAndRoundTrips) {
  Status s;
  EXPECT_EQ(EncodeStatus(s), json::object());
  TimePoint t = FakeClock::DefaultStart();
  s.observed_generation = 3;
  s.phase = Phase::kSuspended;
  s.message = "dependency Deployment/postgresql not healthy: 0/3 ready (< 80%)";
  s.saved_replicas = 3;
  s.suspended_at = t;
  s.dependencies.push_back(DependencyStatus{.ref = "Deployment/production/postgresql",
                                            .state = DepState::kUnhealthy,
                                            .ready = 0,
                                            .desired = 3,
                                            .since = t,
                                            .message = "0/3 ready (< 80%)",
                                            .unhealthy_since = t});
  s.conditions.push_back(StatusCondition{.type = "Ready",
                                         .status = "False",
                                         .reason = "DependentSuspended",
                                         .message = "m",
                                         .last_transition_time = t,
                                         .observed_generation = 3});
  s.last_notified_phase = Phase::kSuspended;
  json j = EncodeStatus(s);
  EXPECT_EQ(j["phase"], "Suspended");
  EXPECT_EQ(j["suspendedAt"], "2026-06-15T03:00:00Z");
  EXPECT_FALSE(j.contains("degradedSince"));
  EXPECT_FALSE(j.contains("healthySince"));
  EXPECT_EQ(j["dependencies"][0]["state"], "Unhealthy");
  EXPECT_EQ(j["dependencies"][0]["ready"], 0);
  EXPECT_EQ(j["conditions"][0]["lastTransitionTime"], "2026-06-15T03:00:00Z");
  EXPECT_EQ(j["lastNotifiedPhase"], "Suspended");
  EXPECT_EQ(DecodeStatus(j), s);
}

TEST(StatusTest, DecodeIsLenient) {
  Status s = DecodeStatus(json::parse(R"({"phase": "Bogus", "suspendedAt": "yesterday",
      "dependencies": [1, {"ref": "a", "state": "Healthy"}], "conditions": "x"})"));
  EXPECT_FALSE(s.phase.has_value());
  EXPECT_FALSE(s.suspended_at.has_value());
  ASSERT_EQ(s.dependencies.size(), 1u);
  EXPECT_EQ(s.dependencies[0].state, DepState::kHealthy);
  EXPECT_EQ(DecodeStatus(json("x")), Status{});
}

}  // namespace
}  // namespace tether::deps
