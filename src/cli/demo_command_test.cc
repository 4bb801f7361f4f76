#include "cli/demo_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace tether::cli {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

json Deploy(int replicas, int ready, json annotations = json::object()) {
  json o = {{"metadata", {{"name", "payments"}, {"namespace", "shop"}}},
            {"spec", {{"replicas", replicas}}},
            {"status", {{"observedGeneration", 1}, {"replicas", replicas}}}};
  if (ready > 0) o["status"]["readyReplicas"] = ready;
  if (!annotations.empty()) o["metadata"]["annotations"] = annotations;
  return o;
}

TEST(DescribeChangeTest, SuspensionOfADeploymentReadsAsAStory) {
  json record = {{"tether.dev/suspended-by", "shop/payments-needs-database"},
                 {"tether.dev/saved-replicas", "3"},
                 {"tether.dev/suspended-because", "Deployment/shop/database"}};
  EXPECT_THAT(DescribeChange("deployments.apps", Deploy(3, 3), Deploy(3, 3, record)),
              ElementsAre("tether wrote the durable record on Deployment/payments: "
                          "saved-replicas=3, suspended-by=shop/payments-needs-database, "
                          "suspended-because=Deployment/shop/database"));
  EXPECT_THAT(DescribeChange("deployments.apps", Deploy(3, 3, record), Deploy(0, 3, record)),
              ElementsAre("tether scaled Deployment/payments from 3 to 0 replicas",
                          "Deployment/payments pods ready: 3/0"));
  EXPECT_THAT(DescribeChange("deployments.apps", Deploy(3, 0, record), Deploy(3, 0)),
              ElementsAre("tether cleared the durable record on Deployment/payments"));
  EXPECT_THAT(DescribeChange("deployments.apps", Deploy(3, 3), Deploy(3, 3)), IsEmpty());
}

TEST(DescribeChangeTest, WorkloadDependencyPhasesAndRecoveryClock) {
  json wd = {{"metadata", {{"name", "payments-needs-database"}, {"namespace", "shop"}}},
             {"status", {{"phase", "Healthy"}}}};
  json degraded = wd;
  degraded["status"] = {{"phase", "Degraded"}, {"message", "database: 0/3 ready"}};
  EXPECT_THAT(DescribeChange("workloaddependencies.tether.dev", wd, degraded),
              ElementsAre("payments-needs-database: Healthy -> Degraded (database: 0/3 ready)"));
  json suspended = wd;
  suspended["status"] = {{"phase", "Suspended"}};
  json recovering = suspended;
  recovering["status"]["healthySince"] = "2026-06-15T03:00:10Z";
  EXPECT_THAT(DescribeChange("workloaddependencies.tether.dev", suspended, recovering),
              ElementsAre(HasSubstr("the recovery window starts")));
  EXPECT_THAT(DescribeChange("workloaddependencies.tether.dev", recovering, suspended),
              ElementsAre(HasSubstr("the recovery clock resets")));
}

TEST(DescribeChangeTest, CronJobSuspendAndResume) {
  json cj = {{"metadata", {{"name", "reports"}}}, {"spec", {{"suspend", false}}}};
  json suspended = cj;
  suspended["spec"]["suspend"] = true;
  EXPECT_THAT(DescribeChange("cronjobs.batch", cj, suspended),
              ElementsAre(HasSubstr("tether suspended CronJob/reports")));
  EXPECT_THAT(DescribeChange("cronjobs.batch", suspended, cj),
              ElementsAre("CronJob/reports resumed (spec.suspend: false)"));
}

std::size_t IndexOf(const std::vector<std::string>& lines, const std::string& needle,
                    std::size_t from = 0) {
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos) return i;
  }
  ADD_FAILURE() << "no line after " << from << " contains: " << needle;
  return lines.size();
}

// The whole demo, end to end (embedded API server over HTTPS, simulator, real controller), on a
// FakeClock: the incident's suspensions and restores happen, in order, and everything is back.
TEST(DemoTest, IncidentIsSuspendedAndRestoredInOrder) {
  FakeClock clock;
  DemoOptions o;
  o.clock = &clock;
  o.out = [](const std::string&) {};
  auto result = RunDemo(o);
  ASSERT_TRUE(result) << result.error().ToString();
  const auto& t = result->timeline;
  std::string all;
  for (const auto& l : t) all += l + "\n";
  SCOPED_TRACE(all);
  EXPECT_TRUE(result->restored_exactly);

  std::size_t incident = IndexOf(t, "==> Incident");
  std::size_t payments_degraded =
      IndexOf(t, "payments-needs-database: Healthy -> Degraded", incident);
  std::size_t record =
      IndexOf(t, "tether wrote the durable record on Deployment/payments: saved-replicas=3",
              payments_degraded);
  std::size_t scaled = IndexOf(t, "tether scaled Deployment/payments from 3 to 0 replicas", record);
  IndexOf(t, "payments-needs-database: Degraded -> Suspended", payments_degraded);
  IndexOf(t, "tether suspended CronJob/reports", incident);
  std::size_t checkout_suspended =
      IndexOf(t, "checkout-needs-payments: Degraded -> Suspended", scaled);
  std::size_t recovers = IndexOf(t, "==> The database recovers", checkout_suspended);
  std::size_t payments_back =
      IndexOf(t, "tether scaled Deployment/payments from 0 to 3 replicas", recovers);
  IndexOf(t, "payments-needs-database: Suspended -> Healthy", recovers);
  IndexOf(t, "CronJob/reports resumed", recovers);
  std::size_t checkout_back =
      IndexOf(t, "tether scaled Deployment/checkout from 0 to 2 replicas", payments_back);
  IndexOf(t, "checkout-needs-payments: Suspended -> Healthy", payments_back);
  IndexOf(t, "Every workload is back exactly where it was", checkout_back);
}

}  // namespace
}  // namespace tether::cli
