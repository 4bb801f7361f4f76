#include "kube/resource.h"

#include <gtest/gtest.h>

namespace tether::kube {
namespace {

TEST(ResourceTest, CorePathsAndNames) {
  const Resource pods = resources::Pods();
  EXPECT_EQ(pods.ApiVersion(), "v1");
  EXPECT_EQ(pods.GroupResource(), "pods");
  EXPECT_EQ(pods.CollectionPath("default"), "/api/v1/namespaces/default/pods");
  EXPECT_EQ(pods.CollectionPath(""), "/api/v1/pods");  // all namespaces
  EXPECT_EQ(pods.ObjectPath("ns", "p1"), "/api/v1/namespaces/ns/pods/p1");
}

TEST(ResourceTest, GroupPathsAndSubresources) {
  const Resource deps = resources::Deployments();
  EXPECT_EQ(deps.ApiVersion(), "apps/v1");
  EXPECT_EQ(deps.GroupResource(), "deployments.apps");
  EXPECT_EQ(deps.ObjectPath("prod", "web", "scale"),
            "/apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(deps.ObjectPath("prod", "web", "status"),
            "/apis/apps/v1/namespaces/prod/deployments/web/status");
  EXPECT_EQ(resources::Leases().CollectionPath("kube-system"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
}

TEST(ResourceTest, ClusterScopedIgnoresNamespace) {
  EXPECT_EQ(resources::Namespaces().ObjectPath("ignored", "team-a"), "/api/v1/namespaces/team-a");
  EXPECT_EQ(resources::CustomResourceDefinitions().ObjectPath("", "widgets.example.com"),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com");
  EXPECT_FALSE(resources::SubjectAccessReviews().namespaced);
}

TEST(ResourceTest, UrlEncodeEscapesEverythingButUnreserved) {
  EXPECT_EQ(UrlEncode("app=web,tier in (a,b)"), "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
  EXPECT_EQ(UrlEncode("A-z_0.9~"), "A-z_0.9~");
  EXPECT_EQ(UrlEncode("a/b?c&d"), "a%2Fb%3Fc%26d");
  EXPECT_EQ(UrlEncode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(UrlEncode(""), "");
}

}  // namespace
}  // namespace tether::kube
