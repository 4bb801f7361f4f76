#include "testing/patch.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace tether::testing {
namespace {

Error HttpError(ErrorCode code, int status, std::string reason, std::string message) {
  Error e(code, std::move(message));
  e.http_status = status;
  e.reason = std::move(reason);
  return e;
}

Error BadRequest(std::string message) {
  return HttpError(ErrorCode::kInvalid, 400, "BadRequest", std::move(message));
}

// A plain Go error reaching the handler: kube-apiserver answers 500 with no reason.
Error Internal(std::string message) {
  return HttpError(ErrorCode::kInternal, 500, "", std::move(message));
}

// Go's json type names in "cannot unmarshal X into Go value" messages.
std::string_view GoJsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::null:
      return "null";
    default:
      return "number";
  }
}

// Go's fmt %v of a decoded JSON value (map[k:v] with sorted keys, [a b], <nil>), used in
// strategic merge patch error messages.
std::string GoValueString(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out += ' ';
        first = false;
        out += k + ":" + GoValueString(v);
      }
      return out + "]";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out += ' ';
        out += GoValueString(j[i]);
      }
      return out + "]";
    }
    case Json::value_t::string:
      return j.get<std::string>();
    case Json::value_t::null:
      return "<nil>";
    default:
      return j.dump();
  }
}

// ============================================================================== JSON patch ==

const char kJsonPatchRejected[] = "the server rejected our request due to an error in our request";

struct PatchFailure {
  std::string detail;
};

using Tokens = std::vector<std::string>;

tl::expected<Tokens, PatchFailure> ParsePointer(const std::string& pointer) {
  Tokens tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') {
    return tl::unexpected(
        PatchFailure{fmt::format("JSON pointer '{}' must start with '/'", pointer)});
  }
  size_t start = 1;
  while (true) {
    size_t slash = pointer.find('/', start);
    std::string raw =
        pointer.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return tokens;
}

std::optional<long long> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  size_t i = token[0] == '-' ? 1 : 0;
  if (i == token.size()) return std::nullopt;
  long long v = 0;
  for (; i < token.size(); ++i) {
    if (token[i] < '0' || token[i] > '9') return std::nullopt;
    v = v * 10 + (token[i] - '0');
  }
  return token[0] == '-' ? -v : v;
}

// Resolves all but the last token; returns the container the last token applies to.
tl::expected<Json*, PatchFailure> ResolveParent(Json& doc, const Tokens& tokens,
                                                const std::string& path) {
  Json* cur = &doc;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) {
        return tl::unexpected(PatchFailure{fmt::format("missing value at {}", path)});
      }
      cur = &*it;
    } else if (cur->is_array()) {
      auto idx = ParseIndex(t);
      long long n = static_cast<long long>(cur->size());
      if (!idx)
        return tl::unexpected(PatchFailure{fmt::format("invalid array index '{}' in {}", t, path)});
      long long k = *idx < 0 ? *idx + n : *idx;
      if (k < 0 || k >= n) {
        return tl::unexpected(
            PatchFailure{fmt::format("array index {} out of range in {}", t, path)});
      }
      cur = &(*cur)[static_cast<size_t>(k)];
    } else {
      return tl::unexpected(PatchFailure{fmt::format("cannot descend into a scalar at {}", path)});
    }
  }
  return cur;
}

tl::expected<const Json*, PatchFailure> GetAt(const Json& doc, const std::string& path) {
  auto tokens = ParsePointer(path);
  if (!tokens) return tl::unexpected(tokens.error());
  const Json* cur = &doc;
  for (const std::string& t : *tokens) {
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      auto idx = ParseIndex(t);
      long long n = static_cast<long long>(cur->size());
      if (!idx)
        return tl::unexpected(PatchFailure{fmt::format("invalid array index '{}' in {}", t, path)});
      long long k = *idx < 0 ? *idx + n : *idx;
      if (k < 0 || k >= n) return nullptr;
      cur = &(*cur)[static_cast<size_t>(k)];
    } else {
      return nullptr;
    }
  }
  return cur;
}

tl::expected<void, PatchFailure> AddAt(Json& doc, const std::string& path, Json value) {
  auto tokens = ParsePointer(path);
  if (!tokens) return tl::unexpected(tokens.error());
  if (tokens->empty()) {
    // Like evanphx/json-patch (used by kube-apiserver), the whole document is not a target.
    return tl::unexpected(PatchFailure{
        fmt::format("add operation does not apply: doc is missing path: \"{}\"", path)});
  }
  auto parent = ResolveParent(doc, *tokens, path);
  if (!parent) return tl::unexpected(parent.error());
  Json& p = **parent;
  const std::string& last = tokens->back();
  if (p.is_object()) {
    p[last] = std::move(value);
    return {};
  }
  if (p.is_array()) {
    if (last == "-") {
      p.push_back(std::move(value));
      return {};
    }
    auto idx = ParseIndex(last);
    long long n = static_cast<long long>(p.size());
    if (!idx) {
      return tl::unexpected(
          PatchFailure{fmt::format("invalid array index '{}' in {}", last, path)});
    }
    long long k = *idx < 0 ? *idx + n : *idx;
    if (k < 0 || k > n) {
      return tl::unexpected(
          PatchFailure{fmt::format("Unable to access invalid index: {} (add at {})", *idx, path)});
    }
    p.insert(p.begin() + k, std::move(value));
    return {};
  }
  return tl::unexpected(PatchFailure{fmt::format("add at {}: parent is not a container", path)});
}

tl::expected<Json, PatchFailure> RemoveAt(Json& doc, const std::string& path, std::string_view op) {
  auto tokens = ParsePointer(path);
  if (!tokens) return tl::unexpected(tokens.error());
  if (tokens->empty()) {
    return tl::unexpected(PatchFailure{fmt::format("{} of the whole document is not allowed", op)});
  }
  auto parent = ResolveParent(doc, *tokens, path);
  if (!parent) return tl::unexpected(parent.error());
  Json& p = **parent;
  const std::string& last = tokens->back();
  if (p.is_object()) {
    auto it = p.find(last);
    if (it == p.end()) {
      return tl::unexpected(
          PatchFailure{fmt::format("Unable to remove nonexistent key: {}: missing value", last)});
    }
    Json out = std::move(*it);
    p.erase(it);
    return out;
  }
  if (p.is_array()) {
    auto idx = ParseIndex(last);
    long long n = static_cast<long long>(p.size());
    if (!idx) {
      return tl::unexpected(
          PatchFailure{fmt::format("invalid array index '{}' in {}", last, path)});
    }
    long long k = *idx < 0 ? *idx + n : *idx;
    if (k < 0 || k >= n) {
      return tl::unexpected(PatchFailure{
          fmt::format("Unable to access invalid index: {} ({} at {})", *idx, op, path)});
    }
    Json out = std::move(p[static_cast<size_t>(k)]);
    p.erase(p.begin() + k);
    return out;
  }
  return tl::unexpected(PatchFailure{fmt::format("{} at {}: parent is not a container", op, path)});
}

