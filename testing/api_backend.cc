#include "testing/api_backend.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <random>
#include <set>

#include "kube/selector.h"
#include "testing/patch.h"

namespace tether::testing {
namespace {

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Json& Meta(Json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  return obj["metadata"];
}

const Json& MetaOf(const Json& obj) {
  static const Json empty = Json::object();
  auto it = obj.find("metadata");
  return it != obj.end() && it->is_object() ? *it : empty;
}

std::string QualifiedKind(const ResourceType& t) {
  return t.group.empty() ? t.kind : t.kind + "." + t.group;
}

Json::json_pointer Pointer(const std::string& dotted) {
  std::string p;
  std::string_view s(dotted);
  if (s.starts_with(".")) s.remove_prefix(1);
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    p += "/";
    p += part;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return Json::json_pointer(p);
}

Json ValueAt(const Json& obj, const std::string& dotted) {
  try {
    auto ptr = Pointer(dotted);
    if (obj.contains(ptr)) return obj.at(ptr);
  } catch (const Json::exception&) {
  }
  return nullptr;
}

Json WithoutMetaAndStatus(const Json& obj) {
  Json copy = obj;
  if (copy.is_object()) {
    copy.erase("metadata");
    copy.erase("status");
    copy.erase("kind");
    copy.erase("apiVersion");
  }
  return copy;
}

std::vector<std::string> Strings(const Json& arr) {
  std::vector<std::string> out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string Base64UrlEncode(const std::string& in) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kChars[(n >> 18) & 63];
    out += kChars[(n >> 12) & 63];
    out += kChars[(n >> 6) & 63];
    out += kChars[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kChars[(n >> 18) & 63];
    out += kChars[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kChars[(n >> 18) & 63];
    out += kChars[(n >> 12) & 63];
    out += kChars[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = val(c);
    if (v < 0) return std::nullopt;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// A tether::Error from testing/patch.h as the metav1.Status kube-apiserver sends.
ApiError FromPatchError(const Error& e, const std::vector<ApplyConflict>& conflicts) {
  ApiError out{e.http_status != 0 ? e.http_status : 500, e.reason, e.message, nullptr};
  if (out.code == 422 || out.code == 415) out.details = Json::object();
  if (!conflicts.empty()) {
    Json causes = Json::array();
    for (const auto& c : conflicts) {
      causes.push_back({{"reason", "FieldManagerConflict"},
                        {"message", "conflict with " + c.manager},
                        {"field", c.field}});
    }
    out.details = Json{{"causes", causes}};
  }
  return out;
}

ApiError OptionsInvalid(const std::string& kind, const FieldError& e) {
  ApiError err = Invalid(kind, "meta.k8s.io", "", {e});
  err.details.erase("name");
  return err;
}

}  // namespace

Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json j = Json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      Json j = Json::array();
      for (const auto& v : node) j.push_back(YamlToJson(v));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~" || s.empty()) return nullptr;
      try {
        size_t used = 0;
        long long v = std::stoll(s, &used);
        if (used == s.size()) return v;
        double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (...) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::string NewUid() {
  std::uniform_int_distribution<int> d(0, 15);
  const char* hex = "0123456789abcdef";
  std::string s = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  for (char& c : s) {
    if (c == 'x') c = hex[d(Rng())];
    if (c == 'y') c = hex[8 + d(Rng()) % 4];
  }
  return s;
}

std::string GenerateNameSuffix() {
  static const char* kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<int> d(0, 26);
  std::string s;
  for (int i = 0; i < 5; ++i) s += kAlphabet[d(Rng())];
  return s;
}

ApiBackend::ApiBackend(ResourceRegistry& registry, ObjectStore& store, Clock& clock)
    : registry_(registry), store_(store), clock_(clock) {}

Json ApiBackend::Served(const ResourceType& type, Json object) {
  if (object.is_object()) {
    object["kind"] = type.kind;
    object["apiVersion"] = type.ApiVersion();
  }
  return object;
}

std::string ApiBackend::EncodeContinue(std::int64_t rv, const std::string& key) {
  Json j = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", "/" + key + std::string(1, '\0')}};
  return Base64UrlEncode(j.dump());
}

ApiResult<std::pair<std::int64_t, std::string>> ApiBackend::DecodeContinue(
    const std::string& token) {
  auto raw = Base64UrlDecode(token);
  if (!raw) {
    return Err(BadRequest("invalid continue token: illegal base64 data"));
  }
  Json j = Json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Err(BadRequest(
        "invalid continue token: continue key is not valid: invalid character in encoded JSON"));
  }
  if (j.value("v", "") != "meta.k8s.io/v1") {
    return Err(
        BadRequest("invalid continue token: continue key is not valid: incorrect encoded start "
                   "resourceVersion (version meta.k8s.io/v1)"));
  }
  std::int64_t rv = j.value("rv", std::int64_t{0});
  std::string start = j.value("start", "");
  if (rv <= 0 || start.empty()) {
    return Err(
        BadRequest("invalid continue token: continue key is not valid: incorrect encoded start "
                   "resourceVersion (version meta.k8s.io/v1)"));
  }
  if (!start.empty() && start.back() == '\0') start.pop_back();
  if (start.starts_with("/")) start.erase(0, 1);
  return std::make_pair(rv, start);
}

ApiResult<ObjectStore::Filter> ApiBackend::MakeFilter(const ResourceType& type,
                                                      const std::string& label_selector,
                                                      const std::string& field_selector) const {
  auto labels = kube::LabelSelector::Parse(label_selector);
  if (!labels) return Err(BadRequest(labels.error().message));
  auto fields = kube::FieldSelector::Parse(field_selector);
  if (!fields) return Err(BadRequest(fields.error().message));
  auto checked =
      fields->ForKind(type.group, type.kind, type.custom, !type.namespaced, type.selectable_fields);
  if (!checked) return Err(BadRequest(checked.error().message));
  if (labels->Empty() && checked->Empty()) return ObjectStore::Filter();
  return ObjectStore::Filter([l = *labels, f = *checked](const Json& obj) {
    return l.MatchesObject(obj) && f.Matches(obj);
  });
}

void ApiBackend::PrepareForCreate(const ResourceType& type, Json& obj) const {
  Json& md = Meta(obj);
  md["uid"] = NewUid();
  md["creationTimestamp"] = FormatRfc3339(clock_.Now());
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  if (type.tracks_generation) {
    md["generation"] = 1;
  } else {
    md.erase("generation");
  }
  if (type.group.empty() && type.resource == "pods") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) spec = Json::object();
    if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
    if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
    if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
    if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
    if (!spec.contains("serviceAccountName")) spec["serviceAccountName"] = "default";
    if (!spec.contains("priority")) spec["priority"] = 0;
    Json status = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    if (spec.contains("schedulingGates") && spec["schedulingGates"].is_array() &&
        !spec["schedulingGates"].empty()) {
      status["conditions"] =
          Json::array({{{"type", "PodScheduled"},
                        {"status", "False"},
                        {"lastProbeTime", nullptr},
                        {"lastTransitionTime", md["creationTimestamp"]},
                        {"reason", "SchedulingGated"},
                        {"message", "Scheduling is blocked due to non-empty scheduling gates"}}});
    }
    obj["status"] = status;
  } else if (type.group == "apps" &&
             (type.resource == "deployments" || type.resource == "statefulsets" ||
              type.resource == "replicasets")) {
    Json& spec = obj["spec"];
    if (spec.is_object() && !spec.contains("replicas")) spec["replicas"] = 1;
    if (type.resource == "deployments" && spec.is_object()) {
      if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
      if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
      if (!spec.contains("strategy")) {
        spec["strategy"] = {{"type", "RollingUpdate"},
                            {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}};
      }
    }
    obj.erase("status");
    obj["status"] = Json::object();
  } else if (type.group.empty() && type.resource == "namespaces") {
    obj["spec"] = {{"finalizers", {"kubernetes"}}};
    obj["status"] = {{"phase", "Active"}};
  } else if (type.has_status && !type.custom) {
    if (!obj.contains("status")) obj["status"] = Json::object();
  } else if (type.custom && type.has_status) {
    obj.erase("status");  // status is only written through the subresource
  }
  if (type.resource == "events" && type.group.empty()) {
    if (!obj.contains("reportingComponent")) obj["reportingComponent"] = "";
    if (!obj.contains("reportingInstance")) obj["reportingInstance"] = "";
    if (!obj.contains("source")) obj["source"] = Json::object();
  } else if (type.resource == "events" && type.group == "events.k8s.io") {
    if (!obj.contains("deprecatedSource")) obj["deprecatedSource"] = Json::object();
  }
  if (type.group == "apiextensions.k8s.io" && type.resource == "customresourcedefinitions") {
    const Json names = obj.value("spec", Json::object()).value("names", Json::object());
    Json accepted = names;
    if (!accepted.contains("singular") && accepted.contains("kind")) {
      std::string s = accepted["kind"].get<std::string>();
      std::transform(s.begin(), s.end(), s.begin(), ::tolower);
      accepted["singular"] = s;
    }
    if (!accepted.contains("listKind") && accepted.contains("kind")) {
      accepted["listKind"] = accepted["kind"].get<std::string>() + "List";
    }
    Json stored = Json::array();
    for (const auto& v : obj["spec"].value("versions", Json::array())) {
      if (v.value("storage", false)) stored.push_back(v.value("name", ""));
    }
    std::string now = md["creationTimestamp"];
    obj["status"] = {{"conditions",
                      {{{"type", "NamesAccepted"},
                        {"status", "True"},
                        {"lastTransitionTime", now},
                        {"reason", "NoConflicts"},
                        {"message", "no conflicts found"}},
                       {{"type", "Established"},
                        {"status", "True"},
                        {"lastTransitionTime", now},
                        {"reason", "InitialNamesAccepted"},
                        {"message", "the initial names have been accepted"}}}},
                     {"acceptedNames", accepted},
                     {"storedVersions", stored}};
  }
}

ApiResult<void> ApiBackend::ApplySchema(const ResourceType& type, Json& obj, SchemaReport* report) {
  if (!type.schema) return {};
  std::vector<std::string> unknown = type.schema->Prune(obj);
  if (report != nullptr) {
    if (report->field_validation == "Strict" && !unknown.empty()) {
      std::string list;
      for (const auto& f : unknown)
        list += (list.empty() ? "" : ", ") + ("unknown field " + Json(f).dump());
      return Err(BadRequest(type.kind + " in version " + Json(type.version).dump() +
                            " cannot be handled as a " + type.kind +
                            ": strict decoding error: " + list));
    }
    report->unknown_fields = std::move(unknown);
  }
  type.schema->Default(obj);
  return {};
}

ApiResult<void> ApiBackend::Validate(const ResourceType& type, const Json& obj,
                                     const Json* old) const {
  std::vector<FieldError> errs;
  const Json& md = MetaOf(obj);
  std::string name = Str(md, "name");
  if (old == nullptr) {
    if (name.empty()) {
      errs.push_back(FieldError::Required("metadata.name", "name or generateName is required"));
    } else {
      for (const auto& msg : kube::IsDNS1123Subdomain(name)) {
        errs.push_back(FieldError::Invalid("metadata.name", name, msg));
      }
    }
  }
  const Json spec = obj.value("spec", Json::object());
  if (type.group.empty() && type.resource == "pods") {
    const Json gates = spec.value("schedulingGates", Json::array());
    std::set<std::string> seen;
    for (size_t i = 0; i < gates.size(); ++i) {
      std::string g = gates[i].is_object() ? Str(gates[i], "name") : "";
      std::string field = "spec.schedulingGates[" + std::to_string(i) + "]";
      for (const auto& msg : kube::IsQualifiedName(g))
        errs.push_back(FieldError::Invalid(field, g, msg));
      if (!seen.insert(g).second) errs.push_back(FieldError::Duplicate(field, g));
    }
    if (old == nullptr && !gates.empty() && !Str(spec, "nodeName").empty()) {
      errs.push_back(FieldError::Forbidden(
          "spec.nodeName", "cannot be set until all schedulingGates have been cleared"));
    }
    if (old != nullptr) {
      const Json old_spec = old->value("spec", Json::object());
      std::set<std::string> old_gates;
      for (const auto& g : old_spec.value("schedulingGates", Json::array()))
        old_gates.insert(Str(g, "name"));
      bool gate_error = false;
      for (size_t i = 0; i < gates.size(); ++i) {
        std::string g = Str(gates[i], "name");
        if (!old_gates.count(g)) {
          gate_error = true;
          errs.push_back(FieldError::Forbidden(
              "spec.schedulingGates[" + std::to_string(i) + "].name",
              "only deletion is allowed, but found new scheduling gate '" + g + "'"));
        }
      }
      // Pod spec is immutable apart from a few fields.
      Json a = old_spec, b = spec;
      auto normalize = [](Json& s, const Json& from) {
        for (const char* list : {"containers", "initContainers"}) {
          if (s.contains(list) && from.contains(list) && s[list].is_array() &&
              from[list].is_array() && s[list].size() == from[list].size()) {
            for (size_t i = 0; i < s[list].size(); ++i) {
              if (s[list][i].is_object() && from[list][i].is_object() &&
                  from[list][i].contains("image")) {
                s[list][i]["image"] = from[list][i]["image"];
              }
            }
          }
        }
        for (const char* f : {"activeDeadlineSeconds", "tolerations",
                              "terminationGracePeriodSeconds", "schedulingGates"}) {
          if (from.contains(f)) {
            s[f] = from[f];
          } else {
            s.erase(f);
          }
        }
      };
      normalize(b, a);
      bool gated = !old_gates.empty();
      if (gated) {  // gated pods may gain node affinity / selectors
        for (const char* f : {"nodeSelector", "affinity"}) {
          if (b.contains(f)) {
            a[f] = b[f];
          }
        }
      }
      if (a != b && !gate_error) {
        errs.push_back(FieldError::Forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
            "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
            "be "
            "set to 1 if it was previously negative)"));
      }
    }
  }
  if (type.group == "apps" && spec.contains("replicas") && spec["replicas"].is_number_integer() &&
      spec["replicas"].get<std::int64_t>() < 0) {
    errs.push_back(FieldError::Invalid("spec.replicas", spec["replicas"],
                                       "must be greater than or equal to 0"));
  }
  if (type.group == "apps" && spec.contains("selector") && spec.contains("template")) {
    auto sel = kube::LabelSelector::FromJson(spec["selector"]);
    Json tlabels =
        spec["template"].value("metadata", Json::object()).value("labels", Json::object());
    if (sel && !sel->Empty() && !sel->MatchesJson(tlabels)) {
      errs.push_back(FieldError::Invalid("spec.template.metadata.labels", tlabels,
                                         "`selector` does not match template `labels`"));
    }
  }
  if (type.group == "coordination.k8s.io" && spec.contains("leaseDurationSeconds") &&
      spec["leaseDurationSeconds"].is_number() && spec["leaseDurationSeconds"].get<double>() <= 0) {
    errs.push_back(FieldError::Invalid("spec.leaseDurationSeconds", spec["leaseDurationSeconds"],
                                       "must be greater than 0"));
  }
  if (old != nullptr) {
    const Json& omd = MetaOf(*old);
    if (omd.contains("deletionTimestamp")) {
      std::vector<std::string> before = Strings(omd.value("finalizers", Json::array()));
      std::vector<std::string> added;
      for (const auto& f : Strings(md.value("finalizers", Json::array()))) {
        if (std::find(before.begin(), before.end(), f) == before.end()) added.push_back(f);
      }
      if (!added.empty()) {
        std::string list;
        for (size_t i = 0; i < added.size(); ++i) list += (i ? ", " : "") + Json(added[i]).dump();
        errs.push_back(FieldError::Forbidden("metadata.finalizers",
                                             "no new finalizers can be added if the object is "
                                             "being deleted, found new finalizers []string{" +
                                                 list + "}"));
      }
    }
  }
  if (type.schema) {
    for (auto& e : type.schema->Validate(obj, old)) errs.push_back(std::move(e));
  }
  if (!errs.empty()) {
    ApiError e = Invalid(type.kind, type.group, name, errs);
    // kube-apiserver reports the finalizer violation twice in causes (metadata is validated by
    // both the generic and the type-specific update validation); mirror it.
    for (const auto& fe : errs) {
      if (fe.field == "metadata.finalizers") {
        e.details["causes"].push_back(
            {{"reason", fe.reason}, {"message", fe.message}, {"field", fe.field}});
      }
    }
    return Err(e);
  }
  return {};
}

ApiResult<Json> ApiBackend::Create(const ResourceType& type, const std::string& ns, Json body,
                                   bool dry_run, SchemaReport* report) {
  if (!body.is_object()) {
    return Err(
        BadRequest("the object provided is unrecognized (must be of type " + type.kind + ")"));
  }
  std::string body_kind = Str(body, "kind");
  if (!body_kind.empty() && body_kind != type.kind) {
    return Err(BadRequest("the API version in the data (" + Str(body, "apiVersion") +
                          ") does not match the expected API version (" + type.ApiVersion() + ")"));
  }
  Json& md = Meta(body);
  std::string body_ns = Str(md, "namespace");
  if (type.namespaced) {
    if (!body_ns.empty() && body_ns != ns) {
      return Err(BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request"));
    }
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  if (Str(md, "name").empty() && !Str(md, "generateName").empty()) {
    md["name"] = Str(md, "generateName") + GenerateNameSuffix();
  }
  if (type.namespaced && !store_.Get("namespaces", "", ns)) {
    return Err(NotFound("namespaces", "", ns));
  }
  if (auto applied = ApplySchema(type, body, report); !applied) return Err(applied.error());
  if (auto v = Validate(type, body, nullptr); !v) return Err(v.error());
  if (type.group == "apiextensions.k8s.io" && type.resource == "customresourcedefinitions") {
    if (auto v = ResourceRegistry::ValidateCrd(body); !v) return Err(v.error());
  }
  PrepareForCreate(type, body);
  body.erase("kind");
  body.erase("apiVersion");
  std::string name = Str(md, "name");
  const std::string gr = type.GroupResourceName();
  auto stored = store_.Mutate(gr, ns, name, [&](const Json* cur) -> ApiResult<Mutation> {
    if (cur != nullptr) return Err(AlreadyExists(type.resource, type.group, name));
    if (dry_run) return Mutation::None(body);
    return Mutation::Put(body);
  });
  if (!stored) return stored;
  if (type.group == "apiextensions.k8s.io" && type.resource == "customresourcedefinitions" &&
      !dry_run) {
    AfterCrdWrite(*stored, false);
  }
  return Served(type, *stored);
}

ApiResult<Json> ApiBackend::Get(const ResourceType& type, const std::string& ns,
                                const std::string& name, Subresource sub) const {
  auto obj = store_.Get(type.GroupResourceName(), ns, name);
  if (!obj) return Err(NotFound(type.resource, type.group, name));
  if (sub == Subresource::kScale) return ScaleFor(type, *obj);
  return Served(type, std::move(*obj));
}

ApiResult<Json> ApiBackend::List(const ResourceType& type, const std::string& ns,
                                 const ListParams& p) const {
  if (!p.resource_version_match.empty() && !p.resource_version) {
    return Err(OptionsInvalid(
        "ListOptions",
        FieldError::Forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided")));
  }
  if (!p.resource_version_match.empty() && p.resource_version_match != "Exact" &&
      p.resource_version_match != "NotOlderThan") {
    return Err(OptionsInvalid(
        "ListOptions", FieldError::NotSupported("resourceVersionMatch", p.resource_version_match,
                                                {"Exact", "NotOlderThan"})));
  }
  auto filter = MakeFilter(type, p.label_selector, p.field_selector);
  if (!filter) return Err(filter.error());
  std::int64_t at_rv = 0;
  std::string start;
  std::int64_t limit = p.limit;
  std::int64_t requested_rv = 0;
  if (p.resource_version && !p.resource_version->empty()) {
    try {
      requested_rv = std::stoll(*p.resource_version);
    } catch (...) {
      return Err(
          ApiError{400, "BadRequest", "invalid resource version: " + *p.resource_version, nullptr});
    }
  }
  bool any_rv = p.resource_version && *p.resource_version == "0";
  if (!p.continue_token.empty()) {
    auto token = DecodeContinue(p.continue_token);
    if (!token) return Err(token.error());
    if (!any_rv) {
      at_rv = token->first;
      if (at_rv <= store_.compacted_rv()) {
        return Err(
            Expired("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue parameter from the new list result."));
      }
    }
    start = type.namespaced && !ns.empty() ? ns + "/" + token->second : token->second;
  } else if (p.resource_version_match == "Exact") {
    at_rv = requested_rv;
  }
  if (any_rv) limit = 0;  // served from the "watch cache": limit ignored, like kube-apiserver
  auto page = store_.List(type.GroupResourceName(), type.namespaced ? ns : "", at_rv, start, limit,
                          *filter);
  if (!page) return Err(page.error());
  Json items = Json::array();
  for (auto& item : page->items) {
    if (type.custom) {
      items.push_back(Served(type, std::move(item)));
    } else {
      items.push_back(std::move(item));
    }
  }
  Json meta = {{"resourceVersion", std::to_string(page->rv)}};
  if (!page->last_key.empty()) {
    // Like etcd keys, the token's start is relative to the listed namespace.
    std::string key = page->last_key;
    if (type.namespaced && !ns.empty() && key.starts_with(ns + "/"))
      key = key.substr(ns.size() + 1);
    meta["continue"] = EncodeContinue(page->rv, key);
  }
  if (page->remaining) meta["remainingItemCount"] = *page->remaining;
  return Json{{"kind", type.list_kind},
              {"apiVersion", type.ApiVersion()},
              {"metadata", meta},
              {"items", items}};
}

Json ApiBackend::ScaleFor(const ResourceType& type, const Json& obj) const {
  const Json& md = MetaOf(obj);
  Json scale_md = {{"name", md.value("name", "")},
                   {"uid", md.value("uid", "")},
                   {"resourceVersion", md.value("resourceVersion", "")},
                   {"creationTimestamp", md.value("creationTimestamp", "")}};
  if (md.contains("namespace")) scale_md["namespace"] = md["namespace"];
  Json replicas = ValueAt(obj, type.spec_replicas_path);
  Json status_replicas = ValueAt(obj, type.status_replicas_path);
  Json status = {{"replicas", status_replicas.is_number() ? status_replicas : Json(0)}};
  if (!type.custom) {
    Json sel = obj.value("spec", Json::object()).value("selector", Json());
    auto parsed = kube::LabelSelector::FromJson(sel);
    if (parsed && !sel.is_null()) status["selector"] = parsed->String();
  } else if (!type.label_selector_path.empty()) {
    Json sel = ValueAt(obj, type.label_selector_path);
    if (sel.is_string()) status["selector"] = sel;
  }
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", scale_md},
          {"spec",
           replicas.is_number() && replicas != 0 ? Json{{"replicas", replicas}} : Json::object()},
          {"status", status}};
}

ApiResult<Json> ApiBackend::ApplyScale(const ResourceType& type, const Json& obj,
                                       const Json& scale) const {
  Json replicas = scale.value("spec", Json::object()).value("replicas", Json(0));
  std::string name = MetaOf(obj).value("name", "");
  if (!replicas.is_number_integer()) {
    return Err(Invalid("Scale", "autoscaling", name,
                       {FieldError::Invalid("spec.replicas", replicas, "must be an integer")}));
  }
  if (replicas.get<std::int64_t>() < 0) {
    return Err(Invalid(
        "Scale", "autoscaling", name,
        {FieldError::Invalid("spec.replicas", replicas, "must be greater than or equal to 0")}));
  }
  Json out = obj;
  try {
    out[Pointer(type.spec_replicas_path)] = replicas;
  } catch (const Json::exception& e) {
    return Err(InternalError(std::string("scale: cannot set ") + type.spec_replicas_path + ": " +
                             e.what()));
  }
  return out;
}

ApiResult<Json> ApiBackend::UpdateLocked(const ResourceType& type, const Json* current, Json body,
                                         Subresource sub, bool dry_run, const std::string& name,
                                         const std::string& ns, bool* delete_now,
                                         SchemaReport* report) const {
  *delete_now = false;
  if (current == nullptr) return Err(NotFound(type.resource, type.group, name));
  if (!body.is_object()) {
    return Err(
        BadRequest("the object provided is unrecognized (must be of type " + type.kind + ")"));
  }
  const Json& cmd = MetaOf(*current);
  Json& bmd = Meta(body);
  std::string body_name = Str(bmd, "name");
  if (!body_name.empty() && body_name != name) {
    return Err(BadRequest("the name of the object (" + body_name +
                          ") does not match the name on the URL (" + name + ")"));
  }
  if (type.namespaced && !Str(bmd, "namespace").empty() && Str(bmd, "namespace") != ns) {
    return Err(BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request"));
  }
  std::string body_rv = Str(bmd, "resourceVersion");
  if (!body_rv.empty()) {
    bool numeric = std::all_of(body_rv.begin(), body_rv.end(), ::isdigit);
    if (!numeric) {
      return Err(ApiError{500, "",
                          "strconv.ParseUint: parsing " + Json(body_rv).dump() + ": invalid syntax",
                          nullptr});
    }
    if (body_rv != Str(cmd, "resourceVersion")) {
      if (sub == Subresource::kScale) return Err(StaleConflict(type.resource, type.group, name));
      return Err(StaleConflict(type.resource, type.group, name));
    }
  }
  Json next;
  if (sub == Subresource::kScale) {
    auto scaled = ApplyScale(type, *current, body);
    if (!scaled) return Err(scaled.error());
    next = std::move(*scaled);
  } else if (sub == Subresource::kStatus) {
    next = *current;
    if (body.contains("status")) {
      next["status"] = body["status"];
    } else {
      next.erase("status");
    }
  } else {
    next = body;
    next.erase("kind");
    next.erase("apiVersion");
    Json& nmd = Meta(next);
    // Server-owned metadata comes from the stored object.
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "namespace", "name"}) {
      if (cmd.contains(f)) {
        nmd[f] = cmd[f];
      } else {
        nmd.erase(f);
      }
    }
    if (type.has_status) {
      if (current->contains("status")) {
        next["status"] = (*current)["status"];
      } else {
        next.erase("status");
      }
    }
    if (type.group.empty() && type.resource == "namespaces") next["status"] = (*current)["status"];
  }
  if (auto applied = ApplySchema(type, next, report); !applied) return Err(applied.error());
  if (auto v = Validate(type, next, current); !v) return Err(v.error());
  if (type.tracks_generation && WithoutMetaAndStatus(next) != WithoutMetaAndStatus(*current)) {
    Meta(next)["generation"] = cmd.value("generation", std::int64_t{1}) + 1;
  }
  if (cmd.contains("deletionTimestamp") &&
      Strings(MetaOf(next).value("finalizers", Json::array())).empty()) {
    *delete_now = true;
  }
  Meta(next)["resourceVersion"] = cmd.value("resourceVersion", "");
  (void)dry_run;
  return next;
}

ApiResult<Json> ApiBackend::Update(const ResourceType& type, const std::string& ns,
                                   const std::string& name, Json body, Subresource sub,
                                   bool dry_run, SchemaReport* report) {
  if (sub == Subresource::kStatus && !type.has_status) return Err(NotFoundPath());
  if (sub == Subresource::kScale && !type.has_scale) return Err(NotFoundPath());
  if (sub == Subresource::kScale && body.is_object()) {
    std::string body_name = Str(MetaOf(body), "name");
    if (!body_name.empty() && body_name != name) {
      return Err(BadRequest("the name of the object (" + body_name +
                            ") does not match the name on the URL (" + name + ")"));
    }
  }
  const std::string gr = type.GroupResourceName();
  bool deleted = false;
  auto stored = store_.Mutate(
      gr, type.namespaced ? ns : "", name, [&](const Json* cur) -> ApiResult<Mutation> {
        bool delete_now = false;
        auto next = UpdateLocked(type, cur, body, sub, dry_run, name, ns, &delete_now, report);
        if (!next) return Err(next.error());
        if (dry_run) return Mutation::None(*next);
        if (*next == *cur) return Mutation::None(*next);  // no-op updates keep the resourceVersion
        if (delete_now) {
          deleted = true;
          return Mutation::Delete(*next);
        }
        return Mutation::Put(*next);
      });
  if (!stored) return stored;
  if (type.group == "apiextensions.k8s.io" && type.resource == "customresourcedefinitions" &&
      !dry_run) {
    AfterCrdWrite(*stored, deleted);
  }
  if (sub == Subresource::kScale) return ScaleFor(type, *stored);
  return Served(type, std::move(*stored));
}

ApiResult<Json> ApiBackend::Patch(const ResourceType& type, const std::string& ns,
                                  const std::string& name, Subresource sub,
                                  const std::string& patch_text, const PatchParams& params,
                                  bool* created) {
  if (created != nullptr) *created = false;
  std::string ct = params.content_type;
  if (auto semi = ct.find(';'); semi != std::string::npos) ct = ct.substr(0, semi);
  bool json_patch = ct == "application/json-patch+json";
  bool merge = ct == "application/merge-patch+json";
  bool strategic = ct == "application/strategic-merge-patch+json";
  bool apply = ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor";
  if (!json_patch && !merge && !strategic && !apply) return Err(UnsupportedMediaType(ct));
  if (strategic && type.custom) {
    return Err(ApiError{
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        nullptr});
  }
  if (apply && params.field_manager.empty()) {
    return Err(OptionsInvalid("PatchOptions",
                              FieldError::Required("fieldManager", "is required for apply patch")));
  }
  if (params.force && !apply) {
    return Err(
        OptionsInvalid("PatchOptions",
                       FieldError::Forbidden("force", "may not be specified for non-apply patch")));
  }
  if (sub == Subresource::kStatus && !type.has_status) return Err(NotFoundPath());
  if (sub == Subresource::kScale && !type.has_scale) return Err(NotFoundPath());
  Json patch;
  if (apply) {
    try {
      patch = YamlToJson(YAML::Load(patch_text));
    } catch (const std::exception& e) {
      return Err(BadRequest(std::string("error decoding YAML: ") + e.what()));
    }
    if (!patch.is_object()) return Err(BadRequest("error decoding YAML: not an object"));
    if (Str(patch, "kind").empty() && sub == Subresource::kNone) {
      return Err(BadRequest("invalid object type: /, Kind="));
    }
  } else {
    patch = Json::parse(patch_text, nullptr, false);
    if (patch.is_discarded())
      return Err(BadRequest("error decoding patch: unexpected end of JSON input"));
    if (json_patch && !patch.is_array()) {
      return Err(BadRequest(std::string("error decoding patch: json: cannot unmarshal ") +
                            (patch.is_object() ? "object" : "value") +
                            " into Go value of type []handlers.jsonPatchOp"));
    }
  }
  const std::string gr = type.GroupResourceName();
  const std::string key_ns = type.namespaced ? ns : "";
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = store_.Get(gr, key_ns, name);
    if (!current) {
      if (apply && sub == Subresource::kNone) {
        ApplyOptions opts;
        opts.manager = params.field_manager;
        opts.force = params.force;
        opts.now = FormatRfc3339(clock_.Now());
        opts.has_status_subresource = type.has_status;
        auto obj = ApplyServerSideApply(nullptr, patch, opts);
        if (!obj) return Err(FromPatchError(obj.error(), {}));
        Meta(*obj)["name"] = name;
        auto made = Create(type, ns, *obj, params.dry_run, params.report);
        if (made && created != nullptr) *created = true;
        return made;
      }
      return Err(NotFound(type.resource, type.group, name));
    }
    Json view = sub == Subresource::kScale ? ScaleFor(type, *current) : Served(type, *current);
    const std::string view_api_version =
        sub == Subresource::kScale ? "autoscaling/v1" : type.ApiVersion();
    const std::string view_kind = sub == Subresource::kScale ? "Scale" : type.kind;
    Result<Json> applied;
    std::vector<ApplyConflict> conflicts;
    if (json_patch) {
      applied = ApplyJsonPatch(view, patch);
    } else if (merge) {
      applied = ApplyMergePatch(view, patch);
    } else if (strategic) {
      applied = ApplyStrategicMergePatch(view, patch, view_api_version, view_kind);
    } else {
      ApplyOptions opts;
      opts.manager = params.field_manager;
      opts.force = params.force;
      opts.now = FormatRfc3339(clock_.Now());
      opts.subresource =
          sub == Subresource::kStatus ? "status" : (sub == Subresource::kScale ? "scale" : "");
      opts.has_status_subresource = type.has_status;
      opts.conflicts = &conflicts;
      applied = ApplyServerSideApply(&view, patch, opts);
    }
    if (!applied) return Err(FromPatchError(applied.error(), conflicts));
    Json patched = std::move(*applied);
    // The patch may carry a resourceVersion precondition; otherwise it applies to what we read.
    std::string rv_in_patch;
    if (patched.is_object() && patched.contains("metadata") && patched["metadata"].is_object()) {
      rv_in_patch = Str(patched["metadata"], "resourceVersion");
    }
    std::string read_rv = Str(MetaOf(*current), "resourceVersion");
    bool explicit_rv = !rv_in_patch.empty() && rv_in_patch != Str(MetaOf(view), "resourceVersion");
    if (!explicit_rv && patched.is_object()) Meta(patched)["resourceVersion"] = read_rv;
    auto result = Update(type, ns, name, patched, sub, params.dry_run, params.report);
    if (!result && result.error().code == 409 && result.error().reason == "Conflict" &&
        !explicit_rv) {
      continue;  // raced with another writer: re-read and re-apply
    }
    return result;
  }
  return Err(StaleConflict(type.resource, type.group, name));
}

ApiResult<DeleteResult> ApiBackend::Delete(const ResourceType& type, const std::string& ns,
                                           const std::string& name, const DeleteParams& p) {
  const std::string& pp = p.propagation_policy;
  if (!pp.empty() && pp != "Foreground" && pp != "Background" && pp != "Orphan") {
    return Err(OptionsInvalid(
        "DeleteOptions", FieldError::NotSupported("propagationPolicy", pp,
                                                  {"Foreground", "Background", "Orphan", "nil"})));
  }
  const std::string gr = type.GroupResourceName();
  const std::string key_ns = type.namespaced ? ns : "";
  DeleteResult result;
  auto stored = store_.Mutate(gr, key_ns, name, [&](const Json* cur) -> ApiResult<Mutation> {
    if (cur == nullptr) return Err(NotFound(type.resource, type.group, name));
    const Json& md = MetaOf(*cur);
    auto precondition_conflict = [&](const std::string& what) {
      ApiError e = Conflict(type.kind, type.group, name, what);
      e.message =
          "Operation cannot be fulfilled on " + QualifiedKind(type) + " \"" + name + "\": " + what;
      return e;
    };
    if (p.precondition_uid && *p.precondition_uid != Str(md, "uid")) {
      return Err(precondition_conflict("the UID in the precondition (" + *p.precondition_uid +
                                       ") does not match the UID in record (" + Str(md, "uid") +
                                       "). The object might have been deleted and then recreated"));
    }
    if (p.precondition_resource_version &&
        *p.precondition_resource_version != Str(md, "resourceVersion")) {
      return Err(precondition_conflict(
          "the ResourceVersion in the precondition (" + *p.precondition_resource_version +
          ") does not match the ResourceVersion in record (" + Str(md, "resourceVersion") +
          "). The object might have been modified"));
    }
    if (!Strings(md.value("finalizers", Json::array())).empty()) {
      Json next = *cur;
      if (!md.contains("deletionTimestamp")) {
        Meta(next)["deletionTimestamp"] = FormatRfc3339(clock_.Now());
        Meta(next)["deletionGracePeriodSeconds"] = 0;
        if (type.tracks_generation)
          Meta(next)["generation"] = md.value("generation", std::int64_t{1}) + 1;
      }
      result.deleted = false;
      if (p.dry_run || next == *cur) return Mutation::None(next);
      return Mutation::Put(next);
    }
    result.deleted = true;
    if (p.dry_run) return Mutation::None(*cur);
    return Mutation::Delete(*cur);
  });
  if (!stored) return Err(stored.error());
  if (result.deleted && !type.custom) {
    result.body = SuccessStatus(name, type.group, type.resource, Str(MetaOf(*stored), "uid"));
  } else {
    result.body = Served(type, *stored);
  }
  if (result.deleted && !p.dry_run) {
    if (type.group == "apiextensions.k8s.io" && type.resource == "customresourcedefinitions") {
      AfterCrdWrite(*stored, true);
    }
    if (type.group.empty() && type.resource == "namespaces") {
      // The namespace controller's job, done synchronously: remove everything inside.
      for (const auto& t : registry_.All()) {
        if (!t.namespaced || t.virtual_create) continue;
        for (const auto& [ons, oname] : store_.Keys(t.GroupResourceName(), name)) {
          store_.Mutate(t.GroupResourceName(), ons, oname,
                        [](const Json* cur) -> ApiResult<Mutation> {
                          if (cur == nullptr) return Mutation::None(Json());
                          return Mutation::Delete(*cur);
                        });
        }
      }
    }
  }
  return result;
}

void ApiBackend::AfterCrdWrite(const Json& crd, bool deleted) {
  std::string name = Str(MetaOf(crd), "name");
  if (deleted) {
    const Json spec = crd.value("spec", Json::object());
    std::string group = Str(spec, "group");
    std::string plural = Str(spec.value("names", Json::object()), "plural");
    // kube-apiserver's cleanup finalizer deletes every instance first, then stops serving.
    store_.DeleteAll(GroupResource(plural, group));
    registry_.RemoveCrd(name);
    return;
  }
  (void)registry_.AddCrd(crd);
}

}  // namespace tether::testing
