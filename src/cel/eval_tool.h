// The logic of `tether cel eval`: load JSON/YAML documents, bind them as CEL variables,
// compile and evaluate an expression, and render the result as
// {"type": "<CEL type>", "value": <plain JSON>}.
//
// Also exposes the YAML loader (YAML 1.1 plain-scalar typing, like kubectl). Pure apart from
// reading the named files; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cel/value.h"
#include "common/clock.h"
#include "common/error.h"

namespace tether::cel {

struct EvalToolRequest {
  std::string expression;
  std::string resource_file;  // bound to `resource` when non-empty
  std::string this_file;      // bound to `this` and its alias `pod` when non-empty
  std::vector<std::pair<std::string, std::string>> vars;  // name → file
};

struct EvalToolOutcome {
  int exit_code = 0;   // 0 success, 1 compile/evaluation/input error
  std::string output;  // stdout: one JSON object on success
  std::string error;   // stderr text on failure
};

EvalToolOutcome RunEvalTool(const EvalToolRequest& request, TimePoint now);

// Parses JSON, or YAML (first document) when the text is not JSON. Plain YAML scalars follow
// YAML 1.1 (yes/no/on/off/true/false → bool, numbers → numbers, ~/null → null); quoted
// scalars stay strings.
Result<nlohmann::json> ParseDocument(const std::string& text, const std::string& source_name);
Result<nlohmann::json> LoadDocumentFile(const std::string& path);

// Renders the result object {"type": ..., "value": ...} for a CEL value.
nlohmann::json RenderResult(const Value& value);

}  // namespace tether::cel
