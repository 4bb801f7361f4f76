// ApiError and metav1.Status rendering for the embedded API server: the exact error bodies
// kube-apiserver returns (kind/apiVersion/metadata/status/message/reason/details/code), and
// constructors for the common reasons with kube-apiserver's message formats.
//
// Value types and pure functions; thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace tether::testing {

using Json = nlohmann::json;

struct ApiError {
  int code = 500;
  std::string reason;  // "" for InternalError bodies without a reason
  std::string message;
  Json details;  // null: no details key; object: rendered as is
};

template <typename T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> Err(ApiError e) { return tl::unexpected<ApiError>(std::move(e)); }

// The metav1.Status body for an error.
Json StatusJson(const ApiError& e);
// The metav1.Status "Success" body (e.g. DELETE of an object without finalizers).
Json SuccessStatus(const std::string& name, const std::string& group, const std::string& kind,
                   const std::string& uid);

// `resource` is the plural resource ("configmaps"), `group` its API group ("" for core).
std::string GroupResource(std::string_view resource, std::string_view group);

ApiError NotFound(std::string_view resource, std::string_view group, std::string_view name);
// 404 for paths no resource serves ("the server could not find the requested resource").
ApiError NotFoundPath();
ApiError AlreadyExists(std::string_view resource, std::string_view group, std::string_view name);
ApiError Conflict(std::string_view resource, std::string_view group, std::string_view name,
                  std::string_view why);
// The optimistic-concurrency conflict: "Operation cannot be fulfilled on deployments.apps "x":
// the object has been modified; please apply your changes to the latest version and try again".
ApiError StaleConflict(std::string_view resource, std::string_view group, std::string_view name);
ApiError BadRequest(std::string message);
ApiError MethodNotAllowed();
ApiError UnsupportedMediaType(std::string_view content_type);
ApiError NotAcceptable();
ApiError Expired(std::string message);
ApiError Gone(std::string message);
ApiError InternalError(std::string message);
ApiError Unauthorized();
ApiError TooManyRequests(std::string message);
ApiError Forbidden(std::string_view user, std::string_view verb, std::string_view resource,
                   std::string_view group, std::string_view subresource, std::string_view name,
                   std::string_view ns);

// One field error of a 422 (metav1.StatusCause).
struct FieldError {
  std::string reason;  // FieldValueInvalid, FieldValueForbidden, FieldValueRequired, ...
  std::string field;   // "spec.replicas"
  std::string detail;  // message after the "Invalid value: ...: " prefix
  // Constructors matching field.Invalid / Forbidden / Required / Duplicate / NotSupported.
  static FieldError Invalid(std::string field, const Json& value, std::string detail);
  static FieldError Forbidden(std::string field, std::string detail);
  static FieldError Required(std::string field, std::string detail);
  static FieldError Duplicate(std::string field, const Json& value);
  static FieldError NotSupported(std::string field, const Json& value,
                                 const std::vector<std::string>& supported);
  std::string message;  // full cause message, e.g. "Invalid value: -1: must be ..."
};

// 422 Invalid: `Kind.group "name" is invalid: field: message` (or "[a, b]" for several).
ApiError Invalid(std::string_view kind, std::string_view group, std::string_view name,
                 const std::vector<FieldError>& errors);

// Go's %v-like rendering of a value inside validation messages: strings quoted, numbers bare,
// objects as compact JSON.
std::string RenderValue(const Json& value);

}  // namespace tether::testing
