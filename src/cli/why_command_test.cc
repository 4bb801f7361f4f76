#include "cli/why_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deps/crd.h"
#include "testing/apiserver.h"

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

// Reads through a real client against the embedded API server.
class WhyApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::ApiServerOptions so;
    so.namespaces.push_back("shop");
    auto server = testing::ApiServer::Start(so);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    auto rc = server_->RestConfigFor("admin");
    ASSERT_TRUE(rc) << rc.error().ToString();
    auto client = kube::Client::Create(*rc, RealClock::Instance());
    ASSERT_TRUE(client);
    client_ = std::move(*client);
  }
  void InstallCrd() {
    ASSERT_TRUE(server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                                deps::WorkloadDependencyCrd()));
  }
  void CreateShop() {
    InstallCrd();
    nlohmann::json containers = nlohmann::json::array({{{"name", "c"}, {"image", "x"}}});
    for (const char* name : {"payments", "database"}) {
      nlohmann::json d = {{"apiVersion", "apps/v1"},
                          {"kind", "Deployment"},
                          {"metadata", {{"name", name}}},
                          {"spec",
                           {{"replicas", 3},
                            {"selector", {{"matchLabels", {{"app", name}}}}},
                            {"template",
                             {{"metadata", {{"labels", {{"app", name}}}}},
                              {"spec", {{"containers", containers}}}}}}}};
      ASSERT_TRUE(server_->Create("apps/v1", "deployments", "shop", d));
    }
    nlohmann::json wd = {{"apiVersion", "tether.dev/v1alpha1"},
                         {"kind", "WorkloadDependency"},
                         {"metadata", {{"name", "payments-needs-database"}}},
                         {"spec",
                          {{"dependent", {{"kind", "Deployment"}, {"name", "payments"}}},
                           {"dependsOn", {{{"kind", "Deployment"}, {"name", "database"}}}}}}};
    ASSERT_TRUE(server_->Create("tether.dev/v1alpha1", "workloaddependencies", "shop", wd));
  }

  std::unique_ptr<testing::ApiServer> server_;
  std::unique_ptr<kube::Client> client_;
};

TEST_F(WhyApiServerTest, ExplainsADependentAndItsWorkloadDependency) {
  CreateShop();
  TimePoint now = RealClock::Instance().Now();
  auto text = Why(*client_, *ParseWhyTarget("deploy/payments"), "shop", now);
  ASSERT_TRUE(text) << text.error().ToString();
  EXPECT_THAT(*text, HasSubstr("WorkloadDependency shop/payments-needs-database"));
  EXPECT_THAT(*text, HasSubstr("Deployment/shop/payments — running, 3 replicas"));
  EXPECT_THAT(*text, HasSubstr("not reconciled yet"));

  auto db = Why(*client_, *ParseWhyTarget("deployment/database"), "shop", now);
  ASSERT_TRUE(db) << db.error().ToString();
  EXPECT_THAT(*db, HasSubstr("Workloads that depend on Deployment/shop/database"));

  auto wd = Why(*client_, *ParseWhyTarget("wd/payments-needs-database"), "shop", now);
  ASSERT_TRUE(wd) << wd.error().ToString();
  EXPECT_THAT(*wd, HasSubstr("Deployment/shop/payments — running"));
}

TEST_F(WhyApiServerTest, NotFoundErrorsSayWhatToCheck) {
  CreateShop();
  TimePoint now = RealClock::Instance().Now();
  auto missing = Why(*client_, *ParseWhyTarget("deploy/ghost"), "shop", now);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message,
              HasSubstr("Deployment \"ghost\" not found in namespace \"shop\""));
  auto wd = Why(*client_, *ParseWhyTarget("wd/ghost"), "shop", now);
  ASSERT_FALSE(wd);
  EXPECT_THAT(wd.error().message, HasSubstr("kubectl get wd -n shop"));
}

TEST_F(WhyApiServerTest, MissingCrdIsExplained) {
  auto text =
      Why(*client_, *ParseWhyTarget("deploy/payments"), "shop", RealClock::Instance().Now());
  ASSERT_FALSE(text);
  EXPECT_THAT(text.error().message, HasSubstr("tether manifests | kubectl apply -f -"));
}

}  // namespace
}  // namespace tether::cli
