#include "deps/explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tether::deps {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const TimePoint kT0 = FakeClock::DefaultStart();  // 2026-06-15T03:00:00Z

std::string At(Duration d) { return FormatRfc3339(kT0 + d); }

json PaymentsWd(json status) {
  return {{"metadata", {{"namespace", "shop"}, {"name", "payments-needs-database"}}},
          {"spec",
           {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
            {"dependsOn",
             {{{"kind", "Deployment"},
               {"name", "database"},
               {"condition",
                {{"minReadyPercent", 80}, {"window", "30s"}, {"recoveryWindow", "60s"}}}}}}}},
          {"status", status}};
}

json SuspendedPayments() {
  return {{"metadata",
           {{"namespace", "shop"},
            {"name", "payments"},
            {"annotations",
             {{"tether.dev/suspended-by", "shop/payments-needs-database"},
              {"tether.dev/saved-replicas", "3"},
              {"tether.dev/suspended-because", "Deployment/shop/database"}}}}},
          {"spec", {{"replicas", 0}}}};
}

json RunningPayments() {
  return {{"metadata", {{"namespace", "shop"}, {"name", "payments"}}}, {"spec", {{"replicas", 3}}}};
}

TEST(ExplainTest, SuspendedAndRecoveringSaysWhenItWillRestore) {
  json status = {{"phase", "Suspended"},
                 {"message", "dependency Deployment/database not healthy: 0/3 ready (< 80%)"},
                 {"suspendedAt", At(0s)},
                 {"healthySince", At(10s)},
                 {"dependencies",
                  {{{"ref", "Deployment/shop/database"},
                    {"state", "Healthy"},
                    {"since", At(10s)},
                    {"healthySince", At(10s)},
                    {"ready", 3},
                    {"desired", 3}}}}};
  std::string text = ExplainWorkloadDependency(PaymentsWd(status), SuspendedPayments(), kT0 + 30s);
  EXPECT_THAT(text, HasSubstr("WorkloadDependency shop/payments-needs-database  (mode strict, "
                              "cascade on)"));
  EXPECT_THAT(text, HasSubstr("Deployment/shop/payments — scaled to 0 by tether; will be "
                              "restored to 3 replicas"));
  EXPECT_THAT(text, HasSubstr("root cause: Deployment/shop/database"));
  EXPECT_THAT(text, HasSubstr("Phase:       Suspended since 03:00:00Z (30s ago)"));
  EXPECT_THAT(text, HasSubstr("Deployment/shop/database  Healthy since 03:00:10Z (20s ago)"));
  EXPECT_THAT(text, HasSubstr("needs 80% ready; window 30s, recovery window 1m0s"));
  EXPECT_THAT(text, HasSubstr("tether will restore Deployment/payments to 3 replicas at "
                              "03:01:10Z (in 40s) if Deployment/database stays healthy"));
}

TEST(ExplainTest, SuspendedWhileStillUnhealthyWaitsForTheDependency) {
  json status = {{"phase", "Suspended"},
                 {"suspendedAt", At(0s)},
                 {"dependencies",
                  {{{"ref", "Deployment/shop/database"},
                    {"state", "Unhealthy"},
                    {"since", At(-30s)},
                    {"message", "0/3 ready (< 80%)"}}}}};
  std::string text = ExplainWorkloadDependency(PaymentsWd(status), SuspendedPayments(), kT0);
  EXPECT_THAT(text, HasSubstr("Unhealthy since 02:59:30Z (30s ago)  (0/3 ready (< 80%))"));
  EXPECT_THAT(text, HasSubstr("waiting for Deployment/database to become healthy; tether will "
                              "restore Deployment/payments to 3 replicas once every dependency"));
}