tl::expected<void, PatchFailure> ReplaceAt(Json& doc, const std::string& path, Json value) {
  auto tokens = ParsePointer(path);
  if (!tokens) return tl::unexpected(tokens.error());
  if (tokens->empty()) {
    // Like evanphx/json-patch (used by kube-apiserver), the whole document is not a target.
    return tl::unexpected(PatchFailure{
        fmt::format("replace operation does not apply: doc is missing path: \"{}\"", path)});
  }
  auto parent = ResolveParent(doc, *tokens, path);
  if (!parent) return tl::unexpected(parent.error());
  Json& p = **parent;
  const std::string& last = tokens->back();
  if (p.is_object()) {
    auto it = p.find(last);
    if (it == p.end()) {
      return tl::unexpected(PatchFailure{
          fmt::format("replace operation does not apply: doc is missing key: {}", path)});
    }
    *it = std::move(value);
    return {};
  }
  if (p.is_array()) {
    auto idx = ParseIndex(last);
    long long n = static_cast<long long>(p.size());
    if (!idx) {
      return tl::unexpected(
          PatchFailure{fmt::format("invalid array index '{}' in {}", last, path)});
    }
    long long k = *idx < 0 ? *idx + n : *idx;
    if (k < 0 || k >= n) {
      return tl::unexpected(PatchFailure{
          fmt::format("Unable to access invalid index: {} (replace at {})", *idx, path)});
    }
    p[static_cast<size_t>(k)] = std::move(value);
    return {};
  }
  return tl::unexpected(
      PatchFailure{fmt::format("replace at {}: parent is not a container", path)});
}

// Checks the shape handlers.jsonPatchOp decoding enforces; returns Go's error text.
std::optional<std::string> DecodeJsonPatchShape(const Json& patch) {
  if (!patch.is_array()) {
    return fmt::format("json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                       GoJsonTypeName(patch));
  }
  for (const Json& op : patch) {
    if (op.is_null()) continue;  // Go decodes null into a zero-valued operation
    if (!op.is_object()) {
      return fmt::format("json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                         GoJsonTypeName(op));
    }
    for (const char* field : {"op", "path", "from"}) {
      auto it = op.find(field);
      if (it != op.end() && !it->is_string() && !it->is_null()) {
        return fmt::format(
            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{} of type string",
            GoJsonTypeName(*it), field);
      }
    }
  }
  return std::nullopt;
}

std::string StringField(const Json& op, const char* name) {
  auto it = op.find(name);
  return it != op.end() && it->is_string() ? it->get<std::string>() : std::string();
}

tl::expected<void, PatchFailure> ApplyOperation(Json& doc, const Json& op) {
  if (!op.is_object()) return tl::unexpected(PatchFailure{"Unexpected kind: "});
  const std::string kind = StringField(op, "op");
  const std::string path = StringField(op, "path");
  auto value = op.find("value");
  auto need_value = [&]() -> tl::expected<void, PatchFailure> {
    if (value == op.end()) {
      return tl::unexpected(
          PatchFailure{fmt::format("{} operation at {}: missing value", kind, path)});
    }
    return {};
  };
  if (kind == "add") {
    if (auto v = need_value(); !v) return v;
    return AddAt(doc, path, *value);
  }
  if (kind == "remove") {
    auto r = RemoveAt(doc, path, "remove");
    if (!r) return tl::unexpected(r.error());
    return {};
  }
  if (kind == "replace") {
    if (auto v = need_value(); !v) return v;
    return ReplaceAt(doc, path, *value);
  }
  if (kind == "move") {
    const std::string from = StringField(op, "from");
    if (path.size() > from.size() && path.compare(0, from.size(), from) == 0 &&
        path[from.size()] == '/') {
      return tl::unexpected(
          PatchFailure{fmt::format("move from {} into its own child {}", from, path)});
    }
    auto moved = RemoveAt(doc, from, "move");
    if (!moved) return tl::unexpected(moved.error());
    return AddAt(doc, path, std::move(*moved));
  }
  if (kind == "copy") {
    const std::string from = StringField(op, "from");
    auto src = GetAt(doc, from);
    if (!src) return tl::unexpected(src.error());
    if (*src == nullptr) {
      return tl::unexpected(PatchFailure{fmt::format("copy from {}: missing value", from)});
    }
    Json copy = **src;
    return AddAt(doc, path, std::move(copy));
  }
  if (kind == "test") {
    auto cur = GetAt(doc, path);
    if (!cur) return tl::unexpected(cur.error());
    const Json want = value == op.end() ? Json() : *value;
    if (*cur == nullptr) {
      if (want.is_null()) return {};
      return tl::unexpected(
          PatchFailure{fmt::format("testing value {} failed: missing value", path)});
    }
    if (**cur != want) {
      return tl::unexpected(
          PatchFailure{fmt::format("testing value {} failed: test failed (have {}, want {})", path,
                                   (*cur)->dump(), want.dump())});
    }
    return {};
  }
  return tl::unexpected(PatchFailure{fmt::format("Unexpected kind: {}", kind)});
}

// ============================================================================= merge patch ==

void PruneNulls(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        PruneNulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (Json& item : j) PruneNulls(item);
  }
}

void MergeInto(Json& doc, const Json& patch) {
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      doc.erase(k);
      continue;
    }
    auto it = doc.find(k);
    if (it != doc.end() && it->is_object() && v.is_object()) {
      MergeInto(*it, v);
    } else {
      Json copy = v;
      PruneNulls(copy);
      doc[k] = std::move(copy);
    }
  }
}

}  // namespace

Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch, std::string* detail) {
  if (auto decode_error = DecodeJsonPatchShape(patch)) {
    if (detail) *detail = *decode_error;
    return Fail(BadRequest("error decoding patch: " + *decode_error));
  }
  if (patch.size() > kMaxJsonPatchOperations) {
    return Fail(
        HttpError(ErrorCode::kTooLarge, 413, "RequestEntityTooLarge",
                  fmt::format("The allowed maximum operations in a JSON patch is {}, got {}",
                              kMaxJsonPatchOperations, patch.size())));
  }
  Json out = doc;
  for (size_t i = 0; i < patch.size(); ++i) {
    auto r = ApplyOperation(out, patch[i]);
    if (!r) {
      if (detail) *detail = fmt::format("operation {}: {}", i, r.error().detail);
      return Fail(HttpError(ErrorCode::kInvalid, 422, "Invalid", kJsonPatchRejected));
    }
  }
  if (detail) detail->clear();
  return out;
}

Result<Json> ApplyMergePatch(const Json& doc, const Json& patch) {
  if (!patch.is_object()) return Fail(BadRequest("Invalid JSON Patch"));
  Json out = doc.is_object() ? doc : Json::object();
  MergeInto(out, patch);
  return out;
}

