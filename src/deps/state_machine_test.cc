#include "deps/state_machine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deps/sim_test_util.h"

namespace tether::deps {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::Contains;
using testing::DepOn;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using testing::SimpleSpec;
using testing::World;

std::vector<std::string> Reasons(const std::vector<EventSpec>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.reason);
  return out;
}

// ---- Acceptance scenarios ----

TEST(ScenarioTest, ScaleToZeroAfterWindowThenRestoreAfterRecoveryWindow) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "postgresql", 3);
  auto app = w.Add(WorkloadKind::kDeployment, "payments", 3);
  w.AddWd("payments-needs-db",
          SimpleSpec("Deployment", "payments", {DepOn("Deployment", "postgresql")}));
  const TimePoint t0 = w.now;
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("payments-needs-db"), Phase::kHealthy);
  EXPECT_FALSE(w.wds["payments-needs-db"].decisions.back().next_deadline.has_value());

  w.Break(db);
  w.ReconcileAll();
  auto& wd = w.wds["payments-needs-db"];
  EXPECT_EQ(w.PhaseOf("payments-needs-db"), Phase::kDegraded);
  EXPECT_EQ(wd.status.message, "dependency Deployment/postgresql not healthy: 0/3 ready (< 100%)");
  EXPECT_EQ(wd.decisions.back().next_deadline, t0 + 30s);  // the timer is set exactly there
  EXPECT_EQ(w.Replicas(app), 3);

  w.RunUntil(t0 + 30s);
  EXPECT_EQ(w.PhaseOf("payments-needs-db"), Phase::kSuspended);
  EXPECT_EQ(w.Replicas(app), 0);
  EXPECT_EQ(w.actions.at(0).at, t0 + 30s);  // acted at the exact expiry
  json ann = w.Annotations(app);
  EXPECT_EQ(ann["tether.dev/suspended-by"], "prod/payments-needs-db");
  EXPECT_EQ(ann["tether.dev/saved-replicas"], "3");
  EXPECT_EQ(ann["tether.dev/suspended-because"], "Deployment/prod/postgresql");
  EXPECT_EQ(wd.status.saved_replicas, 3);
  EXPECT_EQ(wd.status.suspended_at, t0 + 30s);
  EXPECT_EQ(wd.status.degraded_since, t0);

  w.Advance(40s);
  w.Fix(db);
  const TimePoint fixed = w.now;
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("payments-needs-db"), Phase::kSuspended);
  EXPECT_EQ(wd.status.healthy_since, fixed);
  EXPECT_EQ(wd.decisions.back().next_deadline, fixed + 60s);
  w.RunUntil(fixed + 59s);
  EXPECT_EQ(w.Replicas(app), 0);
  w.RunUntil(fixed + 60s);
  EXPECT_EQ(w.PhaseOf("payments-needs-db"), Phase::kHealthy);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
  EXPECT_FALSE(wd.status.saved_replicas.has_value());
  EXPECT_THAT(Reasons(wd.events), ElementsAre("Degraded", "ScaledToZero", "Restored"));
  EXPECT_TRUE(wd.events[1].on_dependent);
}

TEST(ScenarioTest, BlipShorterThanWindowDoesNothing) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(29s);
  w.Fix(db);
  w.Advance(10min);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_TRUE(w.actions.empty());
  EXPECT_FALSE(w.wds["wd"].status.degraded_since.has_value());
}

TEST(ScenarioTest, RecoveryClockResetsOnRelapse) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  ASSERT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  w.Fix(db);
  w.Advance(50s);
  w.Break(db);  // relapse 50s into the 60s recovery window
  w.Advance(5s);
  EXPECT_FALSE(w.wds["wd"].status.healthy_since.has_value());
  w.Fix(db);
  const TimePoint fixed = w.now;
  w.Advance(59s);
  EXPECT_EQ(w.Replicas(app), 0);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  w.RunUntil(fixed + 60s);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_EQ(w.CountActions(Action::Type::kSuspend), 1);
  EXPECT_EQ(w.CountActions(Action::Type::kRestore), 1);
}

TEST(ScenarioTest, MultipleDependenciesWithDifferentWindows) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto cache = w.Add(WorkloadKind::kStatefulSet, "cache");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app",
                           {DepOn("Deployment", "db", "2m", "10s"),
                            DepOn("StatefulSet", "cache", "10s", "5m")}));
  w.ReconcileAll();
  const TimePoint t0 = w.now;
  w.Break(db);
  w.Break(cache);
  w.ReconcileAll();
  EXPECT_EQ(w.wds["wd"].decisions.back().next_deadline, t0 + 10s);
  w.Advance(10s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_EQ(w.Annotations(app)["tether.dev/suspended-because"], "StatefulSet/prod/cache");
  // Both recover; the slowest recovery window (cache: 5m) decides.
  w.Fix(db);
  w.Fix(cache);
  const TimePoint fixed = w.now;
  w.Advance(4min);
  EXPECT_EQ(w.Replicas(app), 0);
  w.RunUntil(fixed + 5min);
  EXPECT_EQ(w.Replicas(app), 3);
}

