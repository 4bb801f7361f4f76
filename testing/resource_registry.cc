#include "testing/resource_registry.h"

#include <algorithm>
#include <set>

namespace tether::testing {
namespace {

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};
const std::vector<std::string> kNoCollectionDelete = {"create", "delete", "get",  "list",
                                                      "patch",  "update", "watch"};

struct Builtin {
  const char* group;
  const char* resource;
  const char* singular;
  const char* kind;
  bool namespaced;
  bool status;
  bool scale;
  std::vector<std::string> short_names;
  bool generation;
};

std::vector<Builtin> Builtins() {
  return {
      {"", "pods", "pod", "Pod", true, true, false, {"po"}, true},
      {"", "configmaps", "configmap", "ConfigMap", true, false, false, {"cm"}, false},
      {"", "secrets", "secret", "Secret", true, false, false, {}, false},
      {"", "namespaces", "namespace", "Namespace", false, true, false, {"ns"}, false},
      {"", "events", "event", "Event", true, false, false, {"ev"}, false},
      {"", "services", "service", "Service", true, true, false, {"svc"}, false},
      {"",
       "serviceaccounts",
       "serviceaccount",
       "ServiceAccount",
       true,
       false,
       false,
       {"sa"},
       false},
      {"", "nodes", "node", "Node", false, true, false, {"no"}, false},
      {"",
       "persistentvolumeclaims",
       "persistentvolumeclaim",
       "PersistentVolumeClaim",
       true,
       true,
       false,
       {"pvc"},
       false},
      {"apps", "deployments", "deployment", "Deployment", true, true, true, {"deploy"}, true},
      {"apps", "statefulsets", "statefulset", "StatefulSet", true, true, true, {"sts"}, true},
      {"apps", "replicasets", "replicaset", "ReplicaSet", true, true, true, {"rs"}, true},
      {"apps", "daemonsets", "daemonset", "DaemonSet", true, true, false, {"ds"}, true},
      {"events.k8s.io", "events", "event", "Event", true, false, false, {"ev"}, false},
      {"authorization.k8s.io",
       "subjectaccessreviews",
       "subjectaccessreview",
       "SubjectAccessReview",
       false,
       false,
       false,
       {},
       false},
      {"authorization.k8s.io",
       "selfsubjectaccessreviews",
       "selfsubjectaccessreview",
       "SelfSubjectAccessReview",
       false,
       false,
       false,
       {},
       false},
      {"authorization.k8s.io",
       "localsubjectaccessreviews",
       "localsubjectaccessreview",
       "LocalSubjectAccessReview",
       true,
       false,
       false,
       {},
       false},
      {"autoscaling",
       "horizontalpodautoscalers",
       "horizontalpodautoscaler",
       "HorizontalPodAutoscaler",
       true,
       true,
       false,
       {"hpa"},
       false},
      {"batch", "jobs", "job", "Job", true, true, false, {}, true},
      {"batch", "cronjobs", "cronjob", "CronJob", true, true, false, {"cj"}, true},
      {"policy",
       "poddisruptionbudgets",
       "poddisruptionbudget",
       "PodDisruptionBudget",
       true,
       true,
       false,
       {"pdb"},
       true},
      {"admissionregistration.k8s.io",
       "mutatingwebhookconfigurations",
       "mutatingwebhookconfiguration",
       "MutatingWebhookConfiguration",
       false,
       false,
       false,
       {},
       true},
      {"admissionregistration.k8s.io",
       "validatingwebhookconfigurations",
       "validatingwebhookconfiguration",
       "ValidatingWebhookConfiguration",
       false,
       false,
       false,
       {},
       true},
      {"apiextensions.k8s.io",
       "customresourcedefinitions",
       "customresourcedefinition",
       "CustomResourceDefinition",
       false,
       true,
       false,
       {"crd", "crds"},
       true},
      {"coordination.k8s.io", "leases", "lease", "Lease", true, false, false, {}, false},
      // RBAC objects are stored and served (kubectl apply -k deploy/ creates them); the
      // server's authorization does not consult them.
      {"rbac.authorization.k8s.io", "roles", "role", "Role", true, false, false, {}, false},
      {"rbac.authorization.k8s.io",
       "rolebindings",
       "rolebinding",
       "RoleBinding",
       true,
       false,
       false,
       {},
       false},
      {"rbac.authorization.k8s.io",
       "clusterroles",
       "clusterrole",
       "ClusterRole",
       false,
       false,
       false,
       {},
       false},
      {"rbac.authorization.k8s.io",
       "clusterrolebindings",
       "clusterrolebinding",
       "ClusterRoleBinding",
       false,
       false,
       false,
       {},
       false},
  };
}

const std::set<std::string> kAllCategory = {"pods",         "services",    "deployments",
                                            "statefulsets", "replicasets", "daemonsets",
                                            "jobs",         "cronjobs"};

std::string GetStr(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool ResourceType::HasVerb(std::string_view verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

ResourceRegistry::ResourceRegistry() {
  for (const auto& b : Builtins()) {
    ResourceType t;
    t.group = b.group;
    t.version = "v1";
    if (t.group == "autoscaling") t.version = "v2";
    t.resource = b.resource;
    t.singular = b.singular;
    t.kind = b.kind;
    t.list_kind = t.kind + "List";
    t.namespaced = b.namespaced;
    t.has_status = b.status;
    t.has_scale = b.scale;
    t.short_names = b.short_names;
    t.tracks_generation = b.generation;
    if (t.group == "authorization.k8s.io") {
      t.verbs = {"create"};
      t.virtual_create = true;
    } else if (t.resource == "namespaces" || t.resource == "nodes") {
      t.verbs = t.resource == "nodes" ? kAllVerbs : kNoCollectionDelete;
    } else {
      t.verbs = kAllVerbs;
    }
    if (t.group.empty() || t.group == "apps" || t.group == "batch") {
      if (kAllCategory.count(t.resource)) t.categories = {"all"};
    }
    if (t.has_scale) t.label_selector_path = ".status.selector";
    types_.push_back(std::move(t));
  }
}

void ResourceRegistry::AddLocked(ResourceType t) {
  for (auto& existing : types_) {
    if (existing.group == t.group && existing.version == t.version &&
        existing.resource == t.resource) {
      existing = std::move(t);
      return;
    }
  }
  types_.push_back(std::move(t));
}

std::optional<ResourceType> ResourceRegistry::Find(std::string_view group, std::string_view version,
                                                   std::string_view resource) const {
  std::lock_guard lock(mu_);
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.resource == resource) return t;
  }
  return std::nullopt;
}

std::optional<ResourceType> ResourceRegistry::FindKind(std::string_view group,
                                                       std::string_view kind) const {
  std::lock_guard lock(mu_);
  for (const auto& t : types_) {
    if (t.group == group && t.kind == kind) return t;
  }
  return std::nullopt;
}

bool ResourceRegistry::HasGroupVersion(std::string_view group, std::string_view version) const {
  std::lock_guard lock(mu_);
  return std::any_of(types_.begin(), types_.end(), [&](const ResourceType& t) {
    return t.group == group && t.version == version;
  });
}

bool ResourceRegistry::HasGroup(std::string_view group) const {
  std::lock_guard lock(mu_);
  return std::any_of(types_.begin(), types_.end(),
                     [&](const ResourceType& t) { return t.group == group; });
}

std::vector<ResourceType> ResourceRegistry::All() const {
  std::lock_guard lock(mu_);
  return types_;
}

ApiResult<void> ResourceRegistry::ValidateCrd(const Json& crd) {
  auto schemas = CheckCrd(crd);
  if (!schemas) return Err(schemas.error());
  return {};
}

ApiResult<std::map<std::string, std::shared_ptr<const CrdSchema>>> ResourceRegistry::CheckCrd(
    const Json& crd) {
  if (!crd.is_object()) {
    return Err(BadRequest(
        "the object provided is unrecognized (must be of type CustomResourceDefinition)"));
  }
  std::string name = crd.contains("metadata") ? GetStr(crd["metadata"], "name") : "";
  const Json spec = crd.value("spec", Json::object());
  const Json names = spec.value("names", Json::object());
  std::string group = GetStr(spec, "group");
  std::string plural = GetStr(names, "plural");
  std::string kind = GetStr(names, "kind");
  std::vector<FieldError> errs;
  if (group.empty()) errs.push_back(FieldError::Required("spec.group", ""));
  if (plural.empty()) errs.push_back(FieldError::Required("spec.names.plural", ""));
  if (kind.empty()) errs.push_back(FieldError::Required("spec.names.kind", ""));
  if (!group.empty() && !plural.empty() && name != plural + "." + group) {
    errs.push_back(
        FieldError::Invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
  }
  std::string scope = GetStr(spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    errs.push_back(FieldError::NotSupported("spec.scope", scope, {"Cluster", "Namespaced"}));
  }
  if (!spec.contains("versions") || !spec["versions"].is_array() || spec["versions"].empty()) {
    errs.push_back(FieldError::Invalid("spec.versions", spec.value("versions", Json()),
                                       "must have exactly one version marked as storage version"));
  }
  if (!errs.empty())
    return Err(Invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, errs));
  return CompileSchemas(crd);
}

ApiResult<std::map<std::string, std::shared_ptr<const CrdSchema>>> ResourceRegistry::CompileSchemas(
    const Json& crd) {
  std::map<std::string, std::shared_ptr<const CrdSchema>> out;
  const Json spec = crd.value("spec", Json::object());
  const Json versions = spec.value("versions", Json::array());
  for (size_t i = 0; i < versions.size(); ++i) {
    const Json& v = versions[i];
    if (!v.is_object()) continue;
    std::string field = "spec.versions[" + std::to_string(i) + "].schema.openAPIV3Schema";
    const Json* schema = nullptr;
    if (v.contains("schema") && v["schema"].is_object() &&
        v["schema"].contains("openAPIV3Schema")) {
      schema = &v["schema"]["openAPIV3Schema"];
    } else if (spec.contains("validation") && spec["validation"].is_object() &&
               spec["validation"].contains("openAPIV3Schema")) {
      schema = &spec["validation"]["openAPIV3Schema"];
      field = "spec.validation.openAPIV3Schema";
    }
    if (schema == nullptr) continue;
    auto compiled = CrdSchema::Compile(*schema, field);
    if (!compiled) {
      ApiError e = compiled.error();
      std::string name = crd.contains("metadata") ? GetStr(crd["metadata"], "name") : "";
      // Name the CRD in the message, as kube-apiserver does.
      const std::string prefix = "CustomResourceDefinition.apiextensions.k8s.io \"\" is invalid";
      if (e.message.starts_with(prefix)) {
        e.message = "CustomResourceDefinition.apiextensions.k8s.io \"" + name + "\" is invalid" +
                    e.message.substr(prefix.size());
        if (e.details.is_object()) e.details["name"] = name;
      }
      return Err(e);
    }
    out[GetStr(v, "name")] = std::move(*compiled);
  }
  return out;
}

ApiResult<void> ResourceRegistry::AddCrd(const Json& crd) {
  auto schemas = CheckCrd(crd);
  if (!schemas) return Err(schemas.error());
  const std::string name = GetStr(crd["metadata"], "name");
  const Json spec = crd.value("spec", Json::object());
  const Json names = spec.value("names", Json::object());
  std::string group = GetStr(spec, "group");
  std::string plural = GetStr(names, "plural");
  std::string kind = GetStr(names, "kind");
  std::string scope = GetStr(spec, "scope");
  std::lock_guard lock(mu_);
  std::erase_if(types_, [&](const ResourceType& t) { return t.custom && t.crd_name == name; });
  for (const auto& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    ResourceType t;
    t.group = group;
    t.version = GetStr(v, "name");
    t.resource = plural;
    t.singular = GetStr(names, "singular");
    if (t.singular.empty()) {
      t.singular = kind;
      std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(), ::tolower);
    }
    t.kind = kind;
    t.list_kind = GetStr(names, "listKind");
    if (t.list_kind.empty()) t.list_kind = kind + "List";
    t.namespaced = scope == "Namespaced";
    t.verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
    if (names.contains("shortNames"))
      t.short_names = names["shortNames"].get<std::vector<std::string>>();
    if (names.contains("categories"))
      t.categories = names["categories"].get<std::vector<std::string>>();
    const Json sub = v.value("subresources", spec.value("subresources", Json::object()));
    t.has_status = sub.contains("status");
    if (sub.contains("scale")) {
      t.has_scale = true;
      const Json& sc = sub["scale"];
      t.spec_replicas_path = sc.value("specReplicasPath", ".spec.replicas");
      t.status_replicas_path = sc.value("statusReplicasPath", ".status.replicas");
      t.label_selector_path = sc.value("labelSelectorPath", "");
    }
    if (v.contains("selectableFields")) {
      for (const auto& f : v["selectableFields"]) {
        std::string path = f.value("jsonPath", "");
        if (path.starts_with(".")) path.erase(0, 1);
        t.selectable_fields.push_back(path);
      }
    }
    t.custom = true;
    t.crd_name = name;
    if (auto it = schemas->find(t.version); it != schemas->end()) t.schema = it->second;
    const Json columns =
        v.value("additionalPrinterColumns", spec.value("additionalPrinterColumns", Json::array()));
    if (columns.is_array()) t.printer_columns = columns;
    t.tracks_generation = true;
    AddLocked(std::move(t));
  }
  return {};
}