TEST(ExplainTest, DegradedSaysWhenTheWindowExpires) {
  json status = {{"phase", "Degraded"},
                 {"degradedSince", At(20s)},
                 {"dependencies",
                  {{{"ref", "Deployment/shop/database"},
                    {"state", "Unhealthy"},
                    {"since", At(20s)},
                    {"unhealthySince", At(20s)}}}}};
  std::string text = ExplainWorkloadDependency(PaymentsWd(status), RunningPayments(), kT0 + 30s);
  EXPECT_THAT(text, HasSubstr("Deployment/shop/payments — running, 3 replicas"));
  EXPECT_THAT(text, HasSubstr("tether will scale Deployment/payments to 0 at 03:00:50Z (in 20s) "
                              "unless Deployment/database becomes healthy before then"));

  // Past the deadline (the controller is about to act).
  std::string late = ExplainWorkloadDependency(PaymentsWd(status), RunningPayments(), kT0 + 60s);
  EXPECT_THAT(late,
              HasSubstr("the window has expired: tether will scale Deployment/payments to 0 now"));
}

TEST(ExplainTest, ObserveModeSaysWouldNotWill) {
  json wd = PaymentsWd(
      {{"phase", "Degraded"},
       {"dependencies",
        {{{"ref", "Deployment/shop/database"}, {"state", "Unhealthy"}, {"since", At(0s)}}}}});
  wd["spec"]["mode"] = "observe";
  std::string text = ExplainWorkloadDependency(wd, RunningPayments(), kT0);
  EXPECT_THAT(text, HasSubstr("tether will report that it would scale Deployment/payments to 0 "
                              "at 03:00:30Z (in 30s)"));
}

TEST(ExplainTest, HealthyExplainsWhatWouldTriggerAction) {
  json status = {
      {"phase", "Healthy"},
      {"dependencies",
       {{{"ref", "Deployment/shop/database"}, {"state", "Healthy"}, {"since", At(0s)}}}}};
  std::string text = ExplainWorkloadDependency(PaymentsWd(status), RunningPayments(), kT0 + 1h);
  EXPECT_THAT(text, HasSubstr("nothing to do: all dependencies are healthy"));
  EXPECT_THAT(text, HasSubstr("Healthy since 03:00:00Z (1h0m0s ago)"));
}

TEST(ExplainTest, UnknownDependencyIsCalledOutAsNotActedOn) {
  json status = {
      {"phase", "Suspended"},
      {"dependencies",
       {{{"ref", "Deployment/shop/database"}, {"state", "Unknown"}, {"message", "watch broken"}}}}};
  std::string text = ExplainWorkloadDependency(PaymentsWd(status), SuspendedPayments(), kT0);
  EXPECT_THAT(text, HasSubstr("cannot currently observe Deployment/database (state Unknown)"));
}

TEST(ExplainTest, MaxSuspendDurationGivesTheLatestRestoreTime) {
  json wd = PaymentsWd(
      {{"phase", "Suspended"},
       {"suspendedAt", At(0s)},
       {"dependencies",
        {{{"ref", "Deployment/shop/database"}, {"state", "Unhealthy"}, {"since", At(0s)}}}}});
  wd["spec"]["onDegraded"] = {{"action", "ScaleToZero"}, {"maxSuspendDuration", "4h"}};
  std::string text = ExplainWorkloadDependency(wd, SuspendedPayments(), kT0 + 1h);
  EXPECT_THAT(text, HasSubstr("released (restored) at 07:00:00Z (in 3h0m0s) at the latest "
                              "(maxSuspendDuration 4h0m0s)"));
}

TEST(ExplainTest, PausedAndInvalidAreExplained) {
  json wd = PaymentsWd({{"phase", "Paused"}});
  wd["metadata"]["annotations"] = {{"tether.dev/paused", "true"}};
  EXPECT_THAT(ExplainWorkloadDependency(wd, RunningPayments(), kT0),
              HasSubstr("tether takes no action at all until the annotation is removed"));

  json bad = PaymentsWd(json::object());
  bad["spec"]["mode"] = "sometimes";
  std::string text = ExplainWorkloadDependency(bad, RunningPayments(), kT0);
  EXPECT_THAT(text, HasSubstr("Invalid spec"));
  EXPECT_THAT(text, HasSubstr("mode"));
}