TEST(ScenarioTest, DegradedRecoversWhenAllHealthyBeforeAnyWindowExpired) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto q = w.Add(WorkloadKind::kDeployment, "queue");
  w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app",
                           {DepOn("Deployment", "db"), DepOn("Deployment", "queue")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(20s);
  w.Break(q);
  w.Fix(db);
  w.Advance(20s);  // queue unhealthy for 20s only; db's 20s episode ended
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kDegraded);
  EXPECT_THAT(w.wds["wd"].status.message, HasSubstr("Deployment/queue"));
  w.Fix(q);
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  EXPECT_TRUE(w.actions.empty());
}

// ---- Unknown is not unhealthy ----

TEST(ScenarioTest, UnknownNeverSuspends) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.unobservable.insert(db);
  w.Break(db);
  w.Advance(1h);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_TRUE(w.actions.empty());
  EXPECT_EQ(w.wds["wd"].status.dependencies[0].state, DepState::kUnknown);
  EXPECT_FALSE(w.wds["wd"].decisions.back().next_deadline.has_value());
}

TEST(ScenarioTest, UnknownFreezesTheWindowClock) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(20s);
  w.unobservable.insert(db);  // watch breaks: 20s of the 30s window used
  w.Advance(10min);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kDegraded);  // frozen, not healthy
  w.unobservable.erase(db);
  const TimePoint back = w.now;
  w.ReconcileAll();
  EXPECT_EQ(w.wds["wd"].decisions.back().next_deadline, back + 10s);
  w.Advance(9s);
  EXPECT_EQ(w.Replicas(app), 3);
  w.Advance(1s);
  EXPECT_EQ(w.Replicas(app), 0);
}

TEST(ScenarioTest, UnknownWhileSuspendedNeitherRestoresNorActs) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  w.Fix(db);
  w.unobservable.insert(db);
  w.Advance(1h);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_EQ(w.Replicas(app), 0);
}

// ---- Modes ----

TEST(ModeTest, StrictRevertsAManualScaleUpAndKeepsTheSavedCount) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 4);
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  w.ScaleByUser(app, 7);
  Decision d = w.Reconcile("wd");
  EXPECT_EQ(d.action.type, Action::Type::kStrictRevert);
  EXPECT_THAT(d.action.steps, ElementsAre(Field(&PatchStep::target, PatchStep::Target::kScale)));
  EXPECT_EQ(w.Replicas(app), 0);
  EXPECT_EQ(w.Annotations(app)["tether.dev/saved-replicas"], "4");
  EXPECT_THAT(Reasons(d.events), ElementsAre("StrictEnforced"));
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(app), 4);
}

TEST(ModeTest, SoftLeavesAManualScaleUpAndRecoveryLeavesIt) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 4);
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}, "soft"));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  ASSERT_EQ(w.Replicas(app), 0);
  w.ScaleByUser(app, 2);
  w.Advance(1min);
  EXPECT_EQ(w.Replicas(app), 2);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_THAT(w.wds["wd"].status.message, HasSubstr("changed manually"));
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  EXPECT_EQ(w.Replicas(app), 2);  // not "restored" to 4
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
  EXPECT_EQ(w.CountActions(Action::Type::kClearRecord), 1);
}

TEST(ModeTest, SoftRestoresWhenStillAsTetherLeftIt) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 4);
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}, "soft"));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(app), 4);
}

TEST(ModeTest, GateNeverScalesAndBlocksScaleUpsWhileUnhealthy) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}, "gate"));
  w.ReconcileAll();
  auto spec = *DecodeSpec(w.wds["wd"].spec, "prod");
  EXPECT_FALSE(GateBlocksScaleUp(spec, w.wds["wd"].status));
  w.Break(db);
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kDegraded);
  EXPECT_TRUE(GateBlocksScaleUp(spec, w.wds["wd"].status));
  EXPECT_EQ(w.wds["wd"].status.FindCondition("Ready")->reason, "ScaleUpBlocked");
  w.Advance(1h);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_TRUE(w.actions.empty());
  w.Fix(db);
  w.ReconcileAll();
  EXPECT_FALSE(GateBlocksScaleUp(spec, w.wds["wd"].status));
}

