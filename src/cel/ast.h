// AST of a parsed CEL expression, with source positions, after macro expansion.
//
// Macros (all, exists, exists_one, map, filter, the two-variable forms, cel.bind, optMap, ...)
// are expanded into Comprehension nodes that the interpreter runs natively. Nodes are
// immutable once parsing and checking are done, so a tree may be shared by concurrent
// evaluations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cel/value.h"

namespace tether::cel {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kConst,
  kIdent,
  kSelect,  // operand.field (test_only: has(operand.field); optional: operand.?field)
  kCall,    // function(args) or target.function(args)
  kList,
  kMap,
  kStruct,  // Message{field: value} (message types are not supported at runtime)
  kComprehension,
};

enum class MacroKind {
  kAll,
  kExists,
  kExistsOne,
  kMap,  // map(x, t) / map(x, p, t)
  kFilter,
  kTransformList,  // transformList(i, v, [p,] t)
  kTransformMap,   // transformMap(k, v, [p,] t)
  kTransformMapEntry,
  kBind,    // cel.bind(var, init, expr)
  kOptMap,  // opt.optMap(v, expr)
  kOptFlatMap,
};

struct MapEntryExpr {
  ExprPtr key;  // for kStruct: a constant string field name
  ExprPtr value;
  bool optional = false;
};

struct Expr {
  ExprKind kind = ExprKind::kConst;
  int32_t position = 0;  // byte offset into the source

  Value constant;             // kConst
  std::string name;           // kIdent name, kSelect field, kCall function, kStruct type name
  ExprPtr target;             // kSelect operand, kCall receiver (may be null)
  std::vector<ExprPtr> args;  // kCall args, kList elements
  std::vector<bool> optional_elements;  // kList: per-element `?` marker
  std::vector<MapEntryExpr> entries;    // kMap / kStruct
  bool test_only = false;               // kSelect from has()
  bool optional = false;                // kSelect `.?`, kCall index `[?`

  // kComprehension
  MacroKind macro = MacroKind::kAll;
  std::string var1, var2;  // iteration variables (var2 empty for one-variable forms)
  ExprPtr range;           // iterated list/map (bind: the init expression)
  ExprPtr predicate;       // filter / condition (may be null)
  ExprPtr transform;       // map/transform value, or all/exists predicate, or bind body
  ExprPtr transform2;      // transformMapEntry unused; reserved

  // Resolution done by the checker.
  int slot = -1;                      // kIdent: local variable slot, or -1
  int global = -1;                    // kIdent: index into declared variables, or -1
  int slot1 = -1, slot2 = -1;         // kComprehension variable slots
  int op = -1;                        // kCall: built-in operator code (interpreter-defined)
  const void* function = nullptr;     // kCall: resolved library function (FunctionDef)
  std::shared_ptr<const void> cache;  // kCall: precompiled data (e.g. a constant regex)
};

}  // namespace tether::cel
