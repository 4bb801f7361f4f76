#include "common/log.h"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace tether::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};

std::shared_ptr<spdlog::logger> Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("tether");
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    return l;
  }();
  return logger;
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string NowString() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

bool NeedsQuoting(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

bool Configure(std::string_view format, std::string_view level, std::string* error) {
  Format f;
  if (format == "json") {
    f = Format::kJson;
  } else if (format == "text") {
    f = Format::kText;
  } else if (format == "auto" || format.empty()) {
    f = isatty(STDERR_FILENO) ? Format::kText : Format::kJson;
  } else {
    *error = fmt::format("invalid log format \"{}\": use json or text", format);
    return false;
  }
  Level l;
  if (level == "debug") {
    l = Level::kDebug;
  } else if (level == "info" || level.empty()) {
    l = Level::kInfo;
  } else if (level == "warn" || level == "warning") {
    l = Level::kWarn;
  } else if (level == "error") {
    l = Level::kError;
  } else {
    *error = fmt::format("invalid log level \"{}\": use debug, info, warn or error", level);
    return false;
  }
  g_format = f;
  g_level = l;
  return true;
}

bool Enabled(Level level) { return level >= g_level.load(); }

void Write(Level level, std::string_view msg, Fields fields) {
  if (!Enabled(level)) return;
  std::string line;
  if (g_format.load() == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = NowString();
    j["level"] = LevelName(level);
    j["msg"] = msg;
    for (const auto& [k, v] : fields) {
      if (v.quoted) {
        j[std::string(k)] = v.text;
      } else {
        j[std::string(k)] = nlohmann::json::parse(v.text, nullptr, false);
      }
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {:<5} {}", NowString(), LevelName(level), msg);
    for (const auto& [k, v] : fields) {
      if (v.quoted && NeedsQuoting(v.text)) {
        line += fmt::format(" {}={}", k, nlohmann::json(v.text).dump(-1, ' ', false,
                                                                     nlohmann::json::error_handler_t::replace));
      } else {
        line += fmt::format(" {}={}", k, v.text);
      }
    }
  }
  Logger()->info(line);
}

}  // namespace tether::log
