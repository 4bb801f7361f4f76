#include "testing/crd_schema.h"

#include <re2/re2.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "cel/cel.h"
#include "common/clock.h"

namespace tether::testing {

namespace {

struct Rule {
  std::string rule;
  std::string message;
  std::shared_ptr<const cel::Program> program;
  std::shared_ptr<const cel::Program> message_program;  // messageExpression, or null
  std::string field_path;                               // ".x" / "['x']" relative to the node
  std::string reason;                                   // FieldValueInvalid (default), ...
  bool transition = false;                              // references oldSelf
};

}  // namespace

struct SchemaNode {
  std::string type;  // object, array, string, integer, number, boolean, "" (any)
  bool nullable = false;
  bool preserve_unknown = false;
  bool int_or_string = false;
  bool embedded_resource = false;
  std::vector<std::pair<std::string, std::unique_ptr<SchemaNode>>> properties;  // declared order
  std::unique_ptr<SchemaNode> additional_properties;
  std::unique_ptr<SchemaNode> items;
  std::vector<std::string> required;
  std::optional<Json> default_value;
  std::vector<Json> enum_values;
  std::optional<double> minimum, maximum;
  bool exclusive_minimum = false, exclusive_maximum = false;
  std::optional<std::int64_t> min_length, max_length, min_items, max_items, min_properties,
      max_properties;
  std::string pattern;
  std::shared_ptr<const re2::RE2> pattern_re;
  std::string format;
  std::string list_type;  // atomic (default), set, map
  std::vector<std::string> list_map_keys;
  std::vector<Rule> rules;

