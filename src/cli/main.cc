// tether: the single binary. Subcommand wiring only; each subcommand lives in its module.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "cli/cel_command.h"
#include "cli/controller_command.h"
#include "cli/demo_command.h"
#include "cli/graph_command.h"
#include "cli/manifests_command.h"
#include "cli/why_command.h"

namespace {

int RunVersion() {
  fmt::print("tether {} (built {} {}, {} {})\n", TETHER_VERSION, __DATE__, __TIME__,
#if defined(__clang__)
             "clang", __clang_version__
#else
             "gcc", __VERSION__
#endif
  );
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tether: workload dependencies, scheduling gates and right-sizing for Kubernetes"};
  app.require_subcommand(1);
  auto* version = app.add_subcommand("version", "Print the version and build information");
  version->callback([] { std::exit(RunVersion()); });
  tether::cli::RegisterControllerCommand(app);
  tether::RegisterCelCommand(app);
  tether::cli::RegisterDemoCommand(app);
  tether::cli::RegisterWhyCommand(app);
  tether::cli::RegisterGraphCommand(app);
  tether::cli::RegisterManifestsCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
