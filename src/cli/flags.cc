#include "cli/flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/log.h"

namespace tether::cli {

std::string EnvName(const std::string& flag) {
  std::string out = "TETHER_";
  for (char c : flag) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

CLI::Option* AddBoolFlag(CLI::App* app, const std::string& name, bool& target,
                         const std::string& help) {
  return app->add_flag("--" + name + ",!--no-" + name, target, help)
      ->envname(EnvName(name))
      ->capture_default_str();
}

void AddConnectionFlags(CLI::App* app, ConnectionFlags& flags) {
  // KUBECONFIG (a colon-separated list) is honoured by the loader when --kubeconfig is unset.
  AddFlag(app, "kubeconfig", flags.kubeconfig,
          "Path to a kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)");
  AddFlag(app, "context", flags.context, "kubeconfig context to use (default: current-context)");
  AddFlag(app, "kube-api-qps", flags.kube_api_qps, "Client-side limit on API requests per second")
      ->check(CLI::PositiveNumber);
  AddFlag(app, "kube-api-burst", flags.kube_api_burst, "Burst above --kube-api-qps")
      ->check(CLI::PositiveNumber);
}

void AddLogFlags(CLI::App* app, LogFlags& flags) {
  AddFlag(app, "log-format", flags.format, "Log format: json, text, or auto (text on a terminal)")
      ->check(CLI::IsMember({"json", "text", "auto"}));
  AddFlag(app, "log-level", flags.level, "Log level: debug, info, warn, error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
}

bool ApplyLogFlags(const LogFlags& flags) {
  std::string error;
  if (!log::Configure(flags.format, flags.level, &error)) {
    fmt::print(stderr, "tether: {}\n", error);
    return false;
  }
  return true;
}

}  // namespace tether::cli
