// Internal: the function registry shared by the interpreter and the function libraries
// (standard library, Kubernetes libraries, extensions). Not part of the public API.
//
// The registry is built once (thread-safe static initialisation) and read-only afterwards.
// EvalState is per evaluation and never shared between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cel/ast.h"
#include "cel/value.h"

namespace tether::cel {

inline constexpr const char* kCostExceededMessage =
    "operation cancelled: actual cost limit exceeded";

struct EvalState {
  const std::vector<Value>* globals = nullptr;
  std::vector<Value> locals;
  int64_t cost = 0;
  int64_t budget = 0;
  bool has_now = false;
  Timestamp now;
  bool aborted = false;  // cost exceeded: every pending operation unwinds with an error

  // Adds to the running cost; returns false (and marks the evaluation aborted) over budget.
  bool Charge(int64_t amount) {
    cost += amount;
    if (cost > budget) aborted = true;
    return !aborted;
  }
  Value CostError(int32_t position) const;
};

// A library function. `args` holds the receiver first for member-style calls. Arguments are
// never errors (errors propagate before the call). Returns a value or an error value.
using LibFn = Value (*)(EvalState& st, const Expr& call, std::vector<Value>& args);

struct FunctionDef {
  LibFn fn = nullptr;
  bool member = false;  // callable as target.fn(...)
  bool global = false;  // callable as fn(...)
};

using FunctionMap = std::unordered_map<std::string, FunctionDef>;

const FunctionMap& Functions();

void RegisterStandardLibrary(FunctionMap& m);
void RegisterStringsLibrary(FunctionMap& m);
void RegisterListsLibrary(FunctionMap& m);
void RegisterKubernetesLibrary(FunctionMap& m);
void RegisterMathLibrary(FunctionMap& m);

// Helpers for library implementations.
Value NoOverload(const Expr& call, const std::vector<Value>& args);
Value CallError(const Expr& call, std::string message);
// Number of Unicode code points in a UTF-8 string.
size_t CodePointCount(std::string_view s);
bool IsValidUtf8(std::string_view s);

}  // namespace tether::cel
