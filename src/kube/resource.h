// Resource identity: group/version/resource plus kind and scope, and URL-path building for the
// Kubernetes REST API. Value types; thread-compatible.
#pragma once

#include <string>
#include <string_view>

namespace tether::kube {

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural, lower-case: "deployments"
  std::string kind;      // "Deployment"
  bool namespaced = true;

  [[nodiscard]] std::string ApiVersion() const {  // "apps/v1" or "v1"
    return group.empty() ? version : group + "/" + version;
  }
  // "deployments.apps" / "pods": the form Kubernetes uses in messages.
  [[nodiscard]] std::string GroupResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  // Collection path: /api/v1/namespaces/NS/pods or /apis/apps/v1/deployments (ns empty = all).
  [[nodiscard]] std::string CollectionPath(std::string_view ns) const;
  // Object path, with optional subresource ("status", "scale").
  [[nodiscard]] std::string ObjectPath(std::string_view ns, std::string_view name,
                                       std::string_view subresource = {}) const;

  friend bool operator==(const Resource&, const Resource&) = default;
};

// Well-known resources (built-in kinds tether uses).
namespace resources {
Resource Pods();
Resource ConfigMaps();
Resource Secrets();
Resource Namespaces();
Resource Events();
Resource Deployments();
Resource StatefulSets();
Resource ReplicaSets();
Resource DaemonSets();
Resource Jobs();
Resource CronJobs();
Resource Leases();
Resource CustomResourceDefinitions();
Resource SubjectAccessReviews();
}  // namespace resources

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view s);

}  // namespace tether::kube