Json CreateMergePatch(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  Json patch = Json::object();
  for (const auto& [k, v] : from.items()) {
    if (!to.contains(k)) patch[k] = nullptr;
  }
  for (const auto& [k, v] : to.items()) {
    auto it = from.find(k);
    if (it == from.end()) {
      patch[k] = v;
    } else if (*it != v) {
      patch[k] = (it->is_object() && v.is_object()) ? CreateMergePatch(*it, v) : v;
    }
  }
  return patch;
}

// =================================================================== strategic merge patch ==
namespace {

constexpr std::string_view kDirectiveMarker = "$patch";
constexpr std::string_view kDeleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/";
constexpr std::string_view kSetElementOrderPrefix = "$setElementOrder/";
constexpr std::string_view kRetainKeysDirective = "$retainKeys";

// Patch metadata of one field, from the Kubernetes API types' patchStrategy/patchMergeKey tags.
struct FieldMeta {
  std::string_view type;       // schema type of the value (or of list items); "" = unknown
  bool merge_list = false;     // patchStrategy:"merge" on a list
  std::string_view merge_key;  // patchMergeKey; "" for lists of scalars
};
using TypeMeta = std::map<std::string_view, FieldMeta, std::less<>>;

// A nested object of a known type.
constexpr FieldMeta Obj(std::string_view type) { return FieldMeta{type, false, ""}; }
// A list with patchStrategy merge; `key` is the patchMergeKey ("" for scalar sets).
constexpr FieldMeta List(std::string_view item_type, std::string_view key) {
  return FieldMeta{item_type, true, key};
}

const std::map<std::string_view, TypeMeta, std::less<>>& Types() {
  static const auto* types = new std::map<std::string_view, TypeMeta, std::less<>>{
      {"ObjectMeta", {{"finalizers", List("", "")}, {"ownerReferences", List("", "uid")}}},
      {"PodTemplateSpec", {{"metadata", Obj("ObjectMeta")}, {"spec", Obj("PodSpec")}}},
      {"PodSpec",
       {{"containers", List("Container", "name")},
        {"initContainers", List("Container", "name")},
        {"ephemeralContainers", List("Container", "name")},
        {"volumes", List("", "name")},
        {"imagePullSecrets", List("", "name")},
        {"schedulingGates", List("", "name")},
        {"resourceClaims", List("", "name")},
        {"hostAliases", List("", "ip")},
        {"topologySpreadConstraints", List("", "topologyKey")}}},
      {"Container",
       {{"ports", List("", "containerPort")},
        {"env", List("", "name")},
        {"volumeMounts", List("", "mountPath")},
        {"volumeDevices", List("", "devicePath")}}},
      {"PodStatus",
       {{"conditions", List("", "type")},
        {"podIPs", List("", "ip")},
        {"hostIPs", List("", "ip")},
        {"resourceClaimStatuses", List("", "name")}}},
      {"ConditionsStatus", {{"conditions", List("", "type")}}},
      {"TemplateSpec", {{"template", Obj("PodTemplateSpec")}}},
      {"JobTemplateSpec", {{"metadata", Obj("ObjectMeta")}, {"spec", Obj("TemplateSpec")}}},
      {"CronJobSpec", {{"jobTemplate", Obj("JobTemplateSpec")}}},
      {"NodeSpec", {{"podCIDRs", List("", "")}}},
      {"NodeStatus", {{"conditions", List("", "type")}, {"addresses", List("", "type")}}},
      {"ServiceSpec", {{"ports", List("", "port")}}},
      // Kind roots.
      {"Pod",
       {{"metadata", Obj("ObjectMeta")}, {"spec", Obj("PodSpec")}, {"status", Obj("PodStatus")}}},
      {"PodTemplate", {{"metadata", Obj("ObjectMeta")}, {"template", Obj("PodTemplateSpec")}}},
      {"Workload",  // Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job
       {{"metadata", Obj("ObjectMeta")},
        {"spec", Obj("TemplateSpec")},
        {"status", Obj("ConditionsStatus")}}},
      {"CronJob", {{"metadata", Obj("ObjectMeta")}, {"spec", Obj("CronJobSpec")}}},
      {"Node",
       {{"metadata", Obj("ObjectMeta")}, {"spec", Obj("NodeSpec")}, {"status", Obj("NodeStatus")}}},
      {"Service",
       {{"metadata", Obj("ObjectMeta")},
        {"spec", Obj("ServiceSpec")},
        {"status", Obj("ConditionsStatus")}}},
      {"WithConditions", {{"metadata", Obj("ObjectMeta")}, {"status", Obj("ConditionsStatus")}}},
      {"Object", {{"metadata", Obj("ObjectMeta")}}},
  };
  return *types;
}

const TypeMeta* RootType(std::string_view kind) {
  std::string_view root = "Object";
  if (kind == "Pod" || kind == "PodTemplate" || kind == "CronJob" || kind == "Node" ||
      kind == "Service") {
    root = kind;
  } else if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
             kind == "ReplicaSet" || kind == "ReplicationController" || kind == "Job") {
    root = "Workload";
  } else if (kind == "Namespace" || kind == "PersistentVolumeClaim" || kind == "PersistentVolume") {
    root = "WithConditions";
  }
  return &Types().at(root);
}

const TypeMeta* TypeByName(std::string_view name) {
  if (name.empty()) return nullptr;
  auto it = Types().find(name);
  return it == Types().end() ? nullptr : &it->second;
}

FieldMeta LookupField(const TypeMeta* type, std::string_view field) {
  if (type == nullptr) return {};
  auto it = type->find(field);
  return it == type->end() ? FieldMeta{} : it->second;
}

using SmpResult = tl::expected<Json, Error>;

SmpResult MergeMap(Json original, Json patch, const TypeMeta* type);

// Removes nulls from values copied from the patch (IgnoreUnmatchedNulls).
void DiscardNulls(Json& j) { PruneNulls(j); }

bool IsDirectiveKey(std::string_view k) {
  return k == kDirectiveMarker || k == kRetainKeysDirective ||
         k.substr(0, kDeleteFromPrimitiveListPrefix.size()) == kDeleteFromPrimitiveListPrefix ||
         k.substr(0, kSetElementOrderPrefix.size()) == kSetElementOrderPrefix;
}