TEST(ModeTest, ObserveRunsTheRealWindowsWithoutActing) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "payments-service");
  w.AddWd("wd",
          SimpleSpec("Deployment", "payments-service", {DepOn("Deployment", "db")}, "observe"));
  w.ReconcileAll();
  const TimePoint t0 = w.now;
  w.Break(db);
  w.Advance(29s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kDegraded);
  w.Advance(1s);
  auto& wd = w.wds["wd"];
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kObserved);
  EXPECT_EQ(wd.status.suspended_at, t0 + 30s);
  EXPECT_THAT(wd.status.message,
              HasSubstr("would scale Deployment/payments-service to 0: dependency Deployment/db"));
  EXPECT_EQ(wd.status.FindCondition("Ready")->reason, "WouldSuspend");
  w.Fix(db);
  const TimePoint fixed = w.now;
  w.Advance(59s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kObserved);
  w.RunUntil(fixed + 60s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  EXPECT_TRUE(w.actions.empty());
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
  EXPECT_THAT(Reasons(wd.events), ElementsAre("Degraded", "WouldSuspend", "WouldRestore"));
}

TEST(ModeTest, ChangingModeToGateOrObserveWhileSuspendedRestores) {
  for (std::string mode : {"gate", "observe"}) {
    World w;
    auto db = w.Add(WorkloadKind::kDeployment, "db");
    auto app = w.Add(WorkloadKind::kDeployment, "app", 5);
    w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
    w.ReconcileAll();
    w.Break(db);
    w.Advance(30s);
    ASSERT_EQ(w.Replicas(app), 0);
    w.wds["wd"].spec["mode"] = mode;
    Decision d = w.Reconcile("wd");
    EXPECT_EQ(d.action.type, Action::Type::kRestore) << mode;
    EXPECT_EQ(w.Replicas(app), 5) << mode;
    EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by")) << mode;
    w.Advance(1h);
    EXPECT_EQ(w.Replicas(app), 5) << mode;
  }
}

// ---- Every dependent kind ----

struct KindCase {
  WorkloadKind kind;
  std::size_t suspend_steps;
};

class DependentKindTest : public ::testing::TestWithParam<KindCase> {};

TEST_P(DependentKindTest, SuspendsAndRestoresPerKindSemantics) {
  const WorkloadKind kind = GetParam().kind;
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(kind, "app", 2);
  w.AddWd("wd", SimpleSpec(std::string(KindName(kind)), "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  ASSERT_EQ(w.actions.size(), 1u);
  const Decision* suspend = nullptr;
  for (const auto& d : w.wds["wd"].decisions) {
    if (d.action.type == Action::Type::kSuspend) suspend = &d;
  }
  ASSERT_NE(suspend, nullptr);
  ASSERT_EQ(suspend->action.steps.size(), GetParam().suspend_steps);
  // The durable record is always written first (or atomically with the change).
  EXPECT_TRUE(suspend->action.steps[0].body.contains("metadata"));
  EXPECT_EQ(suspend->action.steps[0].target, PatchStep::Target::kObject);
  json ann = w.Annotations(app);
  EXPECT_EQ(ann["tether.dev/suspended-by"], "prod/wd");
  const json& o = w.Obj(app);
  if (UsesScale(kind)) {
    EXPECT_EQ(suspend->action.steps[1].target, PatchStep::Target::kScale);
    EXPECT_EQ(o["spec"]["replicas"], 0);
    EXPECT_EQ(ann["tether.dev/saved-replicas"], "2");
    EXPECT_EQ(suspend->events[0].reason, "ScaledToZero");
  } else if (UsesSuspendField(kind)) {
    EXPECT_EQ(o["spec"]["suspend"], true);
    EXPECT_EQ(ann["tether.dev/saved-suspend"], "false");
    EXPECT_EQ(suspend->events[0].reason, "Suspended");
  } else {
    EXPECT_EQ(o["spec"]["template"]["spec"]["nodeSelector"]["tether.dev/suspended"], "true");
    EXPECT_EQ(suspend->events[0].reason, "Suspended");
  }
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  const json& r = w.Obj(app);
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/saved-replicas"));
  if (UsesScale(kind)) {
    EXPECT_EQ(r["spec"]["replicas"], 2);
  } else if (UsesSuspendField(kind)) {
    EXPECT_EQ(r["spec"]["suspend"], false);
  } else {
    EXPECT_EQ(r["spec"]["template"]["spec"]["nodeSelector"], json::object());
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, DependentKindTest,
                         ::testing::Values(KindCase{WorkloadKind::kDeployment, 2},
                                           KindCase{WorkloadKind::kStatefulSet, 2},
                                           KindCase{WorkloadKind::kReplicaSet, 2},
                                           KindCase{WorkloadKind::kRollout, 2},
                                           KindCase{WorkloadKind::kCronJob, 1},
                                           KindCase{WorkloadKind::kJob, 1},
                                           KindCase{WorkloadKind::kDaemonSet, 1}),
                         [](const auto& info) { return std::string(KindName(info.param.kind)); });

TEST(DependentTest, AlreadySuspendedCronJobIsRecordedAndRestoredAsSuspended) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto job = w.Add(WorkloadKind::kCronJob, "report");
  w.Obj(job)["spec"]["suspend"] = true;
  w.AddWd("wd", SimpleSpec("CronJob", "report", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  EXPECT_EQ(w.Annotations(job)["tether.dev/saved-suspend"], "true");
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Obj(job)["spec"]["suspend"], true);
}

TEST(DependentTest, DependentAlreadyAtZeroIsRecordedWithItsRealValue) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 0);
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  EXPECT_EQ(w.Annotations(app)["tether.dev/saved-replicas"], "0");
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(app), 0);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
}

