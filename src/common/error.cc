#include "common/error.h"

#include <fmt/format.h>

namespace tether {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kConflict: return "Conflict";
    case ErrorCode::kAlreadyExists: return "AlreadyExists";
    case ErrorCode::kInvalid: return "Invalid";
    case ErrorCode::kForbidden: return "Forbidden";
    case ErrorCode::kUnauthorized: return "Unauthorized";
    case ErrorCode::kGone: return "Gone";
    case ErrorCode::kTimeout: return "Timeout";
    case ErrorCode::kUnavailable: return "Unavailable";
    case ErrorCode::kCancelled: return "Cancelled";
    case ErrorCode::kTooLarge: return "TooLarge";
    case ErrorCode::kInternal: return "Internal";
  }
  return "Internal";
}

Error Error::Wrap(std::string_view context) const {
  Error e = *this;
  e.message = fmt::format("{}: {}", context, message);
  return e;
}

bool Error::IsRetryable() const {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout;
}

std::string Error::ToString() const {
  return fmt::format("{}: {}", ErrorCodeName(code), message);
}

ErrorCode ErrorCodeFromHttp(int status, std::string_view reason) {
  if (reason == "Expired" || reason == "Gone") return ErrorCode::kGone;
  switch (status) {
    case 400: return ErrorCode::kInvalid;
    case 401: return ErrorCode::kUnauthorized;
    case 403: return ErrorCode::kForbidden;
    case 404: return ErrorCode::kNotFound;
    case 408: return ErrorCode::kTimeout;
    case 409: return reason == "AlreadyExists" ? ErrorCode::kAlreadyExists : ErrorCode::kConflict;
    case 410: return ErrorCode::kGone;
    case 413: return ErrorCode::kTooLarge;
    case 415: return ErrorCode::kInvalid;
    case 422: return ErrorCode::kInvalid;
    case 429: return ErrorCode::kUnavailable;
    case 504: return ErrorCode::kTimeout;
    default: break;
  }
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kInternal;
}

}  // namespace tether