// Index of `item` in `order`: by merge key for maps, by value for scalars; -1 if absent.
long IndexIn(const Json& order, const Json& item, std::string_view merge_key) {
  for (size_t i = 0; i < order.size(); ++i) {
    if (!merge_key.empty()) {
      if (order[i].is_object() && item.is_object() && order[i].contains(merge_key) &&
          item.contains(merge_key) &&
          order[i][std::string(merge_key)] == item[std::string(merge_key)]) {
        return static_cast<long>(i);
      }
    } else if (order[i] == item) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

// normalizeElementOrder: patch items in patch (or $setElementOrder) order, server-only items
// in live order, merged so each keeps its relative order and server-only items sit before
// patch items that come later in the live list.
Json NormalizeElementOrder(const Json& merged, const Json& patch_order, const Json& server_order,
                           std::string_view merge_key) {
  std::vector<Json> patch_items, server_only;
  for (const Json& item : merged) {
    (IndexIn(patch_order, item, merge_key) >= 0 ? patch_items : server_only).push_back(item);
  }
  auto by = [&](const Json& order) {
    return [&order, merge_key](const Json& a, const Json& b) {
      long ia = IndexIn(order, a, merge_key), ib = IndexIn(order, b, merge_key);
      if (ia < 0 || ib < 0) return false;
      return ia < ib;
    };
  };
  std::stable_sort(patch_items.begin(), patch_items.end(), by(patch_order));
  std::stable_sort(server_only.begin(), server_only.end(), by(server_order));

  Json out = Json::array();
  size_t i = 0, j = 0;
  while (i < server_only.size() || j < patch_items.size()) {
    if (j >= patch_items.size()) {
      out.push_back(std::move(server_only[i++]));
    } else if (i >= server_only.size()) {
      out.push_back(std::move(patch_items[j++]));
    } else {
      long li = IndexIn(server_order, server_only[i], merge_key);
      long ri = IndexIn(server_order, patch_items[j], merge_key);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push_back(std::move(server_only[i++]));
      } else {
        out.push_back(std::move(patch_items[j++]));
      }
    }
  }
  return out;
}

Error NoMergeKey(const Json& item, std::string_view key) {
  return Internal(
      fmt::format("map: {} does not contain declared merge key: {}", GoValueString(item), key));
}

// mergeSliceWithSpecialElements: applies "$patch: delete|replace" list items.
tl::expected<std::pair<Json, Json>, Error> ApplyListDirectives(Json original, const Json& patch,
                                                               std::string_view merge_key) {
  Json plain = Json::array();
  bool replace = false;
  for (const Json& item : patch) {
    if (!item.is_object() || !item.contains(kDirectiveMarker)) {
      plain.push_back(item);
      continue;
    }
    const Json& directive = item[std::string(kDirectiveMarker)];
    if (directive == "delete") {
      if (!item.contains(merge_key)) return tl::unexpected(NoMergeKey(item, merge_key));
      const Json& key_value = item[std::string(merge_key)];
      Json kept = Json::array();
      for (Json& o : original) {
        if (!(o.is_object() && o.contains(merge_key) && o[std::string(merge_key)] == key_value)) {
          kept.push_back(std::move(o));
        }
      }
      original = std::move(kept);
    } else if (directive == "replace") {
      replace = true;
    } else if (directive == "merge") {
      return tl::unexpected(Internal("merging lists cannot yet be specified in the patch"));
    } else {
      return tl::unexpected(Internal(fmt::format("unknown patch type: {} in map: {}",
                                                 GoValueString(directive), GoValueString(item))));
    }
  }
  if (replace) return std::make_pair(std::move(plain), Json::array());
  return std::make_pair(std::move(original), std::move(plain));
}

// mergeSlice for a list with patchStrategy merge (or a $deleteFromPrimitiveList).
SmpResult MergeSlice(Json original, const Json& patch, const FieldMeta& meta, bool delete_list,
                     const Json* set_element_order) {
  if (original.empty() && patch.empty() && set_element_order == nullptr) return original;
  bool maps = false, scalars = false;
  for (const Json* list : std::array<const Json*, 2>{&original, &patch}) {
    for (const Json& item : *list) {
      if (item.is_object()) {
        maps = true;
      } else if (item.is_array()) {
        return tl::unexpected(BadRequest("lists of lists are not supported"));
      } else {
        scalars = true;
      }
    }
  }
  if (maps && scalars) {
    return tl::unexpected(Internal(fmt::format(
        "list {} and patch {} mix maps and scalars; a strategic merge patch needs one element "
        "type",
        GoValueString(original), GoValueString(patch))));
  }
  Json merged = Json::array();
  Json patch_items = patch;
  std::string_view key = meta.merge_key;
  if (!maps) {
    if (delete_list) {
      for (Json& o : original) {
        if (std::find(patch.begin(), patch.end(), o) == patch.end()) merged.push_back(std::move(o));
      }
      return merged;
    }
    key = "";
    merged = original;
    for (const Json& p : patch) {
      if (std::find(merged.begin(), merged.end(), p) == merged.end()) merged.push_back(p);
    }
  } else {
    if (key.empty()) {
      return tl::unexpected(Internal("cannot merge lists without merge key"));
    }
    auto split = ApplyListDirectives(std::move(original), patch, key);
    if (!split) return tl::unexpected(split.error());
    original = std::move(split->first);
    patch_items = std::move(split->second);
    merged = original;
    const TypeMeta* item_type = TypeByName(meta.type);
    for (const Json& p : patch_items) {
      if (!p.contains(key)) return tl::unexpected(NoMergeKey(p, key));
      long at = IndexIn(merged, p, key);
      if (at >= 0) {
        auto m = MergeMap(std::move(merged[static_cast<size_t>(at)]), p, item_type);
        if (!m) return m;
        merged[static_cast<size_t>(at)] = std::move(*m);
      } else {
        auto m = MergeMap(Json::object(), p, item_type);  // strips directives and nulls
        if (!m) return m;
        merged.push_back(std::move(*m));
      }
    }
  }
  const Json& patch_order = set_element_order ? *set_element_order : patch_items;
  return NormalizeElementOrder(merged, patch_order, original, key);
}

// The value a patch puts where the live object has nothing (or a different type): the patch
// merged into an empty value, so directives and nulls never leak into the object.
SmpResult Fresh(const Json& patch_value, const FieldMeta& meta) {
  if (patch_value.is_object()) return MergeMap(Json::object(), patch_value, TypeByName(meta.type));
  if (patch_value.is_array() && meta.merge_list) {
    return MergeSlice(Json::array(), patch_value, meta, false, nullptr);
  }
  Json copy = patch_value;
  DiscardNulls(copy);
  return copy;
}

SmpResult MergeMap(Json original, Json patch, const TypeMeta* type) {
  if (!patch.is_object()) return patch;
  if (auto d = patch.find(kDirectiveMarker); d != patch.end()) {
    if (*d == "replace") {
      patch.erase(std::string(kDirectiveMarker));
      DiscardNulls(patch);
      return patch;
    }
    if (*d == "delete") return Json::object();
    return tl::unexpected(Internal(
        fmt::format("unknown patch type: {} in map: {}", GoValueString(*d), GoValueString(patch))));
  }
  if (!original.is_object()) original = Json::object();

  // $retainKeys: drop live fields not listed.
  if (auto rk = patch.find(kRetainKeysDirective); rk != patch.end()) {
    Json retain = *rk;
    patch.erase(std::string(kRetainKeysDirective));
    if (!retain.is_array()) return tl::unexpected(BadRequest("invalid patch format of retainKeys"));
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null() || IsDirectiveKey(k)) continue;
      if (std::find(retain.begin(), retain.end(), Json(k)) == retain.end()) {
        return tl::unexpected(BadRequest("invalid patch format of retainKeys"));
      }
    }
    for (auto it = original.begin(); it != original.end();) {
      if (std::find(retain.begin(), retain.end(), Json(it.key())) == retain.end()) {
        it = original.erase(it);
      } else {
        ++it;
      }
    }
  }

  // $setElementOrder/<f> (with <f> and $deleteFromPrimitiveList/<f>) are merged together.
  std::vector<std::string> order_keys;
  for (const auto& [k, v] : patch.items()) {
    if (k.rfind(kSetElementOrderPrefix, 0) == 0) order_keys.push_back(k);
  }
  for (const std::string& order_key : order_keys) {
    Json order = patch[order_key];
    patch.erase(order_key);
    if (!order.is_array()) {
      return tl::unexpected(BadRequest("invalid patch format of setElementOrder list"));
    }
    std::string field = order_key.substr(kSetElementOrderPrefix.size());
    FieldMeta meta = LookupField(type, field);
    Json live =
        original.contains(field) && original[field].is_array() ? original[field] : Json::array();
    const std::string delete_key = std::string(kDeleteFromPrimitiveListPrefix) + field;
    if (patch.contains(delete_key)) {
      if (!patch[delete_key].is_array()) {
        return tl::unexpected(BadRequest("invalid patch format of primitive list"));
      }
      auto d = MergeSlice(std::move(live), patch[delete_key], meta, true, nullptr);
      if (!d) return d;
      live = std::move(*d);
      patch.erase(delete_key);
    }
    Json patch_list =
        patch.contains(field) && patch[field].is_array() ? patch[field] : Json::array();
    if (patch.contains(field) && patch[field].is_null()) continue;  // deleted below
    if (!meta.merge_list) {
      // Not a merge list: the directive only orders what the patch replaces.
      continue;
    }
    auto merged = MergeSlice(std::move(live), patch_list, meta, false, &order);
    if (!merged) return merged;
    original[field] = std::move(*merged);
    patch.erase(field);
  }

  for (auto& [raw_key, patch_value] : patch.items()) {
    std::string k = raw_key;
    bool delete_list = false;
    if (k.rfind(kDeleteFromPrimitiveListPrefix, 0) == 0) {
      k = k.substr(kDeleteFromPrimitiveListPrefix.size());
      delete_list = true;
      if (!patch_value.is_array()) {
        return tl::unexpected(BadRequest("invalid patch format of primitive list"));
      }
    }
    if (patch_value.is_null()) {
      original.erase(k);
      continue;
    }
    FieldMeta meta = LookupField(type, k);
    auto live = original.find(k);
    if (live == original.end() || live->is_null()) {
      if (delete_list) continue;
      auto v = Fresh(patch_value, meta);
      if (!v) return v;
      original[k] = std::move(*v);
      continue;
    }
    if (live->type() != patch_value.type() && !(live->is_number() && patch_value.is_number())) {
      if (delete_list) continue;
      auto v = Fresh(patch_value, meta);
      if (!v) return v;
      *live = std::move(*v);
      continue;
    }
    if (live->is_object()) {
      auto v = MergeMap(std::move(*live), patch_value, TypeByName(meta.type));
      if (!v) return v;
      original[k] = std::move(*v);
    } else if (live->is_array()) {
      if (meta.merge_list || delete_list) {
        auto v = MergeSlice(std::move(*live), patch_value, meta, delete_list, nullptr);
        if (!v) return v;
        original[k] = std::move(*v);
      } else {
        Json copy = patch_value;
        DiscardNulls(copy);
        original[k] = std::move(copy);
      }
    } else {
      *live = patch_value;
    }
  }
  return original;
}