TEST(DependentTest, RolloutSuspensionIsDeferredWhileProgressing) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto ro = w.Add(WorkloadKind::kRollout, "api");
  w.AddWd("wd", SimpleSpec("Rollout", "api", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Obj(ro)["status"]["phase"] = "Progressing";
  w.Break(db);
  w.Advance(5min);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kDegraded);
  EXPECT_THAT(w.wds["wd"].status.message,
              HasSubstr("suspension deferred while Rollout/api is Progressing"));
  EXPECT_EQ(w.Replicas(ro), 3);
  w.Obj(ro)["status"]["phase"] = "Healthy";  // the rollout finished: an informer event
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_EQ(w.Replicas(ro), 0);
}

TEST(DependentTest, MissingDependentIsUnknown) {
  World w;
  w.Add(WorkloadKind::kDeployment, "db");
  w.AddWd("wd", SimpleSpec("Deployment", "ghost", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kUnknown);
  EXPECT_EQ(w.wds["wd"].status.message, "dependent Deployment/prod/ghost not found");
  EXPECT_EQ(w.wds["wd"].status.FindCondition("Ready")->reason, "DependentNotFound");
}

TEST(DependentTest, ForeignRecordIsNotOverwritten) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto cache = w.Add(WorkloadKind::kDeployment, "cache");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 3);
  w.AddWd("a-db", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.AddWd("a-cache", SimpleSpec("Deployment", "app", {DepOn("Deployment", "cache", "60s")}));
  w.ReconcileAll();
  w.Break(db);
  w.Break(cache);
  w.Advance(2min);
  EXPECT_EQ(w.Annotations(app)["tether.dev/suspended-by"], "prod/a-db");
  EXPECT_EQ(w.Annotations(app)["tether.dev/saved-replicas"], "3");
  EXPECT_EQ(w.PhaseOf("a-cache"), Phase::kDegraded);
  EXPECT_THAT(w.wds["a-cache"].status.message, HasSubstr("already suspended by prod/a-db"));
  // db recovers: a-db restores to 3, then a-cache suspends with the real count.
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Annotations(app)["tether.dev/suspended-by"], "prod/a-cache");
  EXPECT_EQ(w.Annotations(app)["tether.dev/saved-replicas"], "3");
  w.Fix(cache);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(app), 3);
}

// ---- Mutual, transitive, cycles ----

TEST(GraphScenarioTest, MutualPairWithOneSideFailingDoesNotDeadlock) {
  World w;
  auto a = w.Add(WorkloadKind::kDeployment, "a");
  auto b = w.Add(WorkloadKind::kDeployment, "b");
  w.AddWd("b-needs-a", SimpleSpec("Deployment", "b", {DepOn("Deployment", "a")}));
  w.AddWd("a-needs-b", SimpleSpec("Deployment", "a", {DepOn("Deployment", "b")}));
  w.ReconcileAll();
  w.Break(a);
  w.Advance(10min);
  EXPECT_EQ(w.Replicas(b), 0);
  EXPECT_EQ(w.Replicas(a), 3);  // a is not suspended because of b
  EXPECT_EQ(w.PhaseOf("b-needs-a"), Phase::kSuspended);
  EXPECT_EQ(w.PhaseOf("a-needs-b"), Phase::kHealthy);
  EXPECT_EQ(w.wds["a-needs-b"].status.dependencies[0].state, DepState::kCoSuspended);
  w.Fix(a);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(b), 3);
  EXPECT_EQ(w.PhaseOf("b-needs-a"), Phase::kHealthy);
  EXPECT_EQ(w.PhaseOf("a-needs-b"), Phase::kHealthy);
  EXPECT_EQ(w.actions.size(), 2u);
}

