// ResourceRegistry: the API resources the embedded API server serves — the built-in kinds
// tether uses plus CustomResourceDefinitions registered at runtime — and the discovery
// documents (/api, /apis, APIResourceList, APIGroup) derived from them.
//
// Thread-safety: all methods are safe from any thread; lookups return copies, so a CRD removed
// concurrently never leaves a dangling reference.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "testing/api_status.h"
#include "testing/crd_schema.h"

namespace tether::testing {

struct ResourceType {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural: "deployments"
  std::string singular;
  std::string kind;
  std::string list_kind;
  bool namespaced = true;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool has_status = false;
  bool has_scale = false;
  // Scale subresource mapping (JSON paths as CRDs write them).
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  std::string
      label_selector_path;  // e.g. ".status.selector"; built-ins derive it from spec.selector
  bool custom = false;      // served from a CRD
  std::string crd_name;     // "widgets.example.com"
  std::vector<std::string> selectable_fields;  // CRD selectableFields, without the leading dot
  // The version's structural schema (custom resources only): pruning, defaults, validation.
  std::shared_ptr<const CrdSchema> schema;
  // The version's additionalPrinterColumns (custom resources; `kubectl get` columns).
  Json printer_columns = Json::array();
  // Marks generation-tracked kinds (metadata.generation, bumped on spec changes).
  bool tracks_generation = false;
  // Create-only virtual resources (SubjectAccessReview & co): nothing is stored.
  bool virtual_create = false;

  [[nodiscard]] std::string ApiVersion() const {
    return group.empty() ? version : group + "/" + version;
  }
  [[nodiscard]] std::string GroupResourceName() const { return GroupResource(resource, group); }
  [[nodiscard]] bool HasVerb(std::string_view verb) const;
};

class ResourceRegistry {
 public:
  ResourceRegistry();  // with the built-in resources

  // By group/version/plural, or nullopt.
  std::optional<ResourceType> Find(std::string_view group, std::string_view version,
                                   std::string_view resource) const;
  // By group + kind (any served version), or nullopt.
  std::optional<ResourceType> FindKind(std::string_view group, std::string_view kind) const;
  bool HasGroupVersion(std::string_view group, std::string_view version) const;
  bool HasGroup(std::string_view group) const;

  // Registers (or updates) the resources a CustomResourceDefinition (apiextensions.k8s.io/v1,
  // JSON) declares, one per served version. Fails on an unusable spec.
  ApiResult<void> AddCrd(const Json& crd);
  // The checks AddCrd makes, without registering (422 Invalid on problems).
  static ApiResult<void> ValidateCrd(const Json& crd);
  // Every served resource (copies).
  std::vector<ResourceType> All() const;
  void RemoveCrd(const std::string& crd_name);

  // Discovery documents.
  Json ApiVersions(const std::string& server_address) const;   // GET /api
  Json ApiGroupList() const;                                   // GET /apis
  std::optional<Json> ApiGroup(std::string_view group) const;  // GET /apis/<group>
  std::optional<Json> ApiResourceList(std::string_view group, std::string_view version) const;

 private:
  // Each served version's compiled schema, by version name (422 on a bad schema or rule).
  static ApiResult<std::map<std::string, std::shared_ptr<const CrdSchema>>> CompileSchemas(
      const Json& crd);
  // ValidateCrd's checks; on success, each served version's compiled schema.
  static ApiResult<std::map<std::string, std::shared_ptr<const CrdSchema>>> CheckCrd(
      const Json& crd);
  void AddLocked(ResourceType t);
  mutable std::mutex mu_;
  std::vector<ResourceType> types_;  // registration order (groups appear in discovery in it)
};

}  // namespace tether::testing
