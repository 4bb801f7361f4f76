#include "deps/health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::deps {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Dependency Workload(std::string kind, std::string name, int min_percent = 100) {
  Dependency d;
  d.type = Dependency::Type::kWorkload;
  d.kind = std::move(kind);
  d.name = std::move(name);
  d.namespace_ = "prod";
  d.condition.min_ready_percent = min_percent;
  return d;
}

json Deploy(std::optional<int64_t> replicas, int64_t ready, int64_t generation = 2,
            std::optional<int64_t> observed = 2) {
  json o = {{"metadata", {{"name", "db"}, {"generation", generation}}},
            {"spec", json::object()},
            {"status", {{"readyReplicas", ready}}}};
  if (replicas) o["spec"]["replicas"] = *replicas;
  if (observed) o["status"]["observedGeneration"] = *observed;
  return o;
}

HealthContext Ctx() {
  return {.wd_key = "prod/app-needs-db", .dependent_key = "Deployment/prod/app"};
}

TEST(HealthTest, DeploymentRatioIsExact) {
  auto h =
      EvaluateHealth(Workload("Deployment", "db", 80), Observation::Object(Deploy(3, 2)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);  // 66.67% < 80%
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_EQ(h.message, "2/3 ready (< 80%)");
  EXPECT_EQ(h.ready, 2);
  EXPECT_EQ(h.desired, 3);
  EXPECT_THAT(h.root_causes, ElementsAre("Deployment/prod/db"));

  h = EvaluateHealth(Workload("Deployment", "db", 66), Observation::Object(Deploy(3, 2)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);  // 66.67% >= 66%
  EXPECT_EQ(h.message, "2/3 ready");
  h = EvaluateHealth(Workload("Deployment", "db", 67), Observation::Object(Deploy(3, 2)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);  // 66.67% < 67%
  h = EvaluateHealth(Workload("StatefulSet", "db", 80), Observation::Object(Deploy(5, 4)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);  // exactly 80%
  h = EvaluateHealth(Workload("ReplicaSet", "db"), Observation::Object(Deploy(3, 0)), Ctx());
  EXPECT_EQ(h.message, "0/3 ready (< 100%)");
}

TEST(HealthTest, AbsurdCountsDoNotOverflow) {
  int64_t huge = int64_t{1} << 62;
  auto h = EvaluateHealth(Workload("Deployment", "db", 80),
                          Observation::Object(Deploy(huge, huge - 1)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
  h = EvaluateHealth(Workload("Deployment", "db"), Observation::Object(Deploy(-3, 0)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);
}

TEST(HealthTest, AbsentReplicasMeansOne) {
  auto h = EvaluateHealth(Workload("Deployment", "db"),
                          Observation::Object(Deploy(std::nullopt, 1)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
  EXPECT_EQ(h.desired, 1);
}

TEST(HealthTest, StaleObservedGenerationIsUnknownNotUnhealthy) {
  auto h =
      EvaluateHealth(Workload("Deployment", "db"), Observation::Object(Deploy(3, 0, 5, 4)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnknown);
  EXPECT_EQ(h.verdict, Verdict::kUnknown);
  EXPECT_THAT(h.message, HasSubstr("generation 5"));
  h = EvaluateHealth(Workload("Deployment", "db"),
                     Observation::Object(Deploy(3, 3, 1, std::nullopt)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnknown);
  h = EvaluateHealth(Workload("Deployment", "db"), Observation::Object(Deploy(3, 3, 5, 6)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
}

TEST(HealthTest, ZeroDesiredIsUnhealthyUnlessCoSuspended) {
  auto h = EvaluateHealth(Workload("Deployment", "db"), Observation::Object(Deploy(0, 0)), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);
  EXPECT_EQ(h.message, "scaled to 0 replicas");
}

TEST(HealthTest, MinReadyZeroMeansExists) {
  auto h =
      EvaluateHealth(Workload("Deployment", "db", 0), Observation::Object(Deploy(0, 0)), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
  h = EvaluateHealth(Workload("Deployment", "db", 0), Observation::NotFound(), Ctx());
  EXPECT_EQ(h.state, DepState::kNotFound);
}

TEST(HealthTest, DaemonSet) {
  json ds = {
      {"metadata", {{"generation", 1}}},
      {"status", {{"observedGeneration", 1}, {"desiredNumberScheduled", 0}, {"numberReady", 0}}}};
  auto h = EvaluateHealth(Workload("DaemonSet", "agent"), Observation::Object(ds), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
  ds["status"]["desiredNumberScheduled"] = 4;
  ds["status"]["numberReady"] = 3;
  h = EvaluateHealth(Workload("DaemonSet", "agent", 75), Observation::Object(ds), Ctx());
  EXPECT_EQ(h.state, DepState::kHealthy);
  h = EvaluateHealth(Workload("DaemonSet", "agent"), Observation::Object(ds), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);
  EXPECT_EQ(h.message, "3/4 ready (< 100%)");
}

TEST(HealthTest, Rollout) {
  json ro = {{"metadata", {{"generation", 3}}},
             {"spec", {{"replicas", 4}}},
             {"status", {{"phase", "Healthy"}, {"readyReplicas", 4}, {"observedGeneration", "3"}}}};
  auto dep = Workload("Rollout", "api", 75);
  EXPECT_EQ(EvaluateHealth(dep, Observation::Object(ro), Ctx()).state, DepState::kHealthy);
  ro["status"]["phase"] = "Progressing";
  ro["status"]["readyReplicas"] = 3;
  EXPECT_EQ(EvaluateHealth(dep, Observation::Object(ro), Ctx()).state, DepState::kHealthy);
  ro["status"]["phase"] = "Paused";
  EXPECT_EQ(EvaluateHealth(dep, Observation::Object(ro), Ctx()).state, DepState::kHealthy);
  ro["status"]["readyReplicas"] = 2;
  EXPECT_EQ(EvaluateHealth(dep, Observation::Object(ro), Ctx()).state, DepState::kUnhealthy);
  ro["status"]["readyReplicas"] = 4;
  ro["status"]["phase"] = "Degraded";
  auto h = EvaluateHealth(dep, Observation::Object(ro), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);
  EXPECT_EQ(h.message, "rollout phase is Degraded");
  // A non-numeric (hash) observedGeneration does not make it Unknown.
  ro["status"]["phase"] = "Healthy";
  ro["status"]["observedGeneration"] = "7d9f8c";
  EXPECT_EQ(EvaluateHealth(dep, Observation::Object(ro), Ctx()).state, DepState::kHealthy);
}

class FakeEvaluator : public ExpressionEvaluator {
 public:
  Result<bool> EvaluateBool(std::string_view expression, const json& resource) const override {
    if (expression == "boom") return Fail(ErrorCode::kInvalid, "no such key: readyInstances");
    return resource.value("/status/ready"_json_pointer, false);
  }
};

TEST(HealthTest, ObjectWithExpression) {
  Dependency d;
  d.type = Dependency::Type::kObject;
  d.api_version = "postgresql.cnpg.io/v1";
  d.kind = "Cluster";
  d.name = "pg";
  d.namespace_ = "prod";
  d.condition.expression = "resource.status.ready";
  FakeEvaluator eval;
  HealthContext ctx = Ctx();
  ctx.evaluator = &eval;
  json obj = {{"status", {{"ready", true}}}};
  EXPECT_EQ(EvaluateHealth(d, Observation::Object(obj), ctx).state, DepState::kHealthy);
  obj["status"]["ready"] = false;
  auto h = EvaluateHealth(d, Observation::Object(obj), ctx);
  EXPECT_EQ(h.state, DepState::kUnhealthy);
  EXPECT_THAT(h.root_causes, ElementsAre("Cluster/prod/pg"));
  d.condition.expression = "boom";
  h = EvaluateHealth(d, Observation::Object(obj), ctx);
  EXPECT_EQ(h.state, DepState::kUnknown);
  EXPECT_EQ(h.message, "expression error: no such key: readyInstances");
  // Without an evaluator nothing is assumed.
  EXPECT_EQ(EvaluateHealth(d, Observation::Object(obj), Ctx()).state, DepState::kUnknown);
}

TEST(HealthTest, Prometheus) {
  Dependency d;
  d.type = Dependency::Type::kPrometheus;
  d.prometheus_query = "up == 1";
  EXPECT_EQ(EvaluateHealth(d, Observation::PrometheusSamples(2), Ctx()).message,
            "query returned 2 samples");
  auto h = EvaluateHealth(d, Observation::PrometheusSamples(0), Ctx());
  EXPECT_EQ(h.state, DepState::kUnhealthy);
  EXPECT_THAT(h.root_causes, ElementsAre("Prometheus/prod/app-needs-db"));
  h = EvaluateHealth(d, Observation::PrometheusError("connection refused"), Ctx());
  EXPECT_EQ(h.state, DepState::kUnknown);
  EXPECT_EQ(h.message, "prometheus query failed: connection refused");
}

TEST(HealthTest, MissingIsNotFoundAndUnobservableIsUnknown) {
  auto h = EvaluateHealth(Workload("Deployment", "db"), Observation::NotFound(), Ctx());
  EXPECT_EQ(h.state, DepState::kNotFound);
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_EQ(h.message, "Deployment/db not found");
  for (auto why : {"cache not synced", "watch broken", "forbidden: RBAC denies list"}) {
    h = EvaluateHealth(Workload("Deployment", "db"), Observation::Unobservable(why), Ctx());
    EXPECT_EQ(h.state, DepState::kUnknown);
    EXPECT_EQ(h.verdict, Verdict::kUnknown);
    EXPECT_EQ(h.message, why);
  }
}

json Suspended(std::string because, std::string by = "prod/other") {
  json o = Deploy(0, 0);
  o["metadata"]["annotations"] = {{"tether.dev/suspended-by", by},
                                  {"tether.dev/saved-replicas", "3"},
                                  {"tether.dev/suspended-because", because}};
  return o;
}

TEST(HealthTest, CoSuspendedCascades) {
  auto h = EvaluateHealth(Workload("Deployment", "payments"),
                          Observation::Object(Suspended("Deployment/prod/db")), Ctx());
  EXPECT_EQ(h.state, DepState::kCoSuspended);
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);
  // A suspension based on it carries the root cause, not the intermediate workload.
  EXPECT_THAT(h.root_causes, ElementsAre("Deployment/prod/db"));
  EXPECT_THAT(h.message, HasSubstr("suspended by tether (prod/other) because Deployment/prod/db"));
}

TEST(HealthTest, CoSuspendedWithoutCascadeIsHealthy) {
  HealthContext ctx = Ctx();
  ctx.cascade = false;
  auto h = EvaluateHealth(Workload("Deployment", "payments"),
                          Observation::Object(Suspended("Deployment/prod/db")), ctx);
  EXPECT_EQ(h.state, DepState::kCoSuspended);
  EXPECT_EQ(h.verdict, Verdict::kHealthy);
}

TEST(HealthTest, CoSuspendedBecauseOfOwnDependentIsHealthy) {
  auto h = EvaluateHealth(Workload("Deployment", "b"),
                          Observation::Object(Suspended("Deployment/prod/x,Deployment/prod/app")),
                          Ctx());
  EXPECT_EQ(h.state, DepState::kCoSuspended);
  EXPECT_EQ(h.verdict, Verdict::kHealthy);
}

TEST(HealthTest, MutualSuspensionTieBreakRestoresExactlyOneSide) {
  // a and b both suspended because of each other; only the side with the smaller key treats
  // the other as healthy.
  HealthContext for_a{.wd_key = "prod/a-needs-b",
                      .dependent_key = "Deployment/prod/a",
                      .own_root_causes = {"Deployment/prod/b"}};
  HealthContext for_b{.wd_key = "prod/b-needs-a",
                      .dependent_key = "Deployment/prod/b",
                      .own_root_causes = {"Deployment/prod/a"}};
  auto b_seen_by_a = EvaluateHealth(Workload("Deployment", "b"),
                                    Observation::Object(Suspended("Deployment/prod/a")), for_a);
  auto a_seen_by_b = EvaluateHealth(Workload("Deployment", "a"),
                                    Observation::Object(Suspended("Deployment/prod/b")), for_b);
  EXPECT_EQ(b_seen_by_a.verdict, Verdict::kHealthy);
  EXPECT_EQ(a_seen_by_b.verdict, Verdict::kUnhealthy);
  EXPECT_THAT(a_seen_by_b.message, HasSubstr("waiting for Deployment/prod/a to be restored first"));
}

TEST(DurableRecordTest, RoundTripsThroughAnnotations) {
  DurableRecord r{.suspended_by = "prod/wd",
                  .saved_replicas = 0,
                  .because = {"Deployment/prod/db", "StatefulSet/data/pg"},
                  .suspended_at = FakeClock::DefaultStart()};
  json obj = {{"metadata", {{"annotations", DurableRecordAnnotations(r)}}}};
  EXPECT_EQ(obj["metadata"]["annotations"]["tether.dev/saved-replicas"], "0");
  EXPECT_EQ(obj["metadata"]["annotations"]["tether.dev/suspended-because"],
            "Deployment/prod/db,StatefulSet/data/pg");
  EXPECT_EQ(ReadDurableRecord(obj), r);
  DurableRecord cron{.suspended_by = "prod/wd", .saved_suspend = true, .because = {"x"}};
  obj["metadata"]["annotations"] = DurableRecordAnnotations(cron);
  EXPECT_EQ(ReadDurableRecord(obj), cron);
}

TEST(DurableRecordTest, MissingOrMalformed) {
  EXPECT_FALSE(ReadDurableRecord(json::object()).has_value());
  EXPECT_FALSE(ReadDurableRecord(json::parse(R"({"metadata": {"annotations": {"a": "b"}}})")));
  auto r = ReadDurableRecord(json::parse(R"({"metadata": {"annotations": {
      "tether.dev/suspended-by": "ns/wd", "tether.dev/saved-replicas": "three",
      "tether.dev/saved-suspend": "maybe", "tether.dev/suspended-because": " a , ,b,a"}}})"));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->saved_replicas.has_value());
  EXPECT_FALSE(r->saved_suspend.has_value());
  EXPECT_THAT(r->because, ElementsAre("a", "b"));
}

}  // namespace
}  // namespace tether::deps
