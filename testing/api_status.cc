#include "testing/api_status.h"

namespace tether::testing {

std::string GroupResource(std::string_view resource, std::string_view group) {
  std::string out(resource);
  if (!group.empty()) {
    out += ".";
    out += group;
  }
  return out;
}

Json StatusJson(const ApiError& e) {
  Json j = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", Json::object()},
            {"status", "Failure"}, {"message", e.message}, {"code", e.code}};
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.details.is_null()) j["details"] = e.details;
  return j;
}

Json SuccessStatus(const std::string& name, const std::string& group, const std::string& kind,
                   const std::string& uid) {
  Json details = {{"name", name}, {"kind", kind}, {"uid", uid}};
  if (!group.empty()) details["group"] = group;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Success"},
          {"details", details}};
}

namespace {
Json NameDetails(std::string_view resource, std::string_view group, std::string_view name) {
  Json d = Json::object();
  if (!name.empty()) d["name"] = name;
  if (!group.empty()) d["group"] = group;
  d["kind"] = resource;
  return d;
}
}  // namespace

ApiError NotFound(std::string_view resource, std::string_view group, std::string_view name) {
  return {404, "NotFound",
          GroupResource(resource, group) + " \"" + std::string(name) + "\" not found",
          NameDetails(resource, group, name)};
}

ApiError NotFoundPath() {
  return {404, "NotFound", "the server could not find the requested resource", Json::object()};
}

ApiError AlreadyExists(std::string_view resource, std::string_view group, std::string_view name) {
  return {409, "AlreadyExists",
          GroupResource(resource, group) + " \"" + std::string(name) + "\" already exists",
          NameDetails(resource, group, name)};
}

ApiError Conflict(std::string_view resource, std::string_view group, std::string_view name,
                  std::string_view why) {
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + GroupResource(resource, group) + " \"" +
              std::string(name) + "\": " + std::string(why),
          NameDetails(resource, group, name)};
}

ApiError StaleConflict(std::string_view resource, std::string_view group, std::string_view name) {
  return Conflict(resource, group, name,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiError BadRequest(std::string message) {
  return {400, "BadRequest", std::move(message), nullptr};
}

ApiError MethodNotAllowed() {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource", Json::object()};
}

ApiError UnsupportedMediaType(std::string_view) {
  return {415, "UnsupportedMediaType", "415: Unsupported Media Type", Json::object()};
}

ApiError NotAcceptable() {
  return {406, "NotAcceptable",
          "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, "
          "application/vnd.kubernetes.protobuf",
          Json::object()};
}

ApiError Expired(std::string message) { return {410, "Expired", std::move(message), nullptr}; }
ApiError Gone(std::string message) { return {410, "Gone", std::move(message), nullptr}; }
ApiError InternalError(std::string message) {
  return {500, "InternalError", std::move(message),
          Json{{"causes", Json::array({{{"message", "internal error"}}})}}};
}
ApiError Unauthorized() { return {401, "Unauthorized", "Unauthorized", nullptr}; }
ApiError TooManyRequests(std::string message) {
  return {429, "TooManyRequests", std::move(message), Json{{"retryAfterSeconds", 1}}};
}

ApiError Forbidden(std::string_view user, std::string_view verb, std::string_view resource,
                   std::string_view group, std::string_view subresource, std::string_view name,
                   std::string_view ns) {
  std::string res(resource);
  if (!subresource.empty()) res += "/" + std::string(subresource);
  std::string gr = GroupResource(resource, group);
  if (!subresource.empty())
    gr = GroupResource(std::string(resource) + "/" + std::string(subresource), group);
  std::string msg = gr;
  if (!name.empty()) msg += " \"" + std::string(name) + "\"";
  msg += " is forbidden: User \"" + std::string(user) + "\" cannot " + std::string(verb) +
         " resource \"" + res + "\" in API group \"" + std::string(group) + "\"";
  if (ns.empty()) {
    msg += " at the cluster scope";
  } else {
    msg += " in the namespace \"" + std::string(ns) + "\"";
  }
  Json details = Json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  details["kind"] = resource;
  return {403, "Forbidden", msg, details};
}

std::string RenderValue(const Json& value) {
  if (value.is_string()) return Json(value.get<std::string>()).dump();
  return value.dump();
}

FieldError FieldError::Invalid(std::string field, const Json& value, std::string detail) {
  FieldError e{"FieldValueInvalid", std::move(field), detail, ""};
  e.message = "Invalid value: " + RenderValue(value) + ": " + detail;
  return e;
}
FieldError FieldError::Forbidden(std::string field, std::string detail) {
  FieldError e{"FieldValueForbidden", std::move(field), detail, ""};
  e.message = "Forbidden: " + detail;
  return e;
}
FieldError FieldError::Required(std::string field, std::string detail) {
  FieldError e{"FieldValueRequired", std::move(field), detail, ""};
  e.message = "Required value" + (detail.empty() ? std::string() : ": " + detail);
  return e;
}
FieldError FieldError::Duplicate(std::string field, const Json& value) {
  FieldError e{"FieldValueDuplicate", std::move(field), "", ""};
  e.message = "Duplicate value: " + RenderValue(value);
  return e;
}
FieldError FieldError::NotSupported(std::string field, const Json& value,
                                    const std::vector<std::string>& supported) {
  FieldError e{"FieldValueNotSupported", std::move(field), "", ""};
  e.message = "Unsupported value: " + RenderValue(value);
  if (!supported.empty()) {
    e.message += ": supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      e.message += (i ? ", " : "") + Json(supported[i]).dump();
    }
  }
  return e;
}

ApiError Invalid(std::string_view kind, std::string_view group, std::string_view name,
                 const std::vector<FieldError>& errors) {
  std::string qualified(kind);
  if (!group.empty()) qualified += "." + std::string(group);
  std::string msg = qualified + " \"" + std::string(name) + "\" is invalid: ";
  std::string list;
  Json causes = Json::array();
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i) list += ", ";
    list += errors[i].field + ": " + errors[i].message;
    causes.push_back(
        {{"reason", errors[i].reason}, {"message", errors[i].message}, {"field", errors[i].field}});
  }
  msg += errors.size() == 1 ? list : "[" + list + "]";
  Json details = Json::object();
  details["name"] = name;
  if (!group.empty()) details["group"] = group;
  details["kind"] = kind;
  details["causes"] = causes;
  return {422, "Invalid", msg, details};
}

}  // namespace tether::testing
