// Error: the one error type of tether, and Result<T> = tl::expected<T, Error>.
//
// An Error carries a code (what kind of failure, for control flow), a human message (where,
// what, how to fix), and, when it came from the Kubernetes API, the HTTP status, the
// metav1.Status reason and any Retry-After. Value type; freely copyable; thread-compatible.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace tether {

enum class ErrorCode {
  kNotFound,
  kConflict,
  kAlreadyExists,
  kInvalid,
  kForbidden,
  kUnauthorized,
  kGone,  // 410: resourceVersion too old / expired continue token
  kTimeout,
  kUnavailable,  // network failure, 5xx, 429: worth retrying
  kCancelled,
  kTooLarge,
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  int http_status = 0;     // 0 when the error did not come from an HTTP answer
  std::string reason;      // metav1.Status reason, e.g. "NotFound", "Expired", "Conflict"
  std::optional<std::chrono::seconds> retry_after;

  Error() = default;
  Error(ErrorCode c, std::string msg) : code(c), message(std::move(msg)) {}

  // Prefixes context to the message: Error(...).Wrap("reading kubeconfig /x") gives
  // "reading kubeconfig /x: <message>".
  [[nodiscard]] Error Wrap(std::string_view context) const;

  // True for failures that may succeed on retry (network, 5xx, 429, timeouts).
  [[nodiscard]] bool IsRetryable() const;

  // "NotFound: deployments.apps \"x\" not found" style rendering for logs and CLI output.
  [[nodiscard]] std::string ToString() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand: return Fail(ErrorCode::kInvalid, "...") from a function returning Result<T>.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}
inline tl::unexpected<Error> Fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Maps an HTTP status (and metav1.Status reason, if any) to an ErrorCode.
ErrorCode ErrorCodeFromHttp(int status, std::string_view reason);

}  // namespace tether
