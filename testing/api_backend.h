// ApiBackend: the verb semantics of the embedded API server, independent of HTTP — create, get,
// list (paging, resourceVersion rules, selectors), update (optimistic concurrency), patch (JSON,
// merge, strategic merge, apply), delete (preconditions, finalizers), the status and scale
// subresources, generation tracking, the validation tether relies on (names, scheduling gates,
// replicas, leases, custom resources against their CRD schema and CEL rules), and
// CustomResourceDefinitions that register new resources.
//
// The HTTP layer (ApiServer) parses requests into these calls; tests use them directly for fast
// fixture setup (same rules, no HTTP).
//
// Thread-safety: all methods are safe from any thread (state lives in ObjectStore and
// ResourceRegistry, both internally synchronised).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "testing/api_status.h"
#include "testing/object_store.h"
#include "testing/resource_registry.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace tether::testing {

enum class Subresource { kNone, kStatus, kScale };

struct ListParams {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 0;
  std::string continue_token;
  std::optional<std::string> resource_version;
  std::string resource_version_match;
};

// What applying a custom resource's CRD schema to a write found, and how strictly to treat
// unknown fields (the fieldValidation parameter: "Strict" refuses them with 400, "Warn" — the
// default — and "Ignore" prune them; the HTTP layer turns `unknown_fields` into Warning headers
// unless "Ignore").
struct SchemaReport {
  std::string field_validation;
  std::vector<std::string> unknown_fields;  // "spec.extra", pruned from the object
};

struct PatchParams {
  std::string content_type;  // application/json-patch+json, merge-patch+json, ...
  std::string field_manager;
  bool force = false;
  bool dry_run = false;
  SchemaReport* report = nullptr;
};

struct DeleteParams {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;
  bool dry_run = false;
};

struct DeleteResult {
  bool deleted = false;  // false: still present with deletionTimestamp (finalizers pending)
  Json body;             // the response body kube-apiserver would send
};

class ApiBackend {
 public:
  ApiBackend(ResourceRegistry& registry, ObjectStore& store, Clock& clock);

  ApiResult<Json> Create(const ResourceType& type, const std::string& ns, Json body,
                         bool dry_run = false, SchemaReport* report = nullptr);
  ApiResult<Json> Get(const ResourceType& type, const std::string& ns, const std::string& name,
                      Subresource sub = Subresource::kNone) const;
  ApiResult<Json> List(const ResourceType& type, const std::string& ns,
                       const ListParams& params) const;
  ApiResult<Json> Update(const ResourceType& type, const std::string& ns, const std::string& name,
                         Json body, Subresource sub = Subresource::kNone, bool dry_run = false,
                         SchemaReport* report = nullptr);
  // `patch` is the raw request body. An apply patch of a missing object creates it and sets
  // *created (201 over HTTP).
  ApiResult<Json> Patch(const ResourceType& type, const std::string& ns, const std::string& name,
                        Subresource sub, const std::string& patch, const PatchParams& params,
                        bool* created = nullptr);
  ApiResult<DeleteResult> Delete(const ResourceType& type, const std::string& ns,
                                 const std::string& name, const DeleteParams& params);

  // A matcher for watch/list filtering from selector strings (400 with kube's message on bad
  // syntax or unsupported fields).
  ApiResult<ObjectStore::Filter> MakeFilter(const ResourceType& type,
                                            const std::string& label_selector,
                                            const std::string& field_selector) const;

  // The object as served on GET/watch (kind/apiVersion filled in).
  static Json Served(const ResourceType& type, Json object);
  // Renders a continue token (base64url JSON, kube-apiserver's format) and parses one.
  static std::string EncodeContinue(std::int64_t rv, const std::string& key);
  static ApiResult<std::pair<std::int64_t, std::string>> DecodeContinue(const std::string& token);

  ResourceRegistry& registry() { return registry_; }
  ObjectStore& store() { return store_; }

 private:
  ApiResult<Json> UpdateLocked(const ResourceType& type, const Json* current, Json body,
                               Subresource sub, bool dry_run, const std::string& name,
                               const std::string& ns, bool* delete_now, SchemaReport* report) const;
  ApiResult<void> Validate(const ResourceType& type, const Json& obj, const Json* old) const;
  // Custom resources: prune undeclared fields and fill in defaults from the CRD schema; 400 for
  // unknown fields under fieldValidation=Strict.
  static ApiResult<void> ApplySchema(const ResourceType& type, Json& obj, SchemaReport* report);
  void PrepareForCreate(const ResourceType& type, Json& obj) const;
  Json ScaleFor(const ResourceType& type, const Json& obj) const;
  ApiResult<Json> ApplyScale(const ResourceType& type, const Json& obj, const Json& scale) const;
  void AfterCrdWrite(const Json& crd, bool deleted);

  ResourceRegistry& registry_;
  ObjectStore& store_;
  Clock& clock_;
};

// Generic helpers exposed for tests.
std::string NewUid();
// YAML (a superset of JSON) to JSON: plain scalars become booleans, null, integers or numbers
// when they read as such (apply patches, YAML fixtures).
Json YamlToJson(const YAML::Node& node);
std::string GenerateNameSuffix();

}  // namespace tether::testing
