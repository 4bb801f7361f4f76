// `tether cel eval EXPR [--resource FILE] [--this FILE] [--var name=FILE]`: evaluates a CEL
// expression over JSON/YAML documents and prints {"type": ..., "value": ...}. The logic lives
// in cel/eval_tool.h; this file only wires the CLI11 subcommand. Not thread-related.
#pragma once

#include <CLI/CLI.hpp>

namespace tether {

void RegisterCelCommand(CLI::App& app);

}  // namespace tether
