// Structured logging: a thin key/value facade over spdlog.
//
//   log::Info("watch reconnected", {{"resource", "pods"}, {"attempt", 3}});
//
// Output is one JSON object per line (production) or "time LEVEL msg key=value ..." (terminal).
// Never log object bodies or secret values: log names, counts, codes.
// Thread-safety: all functions are safe from any thread.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tether::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// A field value: rendered to a string at the call site.
struct Value {
  std::string text;
  bool quoted = true;  // false for numbers and booleans (affects JSON output)
  Value(std::string_view s) : text(s) {}          // NOLINT(google-explicit-constructor)
  Value(const std::string& s) : text(s) {}        // NOLINT(google-explicit-constructor)
  Value(const char* s) : text(s ? s : "") {}      // NOLINT(google-explicit-constructor)
  Value(bool b) : text(b ? "true" : "false"), quoted(false) {}  // NOLINT
  template <typename T>
    requires std::is_arithmetic_v<T>
  Value(T v) : text(fmt::format("{}", v)), quoted(false) {}  // NOLINT(google-explicit-constructor)
};
using Fields = std::initializer_list<std::pair<std::string_view, Value>>;

// Configures the process logger. `format` "json" or "text"; "auto" picks text on a terminal.
// `level` one of debug, info, warn, error. Returns false (and changes nothing) on bad values.
bool Configure(std::string_view format, std::string_view level, std::string* error);

void Write(Level level, std::string_view msg, Fields fields);
bool Enabled(Level level);

inline void Debug(std::string_view msg, Fields f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(std::string_view msg, Fields f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, Fields f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, Fields f = {}) { Write(Level::kError, msg, f); }

}  // namespace tether::log