  [[nodiscard]] const SchemaNode* Property(const std::string& name) const {
    for (const auto& [n, node] : properties) {
      if (n == name) return node.get();
    }
    return nullptr;
  }
  [[nodiscard]] bool HasRules() const {
    if (!rules.empty()) return true;
    for (const auto& [n, node] : properties) {
      if (node->HasRules()) return true;
    }
    return (additional_properties && additional_properties->HasRules()) ||
           (items && items->HasRules());
  }
};

namespace {

// ---------------------------------------------------------------------------------------------
// Compilation

std::optional<std::int64_t> IntField(const Json& s, const char* key) {
  if (!s.contains(key) || !s[key].is_number()) return std::nullopt;
  return s[key].get<std::int64_t>();
}

std::optional<double> NumberField(const Json& s, const char* key) {
  if (!s.contains(key) || !s[key].is_number()) return std::nullopt;
  return s[key].get<double>();
}

Result<std::shared_ptr<const cel::Program>> CompileRule(const std::string& source,
                                                        bool* transition) {
  cel::Env env;
  env.variables = {"self"};
  auto program = cel::Compile(source, env);
  if (program) {
    *transition = false;
    return program;
  }
  env.variables = {"self", "oldSelf"};
  auto with_old = cel::Compile(source, env);
  if (with_old) *transition = true;
  return with_old;
}

ApiResult<std::unique_ptr<SchemaNode>> CompileNode(const Json& s, const std::string& path) {
  auto node = std::make_unique<SchemaNode>();
  if (!s.is_object()) {
    return Err(Invalid("CustomResourceDefinition", "apiextensions.k8s.io", "",
                       {FieldError::Invalid(path, s, "must be a schema object")}));
  }
  node->type = s.value("type", "");
  node->nullable = s.value("nullable", false);
  node->preserve_unknown = s.value("x-kubernetes-preserve-unknown-fields", false);
  node->int_or_string = s.value("x-kubernetes-int-or-string", false);
  node->embedded_resource = s.value("x-kubernetes-embedded-resource", false);
  node->format = s.value("format", "");
  node->list_type = s.value("x-kubernetes-list-type", "");
  if (s.contains("x-kubernetes-list-map-keys") && s["x-kubernetes-list-map-keys"].is_array()) {
    for (const auto& k : s["x-kubernetes-list-map-keys"]) {
      if (k.is_string()) node->list_map_keys.push_back(k.get<std::string>());
    }
  }
  if (s.contains("default")) node->default_value = s["default"];
  if (s.contains("enum") && s["enum"].is_array()) {
    node->enum_values.assign(s["enum"].begin(), s["enum"].end());
  }
  node->minimum = NumberField(s, "minimum");
  node->maximum = NumberField(s, "maximum");
  node->exclusive_minimum = s.value("exclusiveMinimum", false);
  node->exclusive_maximum = s.value("exclusiveMaximum", false);
  node->min_length = IntField(s, "minLength");
  node->max_length = IntField(s, "maxLength");
  node->min_items = IntField(s, "minItems");
  node->max_items = IntField(s, "maxItems");
  node->min_properties = IntField(s, "minProperties");
  node->max_properties = IntField(s, "maxProperties");
  if (s.contains("required") && s["required"].is_array()) {
    for (const auto& r : s["required"]) {
      if (r.is_string()) node->required.push_back(r.get<std::string>());
    }
  }
  if (s.contains("pattern") && s["pattern"].is_string()) {
    node->pattern = s["pattern"].get<std::string>();
    re2::RE2::Options options;
    options.set_log_errors(false);
    node->pattern_re = std::make_shared<re2::RE2>(node->pattern, options);
    if (!node->pattern_re->ok()) {
      return Err(Invalid("CustomResourceDefinition", "apiextensions.k8s.io", "",
                         {FieldError::Invalid(path + ".pattern", node->pattern,
                                              "must be a valid regular expression, but isn't: " +
                                                  node->pattern_re->error())}));
    }
  }
  if (s.contains("properties") && s["properties"].is_object()) {
    for (const auto& [name, child] : s["properties"].items()) {
      auto compiled = CompileNode(child, path + ".properties[" + name + "]");
      if (!compiled) return Err(compiled.error());
      node->properties.emplace_back(name, std::move(*compiled));
    }
  }
  if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
    auto compiled = CompileNode(s["additionalProperties"], path + ".additionalProperties");
    if (!compiled) return Err(compiled.error());
    node->additional_properties = std::move(*compiled);
  }
  if (s.contains("items") && s["items"].is_object()) {
    auto compiled = CompileNode(s["items"], path + ".items");
    if (!compiled) return Err(compiled.error());
    node->items = std::move(*compiled);
  }
  if (s.contains("x-kubernetes-validations") && s["x-kubernetes-validations"].is_array()) {
    const Json& rules = s["x-kubernetes-validations"];
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string where = path + ".x-kubernetes-validations[" + std::to_string(i) + "]";
      const Json& r = rules[i];
      Rule rule;
      rule.rule = r.value("rule", "");
      rule.message = r.value("message", "");
      rule.field_path = r.value("fieldPath", "");
      rule.reason = r.value("reason", "FieldValueInvalid");
      auto program = CompileRule(rule.rule, &rule.transition);
      if (!program) {
        return Err(
            Invalid("CustomResourceDefinition", "apiextensions.k8s.io", "",
                    {FieldError::Invalid(where + ".rule", rule.rule,
                                         "compilation failed: " + program.error().message)}));
      }
      rule.program = std::move(*program);
      if (r.contains("messageExpression") && r["messageExpression"].is_string()) {
        bool unused = false;
        auto message = CompileRule(r["messageExpression"].get<std::string>(), &unused);
        if (!message) {
          return Err(
              Invalid("CustomResourceDefinition", "apiextensions.k8s.io", "",
                      {FieldError::Invalid(
                          where + ".messageExpression", r["messageExpression"],
                          "messageExpression compilation failed: " + message.error().message)}));
        }
        rule.message_program = std::move(*message);
      }
      node->rules.push_back(std::move(rule));
    }
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Paths and value names, as kube-apiserver renders them.

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string MapChild(const std::string& path, const std::string& key) {
  return path + "[" + key + "]";
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

bool IsIntegral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

// The JSON type name kube-openapi reports for a value.
std::string TypeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return IsIntegral(v) ? "integer" : "number";
}

// Go's %v of a float64 bound.
std::string Number(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  Json j = d;
  return j.dump();
}

// Go's %#v of a list-map key, e.g. map[string]interface {}{"name":"a"}.
std::string GoMap(const Json& keys) {
  std::string out = "map[string]interface {}{";
  bool first = true;
  for (const auto& [k, v] : keys.items()) {
    out += (first ? "" : ", ") + Json(k).dump() + ":" + v.dump();
    first = false;
  }
  return out + "}";
}

FieldError TypeInvalid(const std::string& path, const Json& value, const std::string& type) {
  FieldError e = FieldError::Invalid(
      path, TypeName(value),
      path + " in body must be of type " + type + ": " + Json(TypeName(value)).dump());
  e.reason = "FieldValueTypeInvalid";
  return e;
}

FieldError TooLong(const std::string& path, std::int64_t max) {
  FieldError e{"FieldValueTooLong", path, "", ""};
  e.message = "Too long: may not be more than " + std::to_string(max) + " bytes";
  e.detail = e.message;
  return e;
}

FieldError TooMany(const std::string& path, size_t actual, std::int64_t max) {
  FieldError e{"FieldValueTooMany", path, "", ""};
  e.message = "Too many: " + std::to_string(actual) + ": must have at most " + std::to_string(max) +
              " items";
  e.detail = e.message;
  return e;
}

bool IsBlocking(const FieldError& e) {
  return e.reason == "FieldValueNotSupported" || e.reason == "FieldValueRequired" ||
         e.reason == "FieldValueTooLong" || e.reason == "FieldValueTooMany" ||
         e.reason == "FieldValueTypeInvalid";
}

bool RootMetaField(const std::string& key) {
  return key == "apiVersion" || key == "kind" || key == "metadata";
}

// ---------------------------------------------------------------------------------------------
// Pruning and defaulting

void PruneNode(const SchemaNode& node, Json& value, const std::string& path, bool root,
               std::vector<std::string>& pruned) {
  if (value.is_object() &&
      (node.type == "object" || !node.properties.empty() || node.additional_properties)) {
    const bool keep_meta = root || node.embedded_resource;
    std::vector<std::string> drop;
    for (auto& [key, child] : value.items()) {
      if (keep_meta && RootMetaField(key)) continue;
      if (const SchemaNode* p = node.Property(key)) {
        PruneNode(*p, child, Child(path, key), false, pruned);
      } else if (node.additional_properties) {
        PruneNode(*node.additional_properties, child, MapChild(path, key), false, pruned);
      } else if (!node.preserve_unknown) {
        drop.push_back(key);
      }
    }
    for (const auto& key : drop) {
      pruned.push_back(Child(path, key));
      value.erase(key);
    }
  } else if (value.is_array() && node.items) {
    for (size_t i = 0; i < value.size(); ++i) {
      PruneNode(*node.items, value[i], Index(path, i), false, pruned);
    }
  }
}

void DefaultNode(const SchemaNode& node, Json& value) {
  if (value.is_object()) {
    for (const auto& [name, child] : node.properties) {
      auto it = value.find(name);
      if (it == value.end() || (it->is_null() && !child->nullable)) {
        if (child->default_value) {
          value[name] = *child->default_value;
        } else if (it != value.end()) {
          value.erase(it);  // a null for a non-nullable field without a default is pruned
          continue;
        } else {
          continue;
        }
      }
      DefaultNode(*child, value[name]);
    }
    if (node.additional_properties) {
      for (auto& [key, child] : value.items()) {
        if (!node.Property(key)) DefaultNode(*node.additional_properties, child);
      }
    }
  } else if (value.is_array() && node.items) {
    for (auto& item : value) DefaultNode(*node.items, item);
  }
}

// ---------------------------------------------------------------------------------------------
// Schema validation

void ValidateNode(const SchemaNode& node, const Json& value, const std::string& path, bool root,
                  std::vector<FieldError>& errs) {
  if (value.is_null()) {
    if (!node.nullable && !node.type.empty()) errs.push_back(TypeInvalid(path, value, node.type));
    return;
  }
  if (node.int_or_string) {
    if (!value.is_string() && !IsIntegral(value)) {
      errs.push_back(TypeInvalid(path, value, "integer or string"));
      return;
    }
  } else if (!node.type.empty()) {
    bool ok = (node.type == "object" && value.is_object()) ||
              (node.type == "array" && value.is_array()) ||
              (node.type == "string" && value.is_string()) ||
              (node.type == "boolean" && value.is_boolean()) ||
              (node.type == "number" && value.is_number()) ||
              (node.type == "integer" && IsIntegral(value));
    if (!ok) {
      errs.push_back(TypeInvalid(path, value, node.type));
      return;
    }
  }
  if (!node.enum_values.empty() && std::find(node.enum_values.begin(), node.enum_values.end(),
                                             value) == node.enum_values.end()) {
    std::vector<std::string> supported;
    for (const auto& e : node.enum_values) {
      supported.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
    errs.push_back(FieldError::NotSupported(path, value, supported));
  }
  if (value.is_number()) {
    double d = value.get<double>();
    if (node.maximum) {
      if (node.exclusive_maximum ? d >= *node.maximum : d > *node.maximum) {
        errs.push_back(FieldError::Invalid(path, value,
                                           path + " in body should be less than " +
                                               (node.exclusive_maximum ? "" : "or equal to ") +
                                               Number(*node.maximum)));
      }
    }
    if (node.minimum) {
      if (node.exclusive_minimum ? d <= *node.minimum : d < *node.minimum) {
        errs.push_back(FieldError::Invalid(path, value,
                                           path + " in body should be greater than " +
                                               (node.exclusive_minimum ? "" : "or equal to ") +
                                               Number(*node.minimum)));
      }
    }
    if (node.format == "int32" && IsIntegral(value) &&
        (d < std::numeric_limits<std::int32_t>::min() ||
         d > std::numeric_limits<std::int32_t>::max())) {
      errs.push_back(TypeInvalid(path, value, "int32"));
    }
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    // kube-openapi counts characters (runes) for the length bounds.
    std::int64_t runes = 0;
    for (unsigned char c : s) runes += (c & 0xC0) != 0x80;
    if (node.max_length && runes > *node.max_length) {
      errs.push_back(TooLong(path, *node.max_length));
    }
    if (node.min_length && runes < *node.min_length) {
      errs.push_back(FieldError::Invalid(path, value,
                                         path + " in body should be at least " +
                                             std::to_string(*node.min_length) + " chars long"));
    }
    if (node.pattern_re && !re2::RE2::PartialMatch(s, *node.pattern_re)) {
      errs.push_back(
          FieldError::Invalid(path, value, path + " in body should match '" + node.pattern + "'"));
    }
    TimePoint unused;
    if (node.format == "date-time" && !ParseRfc3339(s, &unused)) {
      errs.push_back(FieldError::Invalid(
          path, value, path + " in body must be of type date-time: " + Json(s).dump()));
    }
  }
  if (value.is_array()) {
    if (node.max_items && static_cast<std::int64_t>(value.size()) > *node.max_items) {
      errs.push_back(TooMany(path, value.size(), *node.max_items));
    }
    if (node.min_items && static_cast<std::int64_t>(value.size()) < *node.min_items) {
      errs.push_back(FieldError::Invalid(
          path, value,
          path + " in body should have at least " + std::to_string(*node.min_items) + " items"));
    }
    if (node.items) {
      for (size_t i = 0; i < value.size(); ++i) {
        ValidateNode(*node.items, value[i], Index(path, i), false, errs);
      }
    }
    if (node.list_type == "set") {
      for (size_t i = 0; i < value.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (value[i] == value[j]) {
            errs.push_back(FieldError::Duplicate(Index(path, i), value[i]));
            break;
          }
        }
      }
    } else if (node.list_type == "map" && !node.list_map_keys.empty()) {
      std::set<std::string> seen;
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_object()) continue;
        Json keys = Json::object();
        for (const auto& k : node.list_map_keys) {
          if (value[i].contains(k)) keys[k] = value[i][k];
        }
        if (!seen.insert(keys.dump()).second) {
          FieldError e = FieldError::Duplicate(Index(path, i), keys);
          e.message = "Duplicate value: " + GoMap(keys);
          errs.push_back(std::move(e));
        }
      }
    }
  }
  if (value.is_object()) {
    if (node.max_properties && static_cast<std::int64_t>(value.size()) > *node.max_properties) {
      errs.push_back(TooMany(path, value.size(), *node.max_properties));
    }
    if (node.min_properties && static_cast<std::int64_t>(value.size()) < *node.min_properties) {
      errs.push_back(FieldError::Invalid(path, value,
                                         path + " in body should have at least " +
                                             std::to_string(*node.min_properties) + " properties"));
    }
    for (const auto& r : node.required) {
      if (!value.contains(r)) errs.push_back(FieldError::Required(Child(path, r), ""));
    }
    for (const auto& [key, child] : value.items()) {
      if (root && RootMetaField(key)) continue;
      if (const SchemaNode* p = node.Property(key)) {
        ValidateNode(*p, child, Child(path, key), false, errs);
      } else if (node.additional_properties) {
        ValidateNode(*node.additional_properties, child, MapChild(path, key), false, errs);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// x-kubernetes-validations

std::string JoinFieldPath(const std::string& path, const std::string& field_path) {
  if (field_path.empty()) return path;
  std::string rel = field_path;
  if (rel.starts_with(".")) rel.erase(0, 1);
  if (path.empty()) return rel;
  return rel.starts_with("[") ? path + rel : path + "." + rel;
}

FieldError RuleError(const Rule& rule, const std::string& path, const std::string& type,
                     const std::string& message) {
  const std::string field = JoinFieldPath(path, rule.field_path);
  const std::string shown = field.empty() ? "<nil>" : field;
  if (rule.reason == "FieldValueForbidden") return FieldError::Forbidden(shown, message);
  if (rule.reason == "FieldValueRequired") return FieldError::Required(shown, message);
  if (rule.reason == "FieldValueDuplicate") {
    FieldError e = FieldError::Duplicate(shown, type);
    e.message = "Duplicate value: " + message;
    return e;
  }
  return FieldError::Invalid(shown, type, message);
}

void EvaluateRules(const SchemaNode& node, const Json& value, const Json* old,
                   const std::string& path, std::vector<FieldError>& errs) {
  if (value.is_null()) return;
  const std::string type = node.int_or_string ? "" : node.type;
  for (const auto& rule : node.rules) {
    if (rule.transition && old == nullptr)
      continue;  // transition rules need a correlated old value
    cel::Activation act;
    act.BindJsonRef("self", value);
    if (rule.transition) act.BindJsonRef("oldSelf", *old);
    auto ok = rule.program->EvaluateBool(act);
    if (!ok) {
      errs.push_back(RuleError(rule, path, type, ok.error().message));
      continue;
    }
    if (*ok) continue;
    std::string message = rule.message.empty() ? "failed rule: " + rule.rule : rule.message;
    if (rule.message_program) {
      auto custom = rule.message_program->Evaluate(act);
      if (custom && custom->kind() == cel::Kind::kString && !custom->AsString().empty()) {
        message = custom->AsString();
      }
    }
    errs.push_back(RuleError(rule, path, type, message));
  }
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      const Json* old_child = nullptr;
      if (old != nullptr && old->is_object()) {
        auto it = old->find(key);
        if (it != old->end()) old_child = &*it;
      }
      if (const SchemaNode* p = node.Property(key)) {
        EvaluateRules(*p, child, old_child, Child(path, key), errs);
      } else if (node.additional_properties) {
        EvaluateRules(*node.additional_properties, child, old_child, MapChild(path, key), errs);
      }
    }
  } else if (value.is_array() && node.items) {
    for (size_t i = 0; i < value.size(); ++i) {
      // Only list-type=map items correlate with an old item (by their keys).
      const Json* old_item = nullptr;
      if (old != nullptr && old->is_array() && node.list_type == "map" &&
          !node.list_map_keys.empty() && value[i].is_object()) {
        for (const auto& candidate : *old) {
          if (!candidate.is_object()) continue;
          bool same = true;
          for (const auto& k : node.list_map_keys) {
            same = same && candidate.value(k, Json()) == value[i].value(k, Json());
          }
          if (same) {
            old_item = &candidate;
            break;
          }
        }
      }
      EvaluateRules(*node.items, value[i], old_item, Index(path, i), errs);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Structural-schema rules kube-apiserver enforces when a CRD is written.

enum class Position { kRoot, kProperty, kItems, kAdditionalProperties };

void CheckStructural(const Json& s, const std::string& path, Position pos,
                     std::vector<FieldError>& errs) {
  if (!s.is_object()) return;
  const std::string type = s.value("type", "");
  const bool int_or_string = s.value("x-kubernetes-int-or-string", false);
  const bool preserve = s.value("x-kubernetes-preserve-unknown-fields", false);
  if (pos == Position::kRoot && type != "object") {
    if (type.empty()) {
      errs.push_back(FieldError::Required(path + ".type", "must not be empty at the root"));
    } else {
      errs.push_back(FieldError::Invalid(path + ".type", type, "must be object at the root"));
    }
  } else if (type.empty() && !int_or_string && !preserve) {
    const char* where =
        pos == Position::kItems ? "for specified array items" : "for specified object fields";
    errs.push_back(FieldError::Required(path + ".type", std::string("must not be empty ") + where));
  }
  if (int_or_string && !type.empty()) {
    errs.push_back(FieldError::Forbidden(path + ".type",
                                         "must be empty if x-kubernetes-int-or-string is true"));
  }
  const bool has_properties = s.contains("properties") && s["properties"].is_object();
  const bool has_additional =
      s.contains("additionalProperties") && s["additionalProperties"].is_object();
  if (has_properties && has_additional) {
    errs.push_back(
        FieldError::Forbidden(path + ".additionalProperties",
                              "additionalProperties and properties are mutual exclusive"));
  }
  const std::string list_type = s.value("x-kubernetes-list-type", "");
  const Json items = s.value("items", Json());
  if (list_type == "map") {
    if (!items.is_object() || items.value("type", "") != "object") {
      errs.push_back(FieldError::Invalid(path + ".items.type", items.value("type", ""),
                                         "must be object if parent array's "
                                         "x-kubernetes-list-type is map"));
    } else {
      const Json props = items.value("properties", Json::object());
      const Json required = items.value("required", Json::array());
      for (const auto& key : s.value("x-kubernetes-list-map-keys", Json::array())) {
        if (!key.is_string()) continue;
        const std::string k = key.get<std::string>();
        std::string kpath = path + ".items.properties[" + k + "]";
        if (!props.contains(k)) {
          errs.push_back(FieldError::Required(kpath,
                                              "entries mentioned in "
                                              "x-kubernetes-list-map-keys must be "
                                              "specified"));
          continue;
        }
        const std::string kt = props[k].value("type", "");
        if (kt != "string" && kt != "integer" && kt != "number" && kt != "boolean") {
          errs.push_back(FieldError::Invalid(kpath + ".type", kt,
                                             "must be a scalar type if parent array's "
                                             "x-kubernetes-list-type is map"));
        }
        bool is_required = std::find(required.begin(), required.end(), key) != required.end();
        if (!is_required && !props[k].contains("default")) {
          errs.push_back(FieldError::Required(
              path + ".items.required", "all map keys must be required or have a default value"));
        }
      }
    }
  }
  if (has_properties) {
    for (const auto& [name, child] : s["properties"].items()) {
      if (pos == Position::kRoot && name == "metadata" && child.is_object()) {
        const Json meta_properties = child.value("properties", Json::object());
        for (const auto& [mname, unused] : meta_properties.items()) {
          if (mname != "name" && mname != "generateName") {
            errs.push_back(FieldError::Forbidden(
                path + ".properties[metadata].properties[" + mname + "]", "must not be specified"));
          }
        }
      }
      CheckStructural(child, path + ".properties[" + name + "]", Position::kProperty, errs);
    }
  }
  if (has_additional) {
    CheckStructural(s["additionalProperties"], path + ".additionalProperties",
                    Position::kAdditionalProperties, errs);
  }
  if (items.is_object()) CheckStructural(items, path + ".items", Position::kItems, errs);
}

// Every default must itself be valid against its schema (kube-apiserver validates defaults).
void CheckDefaults(const SchemaNode& node, const std::string& path, std::vector<FieldError>& errs) {
  if (node.default_value) {
    Json value = *node.default_value;
    std::vector<std::string> pruned;
    PruneNode(node, value, path + ".default", false, pruned);
    DefaultNode(node, value);
    ValidateNode(node, value, path + ".default", false, errs);
  }
  for (const auto& [name, child] : node.properties) {
    CheckDefaults(*child, path + ".properties[" + name + "]", errs);
  }
  if (node.additional_properties) {
    CheckDefaults(*node.additional_properties, path + ".additionalProperties", errs);
  }
  if (node.items) CheckDefaults(*node.items, path + ".items", errs);
}

}  // namespace

CrdSchema::CrdSchema(std::unique_ptr<SchemaNode> root)
    : root_(std::move(root)), has_rules_(root_->HasRules()) {}
CrdSchema::~CrdSchema() = default;

ApiResult<std::shared_ptr<const CrdSchema>> CrdSchema::Compile(const Json& schema,
                                                               const std::string& field) {
  std::vector<FieldError> errs;
  CheckStructural(schema, field, Position::kRoot, errs);
  if (errs.empty()) {
    auto root = CompileNode(schema, field);
    if (!root) return Err(root.error());
    CheckDefaults(**root, field, errs);
    if (errs.empty()) return std::shared_ptr<const CrdSchema>(new CrdSchema(std::move(*root)));
  }
  return Err(Invalid("CustomResourceDefinition", "apiextensions.k8s.io", "", errs));
}

std::vector<std::string> CrdSchema::Prune(Json& object) const {
  std::vector<std::string> pruned;
  PruneNode(*root_, object, "", true, pruned);
  return pruned;
}

void CrdSchema::Default(Json& object) const { DefaultNode(*root_, object); }

std::vector<FieldError> CrdSchema::Validate(const Json& object, const Json* old) const {
  std::vector<FieldError> errs;
  ValidateNode(*root_, object, "", true, errs);
  if (!has_rules_) return errs;
  if (std::any_of(errs.begin(), errs.end(), IsBlocking)) {
    errs.push_back(FieldError::Invalid("<nil>", nullptr,
                                       "some validation rules were not checked because the "
                                       "object was invalid; correct the existing errors to "
                                       "complete validation"));
    return errs;
  }
  EvaluateRules(*root_, object, old, "", errs);
  return errs;
}

}  // namespace tether::testing
