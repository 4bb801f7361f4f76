// Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), as kubectl runs them:
// the plugin is started directly (posix_spawn with an argv, never through a shell) with stdin on
// /dev/null, the kubeconfig's env entries and KUBERNETES_EXEC_INFO added to the environment; its
// stdout must be an ExecCredential whose apiVersion matches the configuration, stderr is kept for
// error messages, and a run that outlives its timeout is killed.
//
// ExecCredentialProvider caches the credential until status.expirationTimestamp (injected
// Clock) and re-runs the plugin on expiry or after Invalidate() (the client calls it on a 401).
//
// Thread-safety: ExecCredentialProvider is safe to use from many threads; concurrent Get()s
// while the plugin runs wait for that one run. The free functions are pure or reentrant.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/config.h"

namespace tether::kube {

inline constexpr std::string_view kExecApiV1 = "client.authentication.k8s.io/v1";
inline constexpr std::string_view kExecApiV1Beta1 = "client.authentication.k8s.io/v1beta1";

// What a plugin learns about the cluster when provideClusterInfo is set.
struct ExecClusterInfo {
  std::string server;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string ca_pem;  // sent base64-encoded as certificate-authority-data
  std::string proxy_url;
  nlohmann::json config;  // the cluster's "client.authentication.k8s.io/exec" extension, if any
};

struct ProcessOutput {
  int exit_code = 0;        // exit status, or 128+signal when killed by a signal
  bool timed_out = false;   // killed after the timeout
  std::string stdout_data;  // capped at the max_output given to RunProcess
  std::string stderr_data;
};

// Runs argv[0] (looked up in PATH unless it contains a '/') with argv, the current environment
// plus `extra_env` (overriding same-named variables), stdin on /dev/null. Waits at most
// `timeout`, then kills the process. Fails only if the process cannot be started.
Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::pair<std::string, std::string>>& extra_env,
                                 std::chrono::milliseconds timeout,
                                 std::size_t max_output = 4 * 1024 * 1024);

// The KUBERNETES_EXEC_INFO value for a plugin run (interactive is always false: tether has no
// terminal to lend).
std::string BuildExecInfo(const ExecConfig& exec, const ExecClusterInfo* cluster);

// Parses and validates a plugin's stdout. Errors are short phrases without context, e.g.
// `returned apiVersion "x/v1", expected "client.authentication.k8s.io/v1"`.
Result<Credential> ParseExecCredential(std::string_view output, std::string_view api_version);

class ExecCredentialProvider final : public CredentialProvider {
 public:
  struct Options {
    ExecConfig exec;              // command already resolved against the kubeconfig directory
    std::string kubeconfig_path;  // for messages
    std::string user_name;        // for messages
    std::optional<ExecClusterInfo> cluster;  // set when provideClusterInfo is true
    std::chrono::milliseconds timeout{60000};
  };

  ExecCredentialProvider(Options options, Clock& clock);

  Result<Credential> Get() override;
  void Invalidate() override;

  // How many times the plugin has been started (for tests and debugging).
  [[nodiscard]] int runs() const;

 private:
  Result<Credential> Run();
  [[nodiscard]] std::string Where() const;

  const Options options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::optional<Credential> cached_;
  int runs_ = 0;
};

}  // namespace tether::kube