TEST(GraphScenarioTest, BothSidesOfAMutualPairFailingDoNotLivelock) {
  World w;
  auto a = w.Add(WorkloadKind::kDeployment, "a");
  auto b = w.Add(WorkloadKind::kDeployment, "b");
  w.AddWd("b-needs-a", SimpleSpec("Deployment", "b", {DepOn("Deployment", "a")}));
  w.AddWd("a-needs-b", SimpleSpec("Deployment", "a", {DepOn("Deployment", "b")}));
  w.ReconcileAll();
  w.Break(a);
  w.Break(b);
  w.Advance(2h);
  // Bounded number of actions and a stable end state: one side up, the other suspended.
  EXPECT_LE(w.actions.size(), 3u);
  EXPECT_EQ((w.Replicas(a) == 0) + (w.Replicas(b) == 0), 1);
  std::size_t settled = w.actions.size();
  w.Advance(2h);
  EXPECT_EQ(w.actions.size(), settled);
  // Fix both: everything comes back without a manual step.
  w.Fix(a);
  w.Fix(b);
  w.Advance(5min);
  EXPECT_EQ(w.Replicas(a), 3);
  EXPECT_EQ(w.Replicas(b), 3);
  EXPECT_EQ(w.PhaseOf("a-needs-b"), Phase::kHealthy);
  EXPECT_EQ(w.PhaseOf("b-needs-a"), Phase::kHealthy);
}

TEST(GraphScenarioTest, ChainCascadesWithTheRootCause) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "database");
  auto pay = w.Add(WorkloadKind::kDeployment, "payments");
  auto checkout = w.Add(WorkloadKind::kDeployment, "checkout");
  w.AddWd("payments-needs-db",
          SimpleSpec("Deployment", "payments", {DepOn("Deployment", "database")}));
  w.AddWd("checkout-needs-payments",
          SimpleSpec("Deployment", "checkout", {DepOn("Deployment", "payments")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  EXPECT_EQ(w.Replicas(pay), 0);
  w.Advance(30s);
  EXPECT_EQ(w.Replicas(checkout), 0);
  EXPECT_EQ(w.Annotations(checkout)["tether.dev/suspended-because"], "Deployment/prod/database");
  EXPECT_EQ(w.wds["checkout-needs-payments"].status.dependencies[0].state, DepState::kCoSuspended);
  w.Fix(db);
  w.Advance(10min);
  EXPECT_EQ(w.Replicas(pay), 3);
  EXPECT_EQ(w.Replicas(checkout), 3);
}

TEST(GraphScenarioTest, CascadeFalseStopsPropagation) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "database");
  auto pay = w.Add(WorkloadKind::kDeployment, "payments");
  auto checkout = w.Add(WorkloadKind::kDeployment, "checkout");
  w.AddWd("payments-needs-db",
          SimpleSpec("Deployment", "payments", {DepOn("Deployment", "database")}));
  json s = SimpleSpec("Deployment", "checkout", {DepOn("Deployment", "payments")});
  s["cascade"] = false;
  w.AddWd("checkout-needs-payments", s);
  w.ReconcileAll();
  w.Break(db);
  w.Advance(10min);
  EXPECT_EQ(w.Replicas(pay), 0);
  EXPECT_EQ(w.Replicas(checkout), 3);
}

TEST(GraphScenarioTest, WorkloadDependencyClosingACycleIsUnknownAndTakesNoAction) {
  World w;
  auto a = w.Add(WorkloadKind::kDeployment, "a");
  w.Add(WorkloadKind::kDeployment, "b");
  w.AddWd("a-needs-b", SimpleSpec("Deployment", "a", {DepOn("Deployment", "b")}));
  w.wds["a-needs-b"].cycle_path =
      "Deployment/prod/a -> Deployment/prod/b -> Deployment/prod/c -> Deployment/prod/a";
  w.ReconcileAll();
  auto& wd = w.wds["a-needs-b"];
  EXPECT_EQ(w.PhaseOf("a-needs-b"), Phase::kUnknown);
  ASSERT_NE(wd.status.FindCondition("CycleDetected"), nullptr);
  EXPECT_EQ(wd.status.FindCondition("CycleDetected")->message, *wd.cycle_path);
  EXPECT_THAT(Reasons(wd.events), ElementsAre("CycleDetected"));
  w.Break(w.Add(WorkloadKind::kDeployment, "b"));
  w.Advance(10min);
  EXPECT_EQ(w.Replicas(a), 3);
  // Unflagged (the cycle was broken elsewhere): the machine runs again.
  wd.cycle_path.reset();
  w.Advance(30s);
  EXPECT_EQ(w.Replicas(a), 0);
  EXPECT_EQ(wd.status.FindCondition("CycleDetected"), nullptr);
}

