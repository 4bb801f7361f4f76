#include "cli/cel_command.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cel/eval_tool.h"
#include "common/clock.h"

namespace tether {

void RegisterCelCommand(CLI::App& app) {
  auto* cel = app.add_subcommand("cel", "Common Expression Language tools");
  cel->require_subcommand(1);
  auto* eval = cel->add_subcommand("eval", "Evaluate a CEL expression over JSON/YAML documents");
  struct Options {
    std::string expression;
    std::string resource;
    std::string self;
    std::vector<std::string> vars;
  };
  auto opts = std::make_shared<Options>();
  eval->add_option("EXPR", opts->expression, "CEL expression")->required();
  eval->add_option("--resource", opts->resource, "JSON or YAML file bound to `resource`");
  eval->add_option("--this", opts->self, "JSON or YAML file bound to `this` (alias `pod`)");
  eval->add_option("--var", opts->vars, "NAME=FILE: bind another variable (repeatable)");
  eval->callback([opts] {
    cel::EvalToolRequest req;
    req.expression = opts->expression;
    req.resource_file = opts->resource;
    req.this_file = opts->self;
    for (const auto& v : opts->vars) {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "--var %s: expected NAME=FILE\n", v.c_str());
        std::exit(1);
      }
      req.vars.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
    auto out = cel::RunEvalTool(req, RealClock::Instance().Now());
    std::fputs(out.output.c_str(), stdout);
    std::fputs(out.error.c_str(), stderr);
    std::fflush(stdout);
    std::exit(out.exit_code);
  });
}

}  // namespace tether
