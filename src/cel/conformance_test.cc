// Runs the official CEL conformance suite (exported from @bufbuild/cel-spec by
// third_party/cel-spec/export.js) against tether's CEL engine.
//
// Usage: cel_conformance CONFORMANCE.json EXPECTED_FAILURES.txt
// Prints passed/failed/skipped per file. Tests needing protobuf messages, enums, wrappers or
// Any are skipped. Exit status 0 when every in-scope test passes or is listed in the
// expected-failures file (one "file/section/name  # reason" per line).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cel/cel.h"

namespace tether::cel {
namespace {

// Files that are about protobuf messages, enums, wrappers or unknowns: out of scope.
const std::set<std::string> kOutOfScopeFiles = {"proto2",   "proto2_ext",     "proto3",
                                                "wrappers", "enums",          "dynamic",
                                                "unknowns", "type_deductions"};

bool NeedsProtobuf(const nlohmann::json& t) {
  std::string dump = t.dump();
  static const char* kMarkers[] = {"objectValue",      "enumValue",        "TestAllTypes",
                                   "NestedTestAll",    "google.protobuf.", "messageType",
                                   "\"abstractType\"", "proto2",           "proto3"};
  for (const char* m : kMarkers) {
    if (dump.find(m) != std::string::npos) {
      // Timestamps and durations are native CEL values, not messages.
      if (std::string(m) == "google.protobuf.") {
        std::string rest = dump;
        size_t pos = 0;
        bool other = false;
        while ((pos = rest.find("google.protobuf.", pos)) != std::string::npos) {
          std::string_view tail(rest.c_str() + pos + 16);
          if (tail.rfind("Timestamp", 0) != 0 && tail.rfind("Duration", 0) != 0) other = true;
          pos += 16;
        }
        if (!other) continue;
      }
      return true;
    }
  }
  return false;
}

Result<Value> FromProtoJson(const nlohmann::json& v) {
  if (v.contains("int64Value")) {
    const auto& x = v["int64Value"];
    return Value(
        static_cast<int64_t>(x.is_string() ? std::stoll(x.get<std::string>()) : x.get<int64_t>()));
  }
  if (v.contains("uint64Value")) {
    const auto& x = v["uint64Value"];
    return Value(static_cast<uint64_t>(x.is_string() ? std::stoull(x.get<std::string>())
                                                     : x.get<uint64_t>()));
  }
  if (v.contains("doubleValue")) {
    const auto& x = v["doubleValue"];
    if (x.is_string()) {
      std::string s = x.get<std::string>();
      if (s == "NaN") return Value(std::nan(""));
      if (s == "Infinity") return Value(HUGE_VAL);
      if (s == "-Infinity") return Value(-HUGE_VAL);
      return Value(std::stod(s));
    }
    return Value(x.get<double>());
  }
  if (v.contains("stringValue")) return Value(v["stringValue"].get<std::string>());
  if (v.contains("bytesValue")) {
    std::string out;
    Base64Decode(v["bytesValue"].get<std::string>(), &out);
    return Value(Bytes{out});
  }
  if (v.contains("boolValue")) return Value(v["boolValue"].get<bool>());
  if (v.contains("nullValue")) return Value(NullValue{});
  if (v.contains("typeValue")) return MakeType(v["typeValue"].get<std::string>());
  if (v.contains("listValue")) {
    std::vector<Value> items;
    const nlohmann::json values = v["listValue"].value("values", nlohmann::json::array());
    for (const auto& e : values) {
      auto x = FromProtoJson(e);
      if (!x) return x;
      items.push_back(*x);
    }
    return MakeList(std::move(items));
  }
  if (v.contains("mapValue")) {
    std::vector<std::pair<Value, Value>> entries;
    const nlohmann::json entries_json = v["mapValue"].value("entries", nlohmann::json::array());
    for (const auto& e : entries_json) {
      auto k = FromProtoJson(e["key"]);
      auto x = FromProtoJson(e["value"]);
      if (!k) return k;
      if (!x) return x;
      entries.emplace_back(*k, *x);
    }
    return MakeMap(std::move(entries));
  }
  return Fail(ErrorCode::kInvalid, "unsupported expected value: " + v.dump());
}

// Equality that also requires identical types (1 and 1u differ) and treats NaN as equal to NaN.
bool StrictEqual(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kDouble: {
      double x = a.AsDouble();
      double y = b.AsDouble();
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
      return x == y;
    }
    case Kind::kList: {
      size_t n = ListSize(a.AsList());
      if (n != ListSize(b.AsList())) return false;
      for (size_t i = 0; i < n; ++i) {
        if (!StrictEqual(ListAt(a.AsList(), i), ListAt(b.AsList(), i))) return false;
      }
      return true;
    }
    case Kind::kMap: {
      if (MapSize(a.AsMap()) != MapSize(b.AsMap())) return false;
      bool eq = true;
      MapForEach(a.AsMap(), [&](const Value& k, const Value& v) {
        bool found = false;
        MapForEach(b.AsMap(), [&](const Value& k2, const Value& v2) {
          if (StrictEqual(k, k2)) {
            found = StrictEqual(v, v2);
            return false;
          }
          return true;
        });
        eq = eq && found;
        return eq;
      });
      return eq;
    }
    default:
      return Equal(a, b);
  }
}

struct Counts {
  int passed = 0, failed = 0, skipped = 0, expected_failures = 0;
};

void RunOne(const nlohmann::json& t, const std::map<std::string, std::string>& expected,
            std::map<std::string, Counts>& per_file, std::vector<std::string>& failures,
            std::vector<std::string>& unexpected_passes);
void PrintSummary(const std::map<std::string, Counts>& per_file,
                  const std::vector<std::string>& failures,
                  const std::vector<std::string>& unexpected_passes);

int Run(const std::string& tests_path, const std::string& expected_path) {
  std::ifstream in(tests_path);
  if (!in) {
    std::cerr << "cannot read " << tests_path << "\n";
    return 2;
  }
  nlohmann::json tests = nlohmann::json::parse(in, nullptr, false);
  if (tests.is_discarded()) {
    std::cerr << "invalid JSON in " << tests_path << "\n";
    return 2;
  }
  std::map<std::string, std::string> expected;  // id -> reason
  std::ifstream ef(expected_path);
  std::string line;
  while (std::getline(ef, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t hash = line.find('#');
    std::string id = line.substr(0, hash);
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
    expected[id] = hash == std::string::npos ? "" : line.substr(hash + 1);
  }
  std::map<std::string, Counts> per_file;
  std::vector<std::string> failures;
  std::vector<std::string> unexpected_passes;
  for (const auto& t : tests) {
    try {
      RunOne(t, expected, per_file, failures, unexpected_passes);
    } catch (const std::exception& ex) {
      std::cout << "HARNESS ERROR in " << t.dump().substr(0, 200) << ": " << ex.what() << "\n";
      per_file[t.value("file", "")].failed++;
    }
  }
  PrintSummary(per_file, failures, unexpected_passes);
  int failed = 0;
  for (const auto& [f, c] : per_file) failed += c.failed;
  return failed == 0 ? 0 : 1;
}

void RunOne(const nlohmann::json& t, const std::map<std::string, std::string>& expected,
            std::map<std::string, Counts>& per_file, std::vector<std::string>& failures,
            std::vector<std::string>& unexpected_passes) {
  {
    std::string file = t.value("file", "");
    std::string id = file + "/" + t.value("section", "") + "/" + t.value("name", "");
    if (std::getenv("CEL_CONFORMANCE_TRACE")) std::cerr << "running " << id << "\n";
    Counts& c = per_file[file];
    if (kOutOfScopeFiles.count(file) || NeedsProtobuf(t) || t.value("checkOnly", false)) {
      c.skipped++;
      return;
    }
    Env env;
    env.enable_now = false;
    env.container = t.value("container", "");
    env.defer_unresolved = t.value("disableCheck", false) || file == "parse" || file == "basic";
    const nlohmann::json type_env = t.value("typeEnv", nlohmann::json::array());
    for (const auto& d : type_env) env.variables.push_back(d.value("name", ""));
    Activation act;
    bool bind_ok = true;
    const nlohmann::json bindings = t.value("bindings", nlohmann::json::object());
    for (const auto& [name, b] : bindings.items()) {
      if (std::find(env.variables.begin(), env.variables.end(), name) == env.variables.end()) {
        env.variables.push_back(name);
      }
      auto v = FromProtoJson(b.value("value", nlohmann::json::object()));
      if (!v) {
        bind_ok = false;
        break;
      }
      act.Bind(name, *v);
    }
    if (!bind_ok) {
      c.skipped++;
      return;
    }
    std::string expr = t.value("expr", "");
    bool want_error = t.contains("evalError") || t.contains("anyEvalErrors");
    nlohmann::json want_value;
    if (t.contains("value")) {
      want_value = t["value"];
    } else if (t.contains("typedResult")) {
      want_value = t["typedResult"].value("result", nlohmann::json());
    } else if (!want_error) {
      want_value = {{"boolValue", true}};  // the suite's default expectation
    }
    std::string outcome;
    auto program = Compile(expr, env);
    Result<Value> got =
        program ? (*program)->Evaluate(act) : Result<Value>(tl::unexpected(program.error()));
    bool pass;
    if (want_error) {
      pass = !got.has_value();
      if (!pass) outcome = "expected an error, got " + DebugString(*got);
    } else {
      auto want = FromProtoJson(want_value);
      if (!want) {
        c.skipped++;
        return;
      }
      if (!got) {
        pass = false;
        outcome = "error: " + got.error().message;
      } else {
        pass = StrictEqual(*got, *want);
        if (!pass)
          outcome =
              "got " + DebugString(*got) + " (" + TypeName(*got) + "), want " + DebugString(*want);
      }
    }
    bool is_expected = expected.count(id) > 0;
    if (pass) {
      c.passed++;
      if (is_expected) unexpected_passes.push_back(id);
    } else if (is_expected) {
      c.expected_failures++;
    } else {
      c.failed++;
      failures.push_back(fmt::format("FAIL {}\n     expr: {}\n     {}", id, expr, outcome));
    }
  }
}

void PrintSummary(const std::map<std::string, Counts>& per_file,
                  const std::vector<std::string>& failures,
                  const std::vector<std::string>& unexpected_passes) {
  for (const auto& f : failures) std::cout << f << "\n";
  for (const auto& u : unexpected_passes) {
    std::cout << "NOTE: listed as expected failure but passes now: " << u << "\n";
  }
  Counts total;
  std::cout << fmt::format("{:<18} {:>7} {:>7} {:>9} {:>8}\n", "file", "passed", "failed",
                           "expfail", "skipped");
  for (const auto& [file, c] : per_file) {
    std::cout << fmt::format("{:<18} {:>7} {:>7} {:>9} {:>8}\n", file, c.passed, c.failed,
                             c.expected_failures, c.skipped);
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
    total.expected_failures += c.expected_failures;
  }
  int in_scope = total.passed + total.failed + total.expected_failures;
  std::cout << fmt::format("{:<18} {:>7} {:>7} {:>9} {:>8}   ({:.2f}% of {} in-scope tests pass)\n",
                           "TOTAL", total.passed, total.failed, total.expected_failures,
                           total.skipped, in_scope ? 100.0 * total.passed / in_scope : 0.0,
                           in_scope);
}

}  // namespace
}  // namespace tether::cel

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: cel_conformance CONFORMANCE.json EXPECTED_FAILURES.txt\n";
    return 2;
  }
  return tether::cel::Run(argv[1], argv[2]);
}