void ResourceRegistry::RemoveCrd(const std::string& crd_name) {
  std::lock_guard lock(mu_);
  std::erase_if(types_, [&](const ResourceType& t) { return t.custom && t.crd_name == crd_name; });
}

Json ResourceRegistry::ApiVersions(const std::string& server_address) const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

namespace {
Json GroupJson(const std::string& group, const std::vector<std::string>& versions) {
  Json vs = Json::array();
  for (const auto& v : versions) vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  return {{"name", group}, {"versions", vs}, {"preferredVersion", vs.at(0)}};
}
}  // namespace

Json ResourceRegistry::ApiGroupList() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> versions;
  for (const auto& t : types_) {
    if (t.group.empty()) continue;
    if (!versions.count(t.group)) order.push_back(t.group);
    auto& vs = versions[t.group];
    if (std::find(vs.begin(), vs.end(), t.version) == vs.end()) vs.push_back(t.version);
  }
  Json groups = Json::array();
  for (const auto& g : order) groups.push_back(GroupJson(g, versions[g]));
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<Json> ResourceRegistry::ApiGroup(std::string_view group) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> vs;
  for (const auto& t : types_) {
    if (t.group == group && std::find(vs.begin(), vs.end(), t.version) == vs.end())
      vs.push_back(t.version);
  }
  if (vs.empty() || group.empty()) return std::nullopt;
  Json j = GroupJson(std::string(group), vs);
  j["kind"] = "APIGroup";
  j["apiVersion"] = "v1";
  return j;
}

std::optional<Json> ResourceRegistry::ApiResourceList(std::string_view group,
                                                      std::string_view version) const {
  std::lock_guard lock(mu_);
  Json resources = Json::array();
  bool found = false;
  for (const auto& t : types_) {
    if (t.group != group || t.version != version) continue;
    found = true;
    Json r = {{"name", t.resource},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", t.verbs}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(r);
    if (t.has_status) {
      resources.push_back({{"name", t.resource + "/status"},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"kind", t.kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
    if (t.has_scale) {
      resources.push_back({{"name", t.resource + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (!found) return std::nullopt;
  std::string gv =
      group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv},
              {"resources", resources}};
}

}  // namespace tether::testing
