#include "cli/why_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::cli {
namespace {

using ::testing::HasSubstr;

TEST(WhyTargetTest, AcceptsKubectlNamesAndShortNames) {
  auto deploy = ParseWhyTarget("deploy/payments");
  ASSERT_TRUE(deploy);
  EXPECT_EQ(deploy->type, WhyTarget::Type::kWorkload);
  EXPECT_EQ(deploy->resource.kind, "Deployment");
  EXPECT_EQ(deploy->name, "payments");
  EXPECT_EQ(ParseWhyTarget("StatefulSet/db")->resource.resource, "statefulsets");
  EXPECT_EQ(ParseWhyTarget("cj/reports")->resource.kind, "CronJob");
  EXPECT_EQ(ParseWhyTarget("jobs.batch/migrate")->resource.kind, "Job");
  EXPECT_EQ(ParseWhyTarget("rollout/web")->resource.group, "argoproj.io");
  auto wd = ParseWhyTarget("wd/payments-needs-database");
  ASSERT_TRUE(wd);
  EXPECT_EQ(wd->type, WhyTarget::Type::kWorkloadDependency);
  EXPECT_EQ(ParseWhyTarget("workloaddependency/x")->type, WhyTarget::Type::kWorkloadDependency);
}

TEST(WhyTargetTest, ErrorsSayWhatIsAccepted) {
  auto unknown = ParseWhyTarget("service/payments");
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message, HasSubstr("unknown kind \"service\""));
  EXPECT_THAT(unknown.error().message, HasSubstr("deployment (deploy)"));
  for (const char* bad : {"payments", "/payments", "deployment/", "a/b/c"}) {
    auto r = ParseWhyTarget(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("expected <kind>/<name>")) << bad;
  }
}

}  // namespace
}  // namespace tether::cli
