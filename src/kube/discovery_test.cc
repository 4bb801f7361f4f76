#include "kube/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::kube {
namespace {

using ::testing::HasSubstr;

// Shapes as kube-apiserver v1.34 serves them (trimmed).
const char* kAppsV1 = R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1",
  "resources":[
   {"name":"daemonsets","singularName":"daemonset","namespaced":true,"kind":"DaemonSet"},
   {"name":"daemonsets/status","singularName":"","namespaced":true,"kind":"DaemonSet"},
   {"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment"},
   {"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling",
    "version":"v1","kind":"Scale"}]})";
const char* kCoreV1 = R"({"kind":"APIResourceList","groupVersion":"v1","resources":[
   {"name":"namespaces","namespaced":false,"kind":"Namespace"},
   {"name":"pods","namespaced":true,"kind":"Pod"}]})";
const char* kGadgets = R"({"kind":"APIResourceList","apiVersion":"v1",
  "groupVersion":"discovery.example.com/v1alpha1","resources":[{"name":"gadgets",
  "singularName":"gadget","namespaced":false,"kind":"Gadget"}]})";

struct FakeServer {
  std::map<std::string, Json> docs;
  std::vector<std::string> fetches;
  bool down = false;
  Discovery::Fetcher Fetcher() {
    return [this](const std::string& path) -> Result<Json> {
      fetches.push_back(path);
      if (down) return Fail(ErrorCode::kUnavailable, "connection refused");
      auto it = docs.find(path);
      if (it == docs.end()) return Fail(ErrorCode::kNotFound, "the server could not find it");
      return it->second;
    };
  }
};

TEST(DiscoveryTest, ParsesResourceListSkippingSubresources) {
  auto r = ParseApiResourceList(Json::parse(kAppsV1), "apps", "v1");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].resource, "deployments");
  EXPECT_EQ((*r)[1].kind, "Deployment");
  EXPECT_EQ((*r)[1].ApiVersion(), "apps/v1");
  EXPECT_TRUE((*r)[1].namespaced);
  auto bad = ParseApiResourceList(Json::parse(R"({"kind":"Status"})"), "apps", "v1");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("apps/v1"));
}

TEST(DiscoveryTest, ResolvesCoreAndGroupKindsAndCaches) {
  FakeClock clock;
  FakeServer server;
  server.docs["/apis/apps/v1"] = Json::parse(kAppsV1);
  server.docs["/api/v1"] = Json::parse(kCoreV1);
  Discovery d(server.Fetcher(), clock);
  auto dep = d.ForKind("apps/v1", "Deployment");
  ASSERT_TRUE(dep) << dep.error().message;
  EXPECT_EQ(dep->resource, "deployments");
  auto ns = d.ForKind("v1", "Namespace");
  ASSERT_TRUE(ns);
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(ns->group, "");
  ASSERT_TRUE(d.ForKind("apps/v1", "DaemonSet"));
  ASSERT_TRUE(d.ForResource("v1", "pods"));
  EXPECT_EQ(server.fetches, (std::vector<std::string>{"/apis/apps/v1", "/api/v1"}));
}

TEST(DiscoveryTest, FindsCrdInstalledLaterButRateLimitsMisses) {
  FakeClock clock;
  FakeServer server;
  Discovery d(server.Fetcher(), clock, std::chrono::seconds(10));
  auto miss = d.ForKind("discovery.example.com/v1alpha1", "Gadget");
  ASSERT_FALSE(miss);
  EXPECT_EQ(miss.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(miss.error().message, HasSubstr("install the CRD"));
  // Repeated misses within the interval do not hit the server.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(d.ForKind("discovery.example.com/v1alpha1", "Gadget"));
  EXPECT_EQ(server.fetches.size(), 1u);
  server.docs["/apis/discovery.example.com/v1alpha1"] = Json::parse(kGadgets);  // CRD created
  clock.Advance(std::chrono::seconds(10));
  auto hit = d.ForKind("discovery.example.com/v1alpha1", "Gadget");
  ASSERT_TRUE(hit) << hit.error().message;
  EXPECT_EQ(hit->resource, "gadgets");
  EXPECT_FALSE(hit->namespaced);
  EXPECT_EQ(server.fetches.size(), 2u);
}

TEST(DiscoveryTest, UnknownKindInServedGroupSaysSo) {
  FakeClock clock;
  FakeServer server;
  server.docs["/apis/apps/v1"] = Json::parse(kAppsV1);
  Discovery d(server.Fetcher(), clock);
  auto r = d.ForKind("apps/v1", "deployment");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("case-sensitive"));
}

TEST(DiscoveryTest, TransientErrorsAreReportedAndRetriedAfterInterval) {
  FakeClock clock;
  FakeServer server;
  server.docs["/apis/apps/v1"] = Json::parse(kAppsV1);
  server.down = true;
  Discovery d(server.Fetcher(), clock, std::chrono::seconds(5));
  auto r = d.ForKind("apps/v1", "Deployment");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  server.down = false;
  EXPECT_FALSE(d.ForKind("apps/v1", "Deployment"));  // still within the interval
  clock.Advance(std::chrono::seconds(5));
  EXPECT_TRUE(d.ForKind("apps/v1", "Deployment"));
}

TEST(DiscoveryTest, MalformedApiVersion) {
  FakeClock clock;
  FakeServer server;
  Discovery d(server.Fetcher(), clock);
  auto r = d.ForKind("/v1", "X");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_TRUE(server.fetches.empty());
}

}  // namespace
}  // namespace tether::kube