// ---- Released, pause, restart ----

TEST(ScenarioTest, MaxSuspendDurationReleasesAndHealthyOnlyAfterRealRecovery) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  json s = SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")});
  s["onDegraded"] = {{"maxSuspendDuration", "4h"}};
  w.AddWd("wd", s);
  w.ReconcileAll();
  const TimePoint t0 = w.now;
  w.Break(db);
  w.Advance(30s);
  EXPECT_EQ(w.wds["wd"].decisions.back().next_deadline, t0 + 30s + 4h);
  w.RunUntil(t0 + 30s + 4h);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kReleased);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
  w.Advance(10h);  // still broken: no re-suspension
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kReleased);
  EXPECT_EQ(w.CountActions(Action::Type::kSuspend), 1);
  w.Fix(db);
  w.Advance(59s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kReleased);
  w.Advance(1s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  // After a genuine recovery, a new failure suspends again.
  w.Break(db);
  w.Advance(30s);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_THAT(Reasons(w.wds["wd"].events), Contains("Released"));
}

TEST(ScenarioTest, PauseFreezesEverythingAndUnpauseResumesFromTheRecord) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  ASSERT_EQ(w.Replicas(app), 0);
  w.wds["wd"].paused = true;
  w.Fix(db);
  w.Advance(1h);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kPaused);
  EXPECT_EQ(w.Replicas(app), 0);  // nothing restored
  EXPECT_EQ(w.wds["wd"].status.FindCondition("Paused")->status, "True");
  EXPECT_EQ(w.wds["wd"].status.saved_replicas, 3);
  w.wds["wd"].paused = false;
  w.ReconcileAll();  // db healthy for an hour: restores at once
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kHealthy);
  EXPECT_EQ(w.Replicas(app), 3);
  // Pausing while healthy: a failure is not acted on.
  w.wds["wd"].paused = true;
  w.Break(db);
  w.Advance(1h);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_EQ(w.CountActions(Action::Type::kSuspend), 1);
}

TEST(ScenarioTest, RestartMidSuspensionRestoresFromTheDurableRecord) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app", 6);
  json s = SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")});
  s["onDegraded"] = {{"maxSuspendDuration", "1h"}};
  w.AddWd("wd", s);
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  const TimePoint suspended_at = w.now;
  ASSERT_EQ(w.Replicas(app), 0);
  // New controller, status lost entirely.
  w.wds["wd"].status = Status{};
  w.wds["wd"].decisions.clear();
  w.Advance(10min);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kSuspended);
  EXPECT_EQ(w.wds["wd"].status.saved_replicas, 6);
  EXPECT_EQ(w.wds["wd"].status.suspended_at, suspended_at);  // from the record
  EXPECT_EQ(w.CountActions(Action::Type::kSuspend), 1);
  w.Fix(db);
  w.Advance(60s);
  EXPECT_EQ(w.Replicas(app), 6);
}

TEST(ScenarioTest, InvalidSpecIsUnknownWithInvalidSpecAndAffectsOnlyItself) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  auto other = w.Add(WorkloadKind::kDeployment, "other");
  json bad = SimpleSpec("Deployment", "app", {DepOn("Deployment", "db", "30 s")});
  w.AddWd("bad", bad);
  w.AddWd("good", SimpleSpec("Deployment", "other", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  auto& wd = w.wds["bad"];
  EXPECT_EQ(w.PhaseOf("bad"), Phase::kUnknown);
  EXPECT_EQ(wd.status.FindCondition("Ready")->reason, "InvalidSpec");
  EXPECT_EQ(wd.status.FindCondition("Ready")->status, "False");
  EXPECT_EQ(wd.status.FindCondition("InvalidSpec")->message,
            "spec.dependsOn[0].condition.window: \"30 s\" is not a duration; use e.g. \"30s\", "
            "\"1m30s\"");
  ASSERT_EQ(wd.events.size(), 1u);
  EXPECT_EQ(wd.events[0].type, EventSpec::Type::kWarning);
  w.Break(db);
  w.Advance(1min);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_EQ(w.Replicas(other), 0);
  EXPECT_EQ(wd.events.size(), 1u);  // no repeated event for the same problem
}

// ---- Release on every exit path ----

TEST(ReleaseTest, RestoresOnlyOwnRecord) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kStatefulSet, "app", 4);
  w.AddWd("wd", SimpleSpec("StatefulSet", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  WorkloadRef ref{WorkloadKind::kStatefulSet, "prod", "app"};
  DependentState st = ObserveDependent(ref.kind, w.Obj(app));
  EXPECT_EQ(Release(ref, st, "prod/someone-else").type, Action::Type::kNone);
  Action a = Release(ref, st, "prod/wd");
  ASSERT_EQ(a.type, Action::Type::kRestore);
  EXPECT_EQ(a.replicas, 4);
  ASSERT_EQ(a.steps.size(), 2u);
  EXPECT_EQ(a.steps[0].target, PatchStep::Target::kScale);  // scale back, then clear the record
  EXPECT_EQ(a.steps[0].body, json::parse(R"({"spec": {"replicas": 4}})"));
  EXPECT_TRUE(a.steps[1].body["metadata"]["annotations"]["tether.dev/suspended-by"].is_null());
  w.Apply(a);
  EXPECT_EQ(w.Replicas(app), 4);
  EXPECT_EQ(Release(ref, ObserveDependent(ref.kind, w.Obj(app)), "prod/wd").type,
            Action::Type::kNone);
}

TEST(ReleaseTest, ChangedDependentAsksToReleaseThePreviousOne) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  auto app2 = w.Add(WorkloadKind::kDeployment, "app2");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  w.wds["wd"].spec["dependent"]["name"] = "app2";
  Decision d = w.Reconcile("wd");
  ASSERT_TRUE(d.release_previous_dependent.has_value());
  EXPECT_EQ(*d.release_previous_dependent, app);
  EXPECT_EQ(w.wds["wd"].status.dependent_ref, app2);
  w.Apply(Release({WorkloadKind::kDeployment, "prod", "app"},
                  ObserveDependent(WorkloadKind::kDeployment, w.Obj(app)), "prod/wd"));
  EXPECT_EQ(w.Replicas(app), 3);
}

