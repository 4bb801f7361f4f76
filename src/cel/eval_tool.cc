#include "cel/eval_tool.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "cel/cel.h"

namespace tether::cel {

namespace {

bool IsYaml11Bool(const std::string& s, bool* out) {
  static const char* kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                "True", "TRUE", "on",  "On",  "ON"};
  static const char* kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                 "False", "FALSE", "off", "Off", "OFF"};
  for (const char* t : kTrue) {
    if (s == t) {
      *out = true;
      return true;
    }
  }
  for (const char* f : kFalse) {
    if (s == f) {
      *out = false;
      return true;
    }
  }
  return false;
}

nlohmann::json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  bool b;
  if (IsYaml11Bool(s, &b)) return b;
  // Integers: decimal, 0x hex, 0o / leading-0 octal, with optional sign and underscores.
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  {
    const char* p = t.c_str();
    char* end = nullptr;
    errno = 0;
    int base = 10;
    std::string digits = t;
    bool neg = false;
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      neg = digits[0] == '-';
      digits.erase(0, 1);
    }
    if (digits.rfind("0x", 0) == 0) {
      base = 16;
      digits.erase(0, 2);
    } else if (digits.rfind("0o", 0) == 0) {
      base = 8;
      digits.erase(0, 2);
    } else if (digits.size() > 1 && digits[0] == '0') {
      base = 8;
    }
    (void)p;
    bool all_digits = !digits.empty();
    for (char c : digits) {
      if (!(base == 16 ? std::isxdigit(static_cast<unsigned char>(c))
                       : (c >= '0' && c <= (base == 8 ? '7' : '9')))) {
        all_digits = false;
      }
    }
    if (all_digits) {
      unsigned long long v = std::strtoull(digits.c_str(), &end, base);
      if (errno != ERANGE) {
        if (neg && v <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1) {
          return static_cast<int64_t>(0 - v);
        }
        if (!neg && v <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
          return static_cast<int64_t>(v);
        }
        if (!neg) return static_cast<uint64_t>(v);
      }
    }
  }
  if (t == ".inf" || t == ".Inf" || t == ".INF" || t == "+.inf" || t == "+.Inf" || t == "+.INF") {
    return std::numeric_limits<double>::infinity();
  }
  if (t == "-.inf" || t == "-.Inf" || t == "-.INF") return -std::numeric_limits<double>::infinity();
  if (t == ".nan" || t == ".NaN" || t == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  {
    // Floats: [-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)? and also 1e3 forms.
    bool has_digit = false;
    bool ok = !t.empty();
    for (size_t i = 0; i < t.size() && ok; ++i) {
      char c = t[i];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        has_digit = true;
      } else if (!(c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
        ok = false;
      }
    }
    if (ok && has_digit) {
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      if (end == t.c_str() + t.size()) return d;
    }
  }
  return s;
}

Result<nlohmann::json> YamlToJson(const YAML::Node& node, int depth) {
  if (depth > 200) return Fail(ErrorCode::kInvalid, "YAML nesting is deeper than 200 levels");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return nlohmann::json(s);
      return PlainScalar(s);
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& el : node) {
        auto v = YamlToJson(el, depth + 1);
        if (!v) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return Fail(ErrorCode::kInvalid, "YAML map keys must be scalars");
        auto v = YamlToJson(kv.second, depth + 1);
        if (!v) return v;
        out[kv.first.Scalar()] = std::move(*v);
      }
      return out;
    }
  }
  return nlohmann::json(nullptr);
}

}  // namespace

Result<nlohmann::json> ParseDocument(const std::string& text, const std::string& source_name) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded()) return j;
  }
  try {
    YAML::Node node = YAML::Load(text);
    return YamlToJson(node, 0);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: not valid JSON or YAML (line {}, column {}): {}", source_name,
                            e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: cannot parse: {}", source_name, e.what()));
  }
}

Result<nlohmann::json> LoadDocumentFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("cannot read '{}': check the path", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseDocument(ss.str(), path);
}

nlohmann::json RenderResult(const Value& value) {
  return nlohmann::json{{"type", TypeName(value)}, {"value", ToJson(value)}};
}

EvalToolOutcome RunEvalTool(const EvalToolRequest& request, TimePoint now) {
  EvalToolOutcome out;
  auto fail = [&](const std::string& msg) {
    out.exit_code = 1;
    out.error = msg + "\n";
    return out;
  };
  Env env;
  env.enable_now = true;
  env.variables = {"resource", "this", "pod"};
  Activation act;
  auto bind = [&](const std::string& name, const std::string& path) -> bool {
    auto doc = LoadDocumentFile(path);
    if (!doc) {
      out.error = doc.error().message;
      return false;
    }
    act.Bind(name, std::make_shared<const nlohmann::json>(std::move(*doc)));
    return true;
  };
  if (!request.resource_file.empty() && !bind("resource", request.resource_file))
    return fail(out.error);
  if (!request.this_file.empty()) {
    if (!bind("this", request.this_file)) return fail(out.error);
    if (const Value* v = act.Find("this")) act.Bind("pod", *v);
  }
  for (const auto& [name, path] : request.vars) {
    if (name.empty()) return fail("--var needs NAME=FILE");
    if (std::find(env.variables.begin(), env.variables.end(), name) == env.variables.end()) {
      env.variables.push_back(name);
    }
    if (!bind(name, path)) return fail(out.error);
  }
  auto program = Compile(request.expression, env);
  if (!program) return fail(program.error().message);
  EvalOptions options;
  options.now = now;
  auto result = (*program)->Evaluate(act, options);
  if (!result) return fail(result.error().message);
  out.output = RenderResult(*result).dump() + "\n";
  return out;
}

}  // namespace tether::cel