// Go's apiVersion → group: "apps/v1" → "apps", "v1" → "".
std::string_view GroupOf(std::string_view api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

}  // namespace

bool IsStrategicMergePatchSupported(std::string_view api_version, std::string_view kind) {
  std::string_view group = GroupOf(api_version);
  if (group.empty()) return true;
  // Built-in groups are served by kube-apiserver's own registry: either no dot, or *.k8s.io /
  // *.kubernetes.io (custom resources must use a dotted group outside those).
  if (group.find('.') == std::string_view::npos) return true;
  auto ends_with = [&](std::string_view suffix) {
    return group.size() >= suffix.size() && group.substr(group.size() - suffix.size()) == suffix;
  };
  if (group == "apiextensions.k8s.io" || group == "apiregistration.k8s.io") return true;
  return (ends_with(".k8s.io") || ends_with(".kubernetes.io")) &&
         group != "snapshot.storage.k8s.io" && group != "gateway.networking.k8s.io" &&
         group != "metrics.k8s.io";
}

Error StrategicMergePatchUnsupported() {
  return HttpError(ErrorCode::kInvalid, 415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types "
                   "include: application/json-patch+json, application/merge-patch+json, "
                   "application/apply-patch+yaml");
}

Result<Json> ApplyStrategicMergePatch(const Json& doc, const Json& patch,
                                      std::string_view api_version, std::string_view kind) {
  if (!patch.is_object()) {
    return Fail(BadRequest(
        fmt::format("json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    GoJsonTypeName(patch))));
  }
  try {
    auto merged = MergeMap(doc.is_object() ? doc : Json::object(), patch, RootType(kind));
    if (!merged) return Fail(merged.error());
    return std::move(*merged);
  } catch (const nlohmann::json::exception& e) {
    return Fail(
        Internal(fmt::format("strategic merge patch of {} {}: {}", api_version, kind, e.what())));
  }
}

// ======================================================================= server-side apply ==
namespace {

// A set of field paths in the tree shape of metav1 FieldsV1: children keyed "f:<field>",
// "k:<key json>" (keyed list item), "v:<value json>" (set member); `member` is "." (the path
// ending at this node is in the set).
struct FieldNode {
  bool member = false;
  std::map<std::string, FieldNode> children;

  [[nodiscard]] bool Empty() const {
    if (member) return false;
    return std::all_of(children.begin(), children.end(),
                       [](const auto& c) { return c.second.Empty(); });
  }
};

using FieldPath = std::vector<std::string>;

FieldNode FromFieldsV1(const Json& j) {
  FieldNode node;
  if (!j.is_object()) return node;
  if (j.empty()) {
    node.member = true;
    return node;
  }
  for (const auto& [k, v] : j.items()) {
    if (k == ".") {
      node.member = true;
    } else {
      node.children[k] = FromFieldsV1(v);
    }
  }
  return node;
}

Json ToFieldsV1(const FieldNode& node) {
  Json out = Json::object();
  bool has_child = false;
  for (const auto& [k, c] : node.children) {
    if (c.Empty()) continue;
    out[k] = ToFieldsV1(c);
    has_child = true;
  }
  if (node.member && has_child) out["."] = Json::object();
  return out;
}

void Leaves(const FieldNode& node, FieldPath& prefix, std::vector<FieldPath>& out) {
  if (node.member) out.push_back(prefix);
  for (const auto& [k, c] : node.children) {
    prefix.push_back(k);
    Leaves(c, prefix, out);
    prefix.pop_back();
  }
}

std::vector<FieldPath> Leaves(const FieldNode& node) {
  std::vector<FieldPath> out;
  FieldPath prefix;
  Leaves(node, prefix, out);
  return out;
}

bool Contains(const FieldNode& node, const FieldPath& path) {
  const FieldNode* cur = &node;
  for (const auto& t : path) {
    auto it = cur->children.find(t);
    if (it == cur->children.end()) return false;
    cur = &it->second;
  }
  return cur->member;
}

void Insert(FieldNode& node, const FieldPath& path) {
  FieldNode* cur = &node;
  for (const auto& t : path) cur = &cur->children[t];
  cur->member = true;
}

void Erase(FieldNode& node, const FieldPath& path) {
  FieldNode* cur = &node;
  for (const auto& t : path) {
    auto it = cur->children.find(t);
    if (it == cur->children.end()) return;
    cur = &it->second;
  }
  cur->member = false;
}

// ".data.shared", ".spec.containers[name=\"c\"].image", ".metadata.finalizers[=\"a\"]"
std::string PathString(const FieldPath& path) {
  std::string out;
  for (const auto& t : path) {
    if (t.rfind("f:", 0) == 0) {
      out += "." + t.substr(2);
    } else if (t.rfind("k:", 0) == 0) {
      Json key = Json::parse(t.substr(2), nullptr, false);
      out += "[";
      bool first = true;
      if (key.is_object()) {
        for (const auto& [k, v] : key.items()) {
          if (!first) out += ",";
          first = false;
          out += k + "=" + v.dump();
        }
      }
      out += "]";
    } else if (t.rfind("v:", 0) == 0) {
      out += "[=" + t.substr(2) + "]";
    } else if (t.rfind("i:", 0) == 0) {
      out += "[" + t.substr(2) + "]";
    }
  }
  return out;
}

// Key fields of an associative list item (Kubernetes listMapKeys; ports also key on protocol).
tl::expected<std::string, Error> ItemKey(const Json& item, const FieldMeta& meta,
                                         const std::string& where) {
  Json key = Json::object();
  std::string k(meta.merge_key);
  if (!item.is_object() || !item.contains(k)) {
    return tl::unexpected(HttpError(
        ErrorCode::kInvalid, 422, "Invalid",
        fmt::format("{}: associative list with keys has an element that omits key field {:s} "
                    "(and doesn't have default value)",
                    where, Json(k).dump())));
  }
  key[k] = item[k];
  if ((k == "containerPort" || k == "port") && item.contains("protocol")) {
    key["protocol"] = item["protocol"];
  }
  return "k:" + key.dump();
}

bool ItemMatches(const Json& item, const Json& key) {
  if (!item.is_object()) return false;
  for (const auto& [k, v] : key.items()) {
    auto it = item.find(k);
    if (it == item.end() || *it != v) return false;
  }
  return true;
}

Json* FindItem(Json& list, const Json& key) {
  for (Json& item : list) {
    if (ItemMatches(item, key)) return &item;
  }
  return nullptr;
}

tl::expected<void, Error> CollectFields(const Json& obj, const TypeMeta* type, FieldNode& node,
                                        const std::string& where);

tl::expected<void, Error> CollectValue(const Json& v, const FieldMeta& meta, FieldNode& node,
                                       const std::string& where) {
  if (v.is_object() && !v.empty()) return CollectFields(v, TypeByName(meta.type), node, where);
  if (v.is_array() && meta.merge_list && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i) {
      const Json& item = v[i];
      if (meta.merge_key.empty()) {
        node.children["v:" + item.dump()].member = true;
        continue;
      }
      auto key = ItemKey(item, meta, fmt::format("{}[{}]", where, i));
      if (!key) return tl::unexpected(key.error());
      FieldNode& child = node.children[*key];
      child.member = true;
      if (auto r = CollectFields(item, TypeByName(meta.type), child, where); !r) return r;
    }
    return {};
  }
  node.member = true;  // scalar, empty map/list, atomic list
  return {};
}

tl::expected<void, Error> CollectFields(const Json& obj, const TypeMeta* type, FieldNode& node,
                                        const std::string& where) {
  for (const auto& [k, v] : obj.items()) {
    if (auto r = CollectValue(v, LookupField(type, k), node.children["f:" + k], where + "." + k);
        !r) {
      return r;
    }
  }
  return {};
}

// Fields the API server manages itself; never part of anyone's field set.
Json StripServerFields(Json obj, const ApplyOptions& opts) {
  obj.erase("apiVersion");
  obj.erase("kind");
  if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
    for (const char* f :
         {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
          "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}) {
      md->erase(f);
    }
    if (md->empty()) obj.erase("metadata");
  }
  if (opts.has_status_subresource) {
    if (opts.subresource == "status") {
      Json only = Json::object();
      if (obj.contains("status")) only["status"] = obj["status"];
      return only;
    }
    obj.erase("status");
  }
  return obj;
}

// Resolves a field path against an object; nullptr when absent.
const Json* Resolve(const Json& obj, const FieldPath& path) {
  const Json* cur = &obj;
  for (const auto& t : path) {
    if (t.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(t.substr(2));
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (t.rfind("k:", 0) == 0) {
      if (!cur->is_array()) return nullptr;
      Json key = Json::parse(t.substr(2), nullptr, false);
      const Json* found = nullptr;
      for (const Json& item : *cur) {
        if (ItemMatches(item, key)) {
          found = &item;
          break;
        }
      }
      if (!found) return nullptr;
      cur = found;
    } else if (t.rfind("v:", 0) == 0) {
      if (!cur->is_array()) return nullptr;
      Json value = Json::parse(t.substr(2), nullptr, false);
      auto it = std::find(cur->begin(), cur->end(), value);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      return nullptr;
    }
  }
  return cur;
}

// Removes the value at `path` from `obj` (map key, list item or set member); no-op if absent.
void RemoveAtPath(Json& obj, const FieldPath& path) {
  if (path.empty()) return;
  FieldPath parent_path(path.begin(), path.end() - 1);
  Json* parent = const_cast<Json*>(Resolve(obj, parent_path));
  if (parent == nullptr) return;
  const std::string& last = path.back();
  if (last.rfind("f:", 0) == 0) {
    if (parent->is_object()) parent->erase(last.substr(2));
  } else if (last.rfind("k:", 0) == 0 || last.rfind("v:", 0) == 0) {
    if (!parent->is_array()) return;
    Json key = Json::parse(last.substr(2), nullptr, false);
    bool by_key = last[0] == 'k';
    for (auto it = parent->begin(); it != parent->end(); ++it) {
      if (by_key ? ItemMatches(*it, key) : *it == key) {
        parent->erase(it);
        break;
      }
    }
  }
}

void MergeApplied(Json& live, const Json& applied, const TypeMeta* type) {
  for (const auto& [k, av] : applied.items()) {
    FieldMeta meta = LookupField(type, k);
    auto it = live.find(k);
    if (it == live.end() || it->type() != av.type()) {
      live[k] = av;
      continue;
    }
    if (av.is_object() && !av.empty()) {
      MergeApplied(*it, av, TypeByName(meta.type));
    } else if (av.is_array() && meta.merge_list && !meta.merge_key.empty()) {
      for (const Json& item : av) {
        Json key = Json::object();
        std::string mk(meta.merge_key);
        key[mk] = item[mk];
        if ((mk == "containerPort" || mk == "port") && item.contains("protocol")) {
          key["protocol"] = item["protocol"];
        }
        if (Json* existing = FindItem(*it, key)) {
          MergeApplied(*existing, item, TypeByName(meta.type));
        } else {
          it->push_back(item);
        }
      }
    } else if (av.is_array() && meta.merge_list) {
      for (const Json& item : av) {
        if (std::find(it->begin(), it->end(), item) == it->end()) it->push_back(item);
      }
    } else {
      *it = av;
    }
  }
}

// kube's printManager: an Apply manager prints as its quoted name, an Update manager with its
// API version and time.
std::string PrintManager(const Json& entry) {
  std::string name = entry.value("manager", "");
  std::string out = Json(name).dump();
  if (entry.contains("subresource") && entry["subresource"].is_string() &&
      !entry["subresource"].get<std::string>().empty()) {
    out += fmt::format(" with subresource {}", entry["subresource"].dump());
  }
  if (entry.value("operation", "") == "Update") {
    out += " using " + entry.value("apiVersion", "");
    if (entry.contains("time") && entry["time"].is_string()) {
      out += " at " + entry["time"].get<std::string>();
    }
  }
  return out;
}

struct Entry {
  Json meta;  // the managedFields entry without fieldsV1
  FieldNode fields;
};

std::vector<Entry> ReadManagedFields(const Json& obj) {
  std::vector<Entry> out;
  const Json* mf = Resolve(obj, {"f:metadata", "f:managedFields"});
  if (mf == nullptr || !mf->is_array()) return out;
  for (const Json& e : *mf) {
    if (!e.is_object()) continue;
    Entry entry;
    entry.meta = e;
    entry.meta.erase("fieldsV1");
    if (e.contains("fieldsV1")) entry.fields = FromFieldsV1(e["fieldsV1"]);
    out.push_back(std::move(entry));
  }
  return out;
}

void WriteManagedFields(Json& obj, const std::vector<Entry>& entries) {
  Json list = Json::array();
  for (const Entry& e : entries) {
    if (e.fields.Empty()) continue;
    Json j = e.meta;
    j["fieldsType"] = "FieldsV1";
    j["fieldsV1"] = ToFieldsV1(e.fields);
    list.push_back(std::move(j));
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  if (list.empty()) {
    obj["metadata"].erase("managedFields");
  } else {
    obj["metadata"]["managedFields"] = std::move(list);
  }
}

bool SameOwner(const Json& meta, std::string_view manager, std::string_view operation,
               std::string_view subresource) {
  return meta.value("manager", "") == manager && meta.value("operation", "") == operation &&
         meta.value("subresource", "") == subresource;
}

Json NewEntry(std::string_view manager, std::string_view operation, std::string_view api_version,
              std::string_view now, std::string_view subresource) {
  Json e = {{"manager", manager}, {"operation", operation}, {"apiVersion", api_version}};
  if (!now.empty()) e["time"] = now;
  if (!subresource.empty()) e["subresource"] = subresource;
  return e;
}

std::string GvkString(const Json& obj) {
  std::string api_version = obj.contains("apiVersion") && obj["apiVersion"].is_string()
                                ? obj["apiVersion"].get<std::string>()
                                : "";
  std::string kind =
      obj.contains("kind") && obj["kind"].is_string() ? obj["kind"].get<std::string>() : "";
  std::string group, version = api_version;
  if (auto slash = api_version.find('/'); slash != std::string::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  return fmt::format("{}/{}, Kind={}", group, version, kind);
}

// Field paths whose value differs between two objects (leaves of `after` that are new or
// changed), in field-set form.
void CollectChanged(const Json* before, const Json& after, const TypeMeta* type, FieldNode& node) {
  for (const auto& [k, av] : after.items()) {
    const Json* bv = nullptr;
    if (before && before->is_object()) {
      auto it = before->find(k);
      if (it != before->end()) bv = &*it;
    }
    if (bv && *bv == av) continue;
    FieldMeta meta = LookupField(type, k);
    FieldNode& child = node.children["f:" + k];
    if (av.is_object() && !av.empty() && (!bv || bv->is_object())) {
      if (!bv) child.member = true;  // a new map is owned itself ("."), like kube does
      CollectChanged(bv, av, TypeByName(meta.type), child);
    } else if (av.is_array() && meta.merge_list && !meta.merge_key.empty() &&
               (!bv || bv->is_array())) {
      for (const Json& item : av) {
        auto key = ItemKey(item, meta, "");
        if (!key) {
          child.member = true;  // not a well-formed keyed list: own it atomically
          break;
        }
        Json key_json = Json::parse(key->substr(2));
        const Json* old_item = nullptr;
        if (bv) {
          for (const Json& o : *bv) {
            if (ItemMatches(o, key_json)) old_item = &o;
          }
        }
        if (old_item && *old_item == item) continue;
        FieldNode& ic = child.children[*key];
        if (!old_item) ic.member = true;
        CollectChanged(old_item, item, TypeByName(meta.type), ic);
      }
    } else if (av.is_array() && meta.merge_list && (!bv || bv->is_array())) {
      for (const Json& item : av) {
        if (!bv || std::find(bv->begin(), bv->end(), item) == bv->end()) {
          child.children["v:" + item.dump()].member = true;
        }
      }
    } else {
      child.member = true;
    }
  }
}

}  // namespace

Result<Json> ApplyServerSideApply(const Json* live, const Json& applied, const ApplyOptions& opts) {
  if (!applied.is_object()) {
    return Fail(BadRequest(
        fmt::format("json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    GoJsonTypeName(applied))));
  }
  const std::string api_version =
      applied.contains("apiVersion") && applied["apiVersion"].is_string()
          ? applied["apiVersion"].get<std::string>()
          : "";
  const std::string kind = applied.contains("kind") && applied["kind"].is_string()
                               ? applied["kind"].get<std::string>()
                               : "";
  if (api_version.empty() || kind.empty()) {
    return Fail(BadRequest("invalid object type: " + GvkString(applied)));
  }
  if (opts.manager.empty()) {
    return Fail(HttpError(ErrorCode::kInvalid, 422, "Invalid",
                          "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                          "value: is required for apply patch"));
  }
  if (live != nullptr && !live->is_object()) {
    return Fail(Internal("server-side apply: the live object is not a JSON object"));
  }
  if (live != nullptr && live->value("kind", kind) != kind) {
    return Fail(BadRequest(
        fmt::format("server-side apply: applied kind {} does not match the live object's kind {}",
                    kind, live->value("kind", ""))));
  }
  try {
    const TypeMeta* root = RootType(kind);
    Json config = StripServerFields(applied, opts);
    FieldNode applied_set;
    if (auto r = CollectFields(config, root, applied_set, ""); !r) return Fail(r.error());

    if (live == nullptr) {
      Json created = applied;
      if (created.contains("metadata") && created["metadata"].is_object()) {
        created["metadata"].erase("managedFields");
      }
      Entry entry{NewEntry(opts.manager, "Apply", api_version, opts.now, opts.subresource),
                  std::move(applied_set)};
      WriteManagedFields(created, {entry});
      return created;
    }

    std::vector<Entry> entries = ReadManagedFields(*live);
    Entry* mine = nullptr;
    for (Entry& e : entries) {
      if (SameOwner(e.meta, opts.manager, "Apply", opts.subresource)) mine = &e;
    }

    // Conflicts: fields another manager owns whose value the apply would change.
    std::vector<std::pair<size_t, FieldPath>> conflicts;
    std::vector<FieldPath> applied_leaves = Leaves(applied_set);
    Json stripped_live = StripServerFields(*live, opts);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (&entries[i] == mine) continue;
      for (const FieldPath& p : applied_leaves) {
        // A keyed list item or set member itself ("."): present on both sides by construction.
        if (!p.empty() && (p.back().rfind("k:", 0) == 0 || p.back().rfind("v:", 0) == 0)) {
          continue;
        }
        if (!Contains(entries[i].fields, p)) continue;
        const Json* want = Resolve(config, p);
        const Json* have = Resolve(stripped_live, p);
        if (want && have && *want == *have) continue;
        if (!want && !have) continue;
        conflicts.emplace_back(i, p);
      }
    }
    if (!conflicts.empty() && !opts.force) {
      if (opts.conflicts) {
        opts.conflicts->clear();
        for (const auto& [i, p] : conflicts) {
          opts.conflicts->push_back({PrintManager(entries[i].meta), PathString(p)});
        }
      }
      std::string message;
      if (conflicts.size() == 1) {
        message = fmt::format("Apply failed with 1 conflict: conflict with {}: {}",
                              PrintManager(entries[conflicts[0].first].meta),
                              PathString(conflicts[0].second));
      } else {
        std::map<std::string, std::vector<std::string>> by_manager;
        for (const auto& [i, p] : conflicts) {
          by_manager[PrintManager(entries[i].meta)].push_back(PathString(p));
        }
        std::vector<std::string> lines;
        for (const auto& [m, paths] : by_manager) {
          lines.push_back(fmt::format("conflicts with {}:", m));
          for (const auto& p : paths) lines.push_back("- " + p);
        }
        message = fmt::format("Apply failed with {} conflicts: {}", conflicts.size(),
                              fmt::join(lines, "\n"));
      }
      return Fail(HttpError(ErrorCode::kConflict, 409, "Conflict", std::move(message)));
    }
    for (const auto& [i, p] : conflicts) Erase(entries[i].fields, p);  // force: take ownership

    Json result = *live;
    MergeApplied(result, config, root);

    // Fields this manager applied before, no longer applies, and nobody else owns are removed.
    if (mine != nullptr) {
      std::vector<FieldPath> removed;
      for (const FieldPath& p : Leaves(mine->fields)) {
        if (Contains(applied_set, p)) continue;
        bool owned = std::any_of(entries.begin(), entries.end(), [&](const Entry& e) {
          return &e != mine && Contains(e.fields, p);
        });
        if (!owned) removed.push_back(p);
      }
      // Outermost first: removing a list item or map also disposes of what it contains.
      std::stable_sort(removed.begin(), removed.end(),
                       [](const FieldPath& a, const FieldPath& b) { return a.size() < b.size(); });
      for (const FieldPath& p : removed) RemoveAtPath(result, p);
    }

    if (mine != nullptr) {
      mine->fields = std::move(applied_set);
      mine->meta = NewEntry(opts.manager, "Apply", api_version, opts.now, opts.subresource);
    } else {
      entries.push_back({NewEntry(opts.manager, "Apply", api_version, opts.now, opts.subresource),
                         std::move(applied_set)});
    }
    WriteManagedFields(result, entries);
    return result;
  } catch (const nlohmann::json::exception& e) {
    return Fail(Internal(fmt::format("server-side apply of {}: {}", kind, e.what())));
  }
}

Json RecordUpdateManagedFields(const Json* before, const Json& after, std::string_view manager,
                               std::string_view api_version, std::string_view now,
                               std::string_view subresource) {
  if (!after.is_object()) return after;
  ApplyOptions strip;
  Json stripped_after = StripServerFields(after, strip);
  Json stripped_before = before && before->is_object() ? StripServerFields(*before, strip) : Json();
  std::string kind = after.value("kind", "");
  FieldNode changed;
  CollectChanged(before ? &stripped_before : nullptr, stripped_after, RootType(kind), changed);
  if (auto md = changed.children.find("f:metadata"); md != changed.children.end()) {
    md->second.member = false;  // metadata always exists
  }

  std::vector<Entry> entries = ReadManagedFields(before && before->is_object() ? *before : after);
  std::vector<FieldPath> changed_leaves = Leaves(changed);
  Entry* mine = nullptr;
  for (Entry& e : entries) {
    if (SameOwner(e.meta, manager, "Update", subresource)) {
      mine = &e;
      continue;
    }
    for (const FieldPath& p : changed_leaves) Erase(e.fields, p);
  }
  // Fields that no longer exist are owned by nobody.
  for (Entry& e : entries) {
    for (const FieldPath& p : Leaves(e.fields)) {
      if (Resolve(stripped_after, p) == nullptr) Erase(e.fields, p);
    }
  }
  Json out = after;
  if (!changed_leaves.empty()) {
    if (mine == nullptr) {
      entries.push_back({NewEntry(manager, "Update", api_version, now, subresource), FieldNode()});
      mine = &entries.back();
    }
    for (const FieldPath& p : changed_leaves) Insert(mine->fields, p);
    mine->meta = NewEntry(manager, "Update", api_version, now, subresource);
  }
  WriteManagedFields(out, entries);
  return out;
}

}  // namespace tether::testing
