#include "kube/resource.h"

#include <cstdio>

namespace tether::kube {
namespace {

std::string GroupVersionPrefix(const Resource& r) {
  if (r.group.empty()) return "/api/" + r.version;
  return "/apis/" + r.group + "/" + r.version;
}

}  // namespace

std::string Resource::CollectionPath(std::string_view ns) const {
  std::string path = GroupVersionPrefix(*this);
  if (namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += ns;
  }
  path += "/";
  path += resource;
  return path;
}

std::string Resource::ObjectPath(std::string_view ns, std::string_view name,
                                 std::string_view subresource) const {
  std::string path = CollectionPath(ns);
  path += "/";
  path += name;
  if (!subresource.empty()) {
    path += "/";
    path += subresource;
  }
  return path;
}

namespace resources {
Resource Pods() { return {"", "v1", "pods", "Pod", true}; }
Resource ConfigMaps() { return {"", "v1", "configmaps", "ConfigMap", true}; }
Resource Secrets() { return {"", "v1", "secrets", "Secret", true}; }
Resource Namespaces() { return {"", "v1", "namespaces", "Namespace", false}; }
Resource Events() { return {"", "v1", "events", "Event", true}; }
Resource Deployments() { return {"apps", "v1", "deployments", "Deployment", true}; }
Resource StatefulSets() { return {"apps", "v1", "statefulsets", "StatefulSet", true}; }
Resource ReplicaSets() { return {"apps", "v1", "replicasets", "ReplicaSet", true}; }
Resource DaemonSets() { return {"apps", "v1", "daemonsets", "DaemonSet", true}; }
Resource Jobs() { return {"batch", "v1", "jobs", "Job", true}; }
Resource CronJobs() { return {"batch", "v1", "cronjobs", "CronJob", true}; }
Resource Leases() { return {"coordination.k8s.io", "v1", "leases", "Lease", true}; }
Resource CustomResourceDefinitions() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
          false};
}
Resource SubjectAccessReviews() {
  return {"authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false};
}
}  // namespace resources

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace tether::kube
