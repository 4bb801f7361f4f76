#include "cli/manifests_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deps/crd.h"

namespace tether::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kCrd[] =
    "# generated\n---\napiVersion: \"apiextensions.k8s.io/v1\"\nkind: "
    "\"CustomResourceDefinition\"\n"
    "metadata:\n  name: \"workloaddependencies.tether.dev\"\nspec: {}\n";

std::size_t Pos(const std::string& s, const std::string& needle) {
  auto p = s.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  return p;
}

TEST(ManifestsTest, OrdersDocumentsForASinglePassApply) {
  std::vector<ManifestFile> files = {
      {"deploy/webhook.yaml", "kind: ValidatingWebhookConfiguration\nmetadata:\n  name: tether\n"},
      {"deploy/controller.yaml",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tether-controller\n---\n"
       "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: tether-controller\n"},
      {"deploy/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tether\n"},
  };
  std::string out = InstallManifests(kCrd, files, false);
  std::size_t ns = Pos(out, "kind: Namespace");
  std::size_t crd = Pos(out, "kind: \"CustomResourceDefinition\"");
  std::size_t sa = Pos(out, "kind: ServiceAccount");
  std::size_t deploy = Pos(out, "kind: Deployment");
  std::size_t webhook = Pos(out, "kind: ValidatingWebhookConfiguration");
  EXPECT_LT(ns, crd);
  EXPECT_LT(crd, sa);
  EXPECT_LT(sa, deploy);
  EXPECT_LT(deploy, webhook);
  EXPECT_EQ(out.rfind("# tether install manifests", 0), 0u);
}

TEST(ManifestsTest, GeneratedCrdReplacesTheCommittedCopyAndExamplesAreLeftOut) {
  std::vector<ManifestFile> files = {
      {"deploy/crds/workloaddependencies.tether.dev.yaml",
       "# stale copy\n---\nkind: CustomResourceDefinition\nmetadata:\n  name: "
       "workloaddependencies.tether.dev\nspec: {stale: true}\n"},
      {"deploy/examples/payments.yaml", "kind: WorkloadDependency\nmetadata:\n  name: x\n"},
      {"deploy/kustomization.yaml", "kind: Kustomization\nresources: [a.yaml]\n"},
  };
  std::string out = InstallManifests(kCrd, files, false);
  EXPECT_THAT(out, Not(HasSubstr("stale")));
  EXPECT_THAT(out, Not(HasSubstr("WorkloadDependency\n")));
  EXPECT_THAT(out, Not(HasSubstr("Kustomization")));
  EXPECT_THAT(out, HasSubstr("workloaddependencies.tether.dev"));
}

TEST(ManifestsTest, CrdsOnly) {
  std::vector<ManifestFile> files = {
      {"deploy/rbac.yaml", "kind: ClusterRole\nmetadata:\n  name: tether\n"}};
  std::string out = InstallManifests(kCrd, files, true);
  EXPECT_THAT(out, HasSubstr("CustomResourceDefinition"));
  EXPECT_THAT(out, Not(HasSubstr("ClusterRole")));
}

TEST(ManifestsTest, RealOutputHasTheGeneratedCrdOnceAndParsesAsDocuments) {
  std::string out =
      InstallManifests(deps::WorkloadDependencyCrdYaml(), EmbeddedDeployFiles(), false);
  std::size_t first = out.find("name: \"workloaddependencies.tether.dev\"");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(out.find("name: \"workloaddependencies.tether.dev\"", first + 1), std::string::npos);
  EXPECT_THAT(out, Not(HasSubstr("kind: WorkloadDependency\n")));  // no examples
}

}  // namespace
}  // namespace tether::cli