// ---- Status hygiene, conditions, notifications ----

TEST(DecideTest, StatusIsRewrittenOnlyWhenItChanges) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  EXPECT_TRUE(w.Reconcile("wd").status_changed);
  w.Advance(1min);
  EXPECT_FALSE(w.Reconcile("wd").status_changed);
  w.Break(db);
  EXPECT_TRUE(w.Reconcile("wd").status_changed);
  w.now += 5s;
  EXPECT_FALSE(w.Reconcile("wd").status_changed);
}

TEST(DecideTest, ConditionTransitionTimesMoveOnlyOnStatusFlips) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  const TimePoint t0 = w.now;
  w.ReconcileAll();
  auto& st = w.wds["wd"].status;
  EXPECT_EQ(st.FindCondition("Ready")->status, "True");
  w.now += 10s;
  w.Break(db);
  w.ReconcileAll();
  EXPECT_EQ(st.FindCondition("Ready")->status, "False");
  EXPECT_EQ(st.FindCondition("Ready")->reason, "DependencyUnhealthy");
  EXPECT_EQ(st.FindCondition("Ready")->last_transition_time, t0 + 10s);
  EXPECT_EQ(st.FindCondition("Degraded")->status, "True");
  w.Advance(30s);
  EXPECT_EQ(st.FindCondition("Ready")->reason, "DependentSuspended");
  EXPECT_EQ(st.FindCondition("Ready")->last_transition_time, t0 + 10s);  // still False
  EXPECT_EQ(st.FindCondition("Suspended")->status, "True");
  EXPECT_EQ(st.FindCondition("Suspended")->last_transition_time, t0 + 40s);
  EXPECT_EQ(st.observed_generation, 1);
}

TEST(DecideTest, NotifiesOnConfiguredPhaseTransitionsOnce) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  w.Add(WorkloadKind::kDeployment, "app");
  json s = SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")});
  s["notify"] = {{"webhook", "https://hooks.example/x"}};
  w.AddWd("wd", s);
  w.ReconcileAll();
  auto& wd = w.wds["wd"];
  EXPECT_TRUE(wd.notifications.empty());  // the starting phase is not news
  EXPECT_EQ(wd.status.last_notified_phase, Phase::kHealthy);
  w.Break(db);
  w.Advance(20s);
  w.Fix(db);  // a blip: Degraded is not in onPhases and Healthy was already notified
  w.Advance(1min);
  EXPECT_TRUE(wd.notifications.empty());
  w.Break(db);
  w.Advance(30s);
  ASSERT_EQ(wd.notifications.size(), 1u);
  EXPECT_EQ(wd.notifications[0].phase, Phase::kSuspended);
  EXPECT_EQ(wd.notifications[0].previous_phase, Phase::kDegraded);
  w.Fix(db);
  w.Advance(2min);
  ASSERT_EQ(wd.notifications.size(), 2u);
  EXPECT_EQ(wd.notifications[1].phase, Phase::kHealthy);
  EXPECT_EQ(wd.notifications[1].previous_phase, Phase::kSuspended);
}

