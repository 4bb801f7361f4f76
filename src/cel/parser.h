// CEL lexer and hand-written recursive-descent parser with macro expansion.
//
// Hostile input is bounded: the source length and the nesting depth are limited, so parsing
// never overflows the stack. Errors are tether::Error{kInvalid} with "line:column: message".
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cel/ast.h"
#include "common/error.h"

namespace tether::cel {

struct ParseOptions {
  size_t max_source_bytes = 100'000;  // cel-go's default expression size limit
  int max_depth = 250;                // nesting of parentheses, calls, lists, operators, ...
};

Result<ExprPtr> Parse(std::string_view source, const ParseOptions& options = {});

// "line:column" (1-based, columns counted in code points) for a byte offset into source.
std::string FormatPosition(std::string_view source, int32_t offset);

}  // namespace tether::cel
