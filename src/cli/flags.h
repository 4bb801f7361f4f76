// Shared command-line plumbing for tether's subcommands: every flag gets a TETHER_<FLAG>
// environment fallback (one prefix for all subcommands), and the connection/logging flags that
// most subcommands share are declared once here. CLI11 is included only by src/cli/*.cc.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace tether::cli {

// TETHER_ + upper-cased flag name with '-' → '_': "--kube-api-qps" → "TETHER_KUBE_API_QPS".
std::string EnvName(const std::string& flag);

// Adds `--name` bound to `target`, with help text and the TETHER_* env fallback.
template <typename T>
CLI::Option* AddFlag(CLI::App* app, const std::string& name, T& target, const std::string& help) {
  return app->add_option("--" + name, target, help)->envname(EnvName(name))->capture_default_str();
}
CLI::Option* AddBoolFlag(CLI::App* app, const std::string& name, bool& target,
                         const std::string& help);

struct ConnectionFlags {
  std::string kubeconfig;
  std::string context;
  double kube_api_qps = 50;
  int kube_api_burst = 100;
};
void AddConnectionFlags(CLI::App* app, ConnectionFlags& flags);

struct LogFlags {
  std::string format = "auto";
  std::string level = "info";
};
void AddLogFlags(CLI::App* app, LogFlags& flags);
// Applies log flags; on bad values prints one error line and returns false.
bool ApplyLogFlags(const LogFlags& flags);

}  // namespace tether::cli