TEST(ExplainTest, MissingDependentIsSaid) {
  std::string text = ExplainWorkloadDependency(PaymentsWd(json::object()), nullptr, kT0);
  EXPECT_THAT(text, HasSubstr("Deployment/shop/payments — does not exist"));
  EXPECT_THAT(text, HasSubstr("not reconciled yet"));
}

TEST(ExplainTest, WorkloadViewFindsTheGoverningWorkloadDependency) {
  json status = {{"phase", "Suspended"}, {"suspendedAt", At(0s)}};
  std::vector<json> wds = {PaymentsWd(status)};
  std::string text =
      ExplainWorkload("Deployment", "shop", "payments", SuspendedPayments(), wds, kT0);
  EXPECT_THAT(text, HasSubstr("WorkloadDependency shop/payments-needs-database"));
  EXPECT_THAT(text, Not(HasSubstr("is not the dependent")));
}

TEST(ExplainTest, WorkloadViewOfADependencyListsItsDependents) {
  json status = {{"phase", "Suspended"},
                 {"dependencies", {{{"ref", "Deployment/shop/database"}, {"state", "Unhealthy"}}}}};
  json db = {{"metadata", {{"namespace", "shop"}, {"name", "database"}}}};
  std::string text =
      ExplainWorkload("Deployment", "shop", "database", db, {PaymentsWd(status)}, kT0);
  EXPECT_THAT(text, HasSubstr("Deployment/shop/database is not the dependent of any "
                              "WorkloadDependency: tether never scales or suspends it."));
  EXPECT_THAT(text, HasSubstr("Workloads that depend on Deployment/shop/database:\n"
                              "  - Deployment/shop/payments (WorkloadDependency "
                              "shop/payments-needs-database, phase Suspended): sees "
                              "Deployment/shop/database as Unhealthy"));
}

TEST(ExplainTest, IsReferencedMatchesDependentsAndDependencies) {
  std::vector<json> wds = {PaymentsWd(json::object())};
  EXPECT_TRUE(IsReferenced("Deployment/shop/payments", wds));
  EXPECT_TRUE(IsReferenced("Deployment/shop/database", wds));
  EXPECT_FALSE(IsReferenced("StatefulSet/shop/database", wds));
  EXPECT_FALSE(IsReferenced("Deployment/other/database", wds));
}

TEST(ExplainTest, WorkloadViewOfAMissingWorkload) {
  std::string text = ExplainWorkload("StatefulSet", "shop", "ghost", nullptr, {}, kT0);
  EXPECT_THAT(text, HasSubstr("StatefulSet/shop/ghost does not exist."));
}

TEST(ExplainTest, OrphanedRecordIsPointedOut) {
  std::string text =
      ExplainWorkload("Deployment", "shop", "payments", SuspendedPayments(), {}, kT0);
  EXPECT_THAT(text, HasSubstr("still carries tether's suspension record from "
                              "shop/payments-needs-database (saved replicas: 3)"));
}

TEST(ExplainTest, MalformedObjectsGiveAMessageNotACrash) {
  json wd = PaymentsWd(json::object());
  wd["metadata"]["namespace"] = 7;
  EXPECT_THAT(ExplainWorkloadDependency(wd, RunningPayments(), kT0),
              HasSubstr("WorkloadDependency ?/payments-needs-database: cannot be explained"));
  EXPECT_THAT(ExplainWorkload("Deployment", "shop", "payments", RunningPayments(), {wd}, kT0),
              HasSubstr("cannot be explained"));
}

TEST(ExplainTest, FormatWhenUsesTimeOfDayOnTheSameDay) {
  EXPECT_EQ(FormatWhen(kT0 + 90s, kT0), "03:01:30Z (in 1m30s)");
  EXPECT_EQ(FormatWhen(kT0, kT0), "03:00:00Z (now)");
  EXPECT_EQ(FormatWhen(kT0 + 2600ms, kT0), "03:00:02Z (in 3s)");
  EXPECT_EQ(FormatWhen(kT0 - 24h, kT0), "2026-06-14T03:00:00Z (24h0m0s ago)");
}

}  // namespace
}  // namespace tether::deps
