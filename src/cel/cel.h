// CEL (Common Expression Language) for tether: compile an expression once, evaluate it many
// times over Kubernetes objects, with cel-go (Kubernetes flavour) semantics, its libraries,
// cost limits and positioned error messages.
//
//   cel::Env env;
//   env.variables = {"resource"};
//   auto program = cel::Compile("resource.status.readyReplicas >= 1", env);
//   cel::Activation act;
//   act.Bind("resource", object_shared_ptr);   // zero-copy view of an nlohmann::json
//   auto ok = (*program)->EvaluateBool(act);
//
// Thread-safety: a compiled Program is immutable; Evaluate/EvaluateBool are const and may run
// concurrently from any number of threads. An Activation is not synchronised; use one per
// evaluation (or share one read-only).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cel/parser.h"
#include "cel/value.h"
#include "common/clock.h"
#include "common/error.h"

namespace tether::cel {

// What an expression may reference.
struct Env {
  std::vector<std::string> variables;  // e.g. {"resource", "this", "pod"}
  bool enable_now = false;             // whether now() is declared
  ParseOptions limits;                 // compile-time size and nesting limits
  // Report undeclared identifiers and functions when evaluated instead of at compile time
  // (cel-go with type checking disabled; used by the conformance suite). Off for tether.
  bool defer_unresolved = false;
  // Namespace for name resolution (cel-go's container): in "a.b", `x` may refer to a
  // variable declared as "a.b.x" or "a.x". Empty for tether.
  std::string container;
};

struct EvalOptions {
  int64_t cost_budget = 1'000'000;  // Kubernetes' per-expression runtime cost limit
  std::optional<TimePoint> now;     // value of now(); required when the program UsesNow()
};

// Variable bindings for one evaluation.
class Activation {
 public:
  void Bind(std::string name, Value value) { vars_[std::move(name)] = std::move(value); }
  // Zero-copy: the value is a lazy view kept alive by the shared document.
  void Bind(std::string name, std::shared_ptr<const nlohmann::json> document) {
    Bind(std::move(name), FromJson(std::move(document)));
  }
  // Copies the document once.
  void BindJson(std::string name, const nlohmann::json& document) {
    Bind(std::move(name), FromJson(document));
  }
  // Borrows the document: it must outlive the evaluation and any Value it returns.
  void BindJsonRef(std::string name, const nlohmann::json& document) {
    Bind(std::move(name), FromJson(std::shared_ptr<const nlohmann::json>(
                              std::shared_ptr<const nlohmann::json>(), &document)));
  }
  [[nodiscard]] const Value* Find(std::string_view name) const {
    auto it = vars_.find(std::string(name));
    return it == vars_.end() ? nullptr : &it->second;
  }

 private:
  std::unordered_map<std::string, Value> vars_;
};

struct EvalDetails {
  int64_t cost = 0;  // runtime cost actually spent
};

class Program {
 public:
  Program(std::string source, ExprPtr root, std::vector<std::string> variables, int slots,
          bool uses_now);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Evaluates the expression. Errors: kInvalid "line:col: message" for evaluation errors
  // (no such key, overflow, no matching overload, ...), kTooLarge when the cost budget is
  // exceeded, kInvalid when a declared variable is unbound or now() has no time.
  [[nodiscard]] Result<Value> Evaluate(const Activation& activation,
                                       const EvalOptions& options = {},
                                       EvalDetails* details = nullptr) const;
  // As Evaluate, but the result must be a bool.
  [[nodiscard]] Result<bool> EvaluateBool(const Activation& activation,
                                          const EvalOptions& options = {}) const;

  [[nodiscard]] bool UsesNow() const { return uses_now_; }
  [[nodiscard]] const std::string& source() const { return source_; }

 private:
  std::string source_;
  ExprPtr root_;
  std::vector<std::string> variables_;
  int slots_ = 0;
  bool uses_now_ = false;
};

// Parses, expands macros, resolves names and functions, and precompiles constant regexes.
// Errors are kInvalid with "line:column: message", e.g. "1:1: undeclared reference to 'resorce'".
Result<std::shared_ptr<const Program>> Compile(std::string_view expression, const Env& env);

// One-shot convenience: compile and evaluate to bool.
Result<bool> EvaluateBool(std::string_view expression, const Env& env, const Activation& activation,
                          const EvalOptions& options = {});

// Converts a tether TimePoint to a CEL timestamp and back.
Timestamp ToCelTimestamp(TimePoint t);

}  // namespace tether::cel