TEST(DecideTest, UndeliveredNotificationIsRetriedAfterRestart) {
  DecideInput in;
  in.wd_namespace = "prod";
  in.wd_name = "wd";
  in.now = FakeClock::DefaultStart();
  in.spec = *DecodeSpec(SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}), "prod");
  in.spec->notify = NotifySpec{.webhook = "https://x"};
  in.previous.phase = Phase::kHealthy;
  in.previous.last_notified_phase = Phase::kSuspended;  // Healthy never delivered
  in.health.push_back(Health{.state = DepState::kHealthy, .verdict = Verdict::kHealthy});
  in.dependent.replicas = 3;
  Decision d = Decide(in);
  ASSERT_TRUE(d.notification.has_value());
  EXPECT_EQ(d.notification->phase, Phase::kHealthy);
  EXPECT_EQ(d.notification->previous_phase, Phase::kSuspended);
}

TEST(DecideTest, UnobservableDependentTakesNoActionAndKeepsTheEpisode) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  const TimePoint suspended_at = w.now;
  w.Fix(db);
  w.Advance(10s);
  DecideInput in;
  in.wd_namespace = "prod";
  in.wd_name = "wd";
  in.generation = 1;
  in.now = w.now + 5min;
  in.spec = *DecodeSpec(w.wds["wd"].spec, "prod");
  in.previous = w.wds["wd"].status;
  in.health.push_back(Health{.state = DepState::kHealthy, .verdict = Verdict::kHealthy});
  in.dependent.presence = DependentState::Presence::kUnobservable;
  in.dependent.reason = "cache not synced";
  Decision d = Decide(in);
  EXPECT_EQ(d.action.type, Action::Type::kNone);
  EXPECT_EQ(d.status.phase, Phase::kUnknown);
  EXPECT_EQ(d.status.FindCondition("Ready")->reason, "DependentUnobservable");
  EXPECT_EQ(d.status.suspended_at, suspended_at);
  EXPECT_EQ(d.status.saved_replicas, 3);
  EXPECT_FALSE(d.next_deadline.has_value());
  EXPECT_EQ(w.Replicas(app), 0);
}

TEST(DecideTest, ReleasedRetriesAnIncompleteRestore) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  auto app = w.Add(WorkloadKind::kDeployment, "app");
  json s = SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")});
  s["onDegraded"] = {{"maxSuspendDuration", "1h"}};
  w.AddWd("wd", s);
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  json record = w.Annotations(app);
  w.Advance(1h);
  ASSERT_EQ(w.PhaseOf("wd"), Phase::kReleased);
  // The second restore step (clearing the record) was lost, and someone scaled back to 0.
  w.Obj(app)["metadata"]["annotations"] = record;
  w.ScaleByUser(app, 0);
  Decision d = w.Reconcile("wd");
  EXPECT_EQ(d.action.type, Action::Type::kRestore);
  EXPECT_EQ(w.PhaseOf("wd"), Phase::kReleased);
  EXPECT_EQ(w.Replicas(app), 3);
  EXPECT_FALSE(w.Annotations(app).contains("tether.dev/suspended-by"));
}

TEST(DecideTest, SuspendPatchBodiesAreExact) {
  World w;
  auto db = w.Add(WorkloadKind::kDeployment, "db");
  w.Add(WorkloadKind::kDeployment, "app", 4);
  w.AddWd("wd", SimpleSpec("Deployment", "app", {DepOn("Deployment", "db")}));
  w.ReconcileAll();
  w.Break(db);
  w.Advance(30s);
  const Action* suspend = nullptr;
  for (const auto& d : w.wds["wd"].decisions) {
    if (d.action.type == Action::Type::kSuspend) suspend = &d.action;
  }
  ASSERT_NE(suspend, nullptr);
  EXPECT_EQ(suspend->target.Key(), "Deployment/prod/app");
  EXPECT_EQ(suspend->replicas, 4);
  EXPECT_EQ(suspend->root_causes, std::vector<std::string>{"Deployment/prod/db"});
  ASSERT_EQ(suspend->steps.size(), 2u);
  EXPECT_EQ(suspend->steps[0].target, PatchStep::Target::kObject);
  EXPECT_EQ(suspend->steps[0].body, json::parse(R"({"metadata": {"annotations": {
      "tether.dev/suspended-by": "prod/wd",
      "tether.dev/saved-replicas": "4",
      "tether.dev/suspended-because": "Deployment/prod/db",
      "tether.dev/suspended-at": "2026-06-15T03:00:30Z"}}})"));
  EXPECT_EQ(suspend->steps[1].target, PatchStep::Target::kScale);
  EXPECT_EQ(suspend->steps[1].body, json::parse(R"({"spec": {"replicas": 0}})"));
}

}  // namespace
}  // namespace tether::deps
