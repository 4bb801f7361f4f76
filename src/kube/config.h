// RestConfig: how to reach and authenticate to one API server, resolved from kubeconfig
// (kubectl's rules: merged KUBECONFIG list, current or chosen context) or from the in-cluster
// service account. Value type; the credential provider inside is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace tether::kube {

// exec credential plugin configuration (client.authentication.k8s.io/v1 and v1beta1).
struct ExecConfig {
  std::string api_version;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string interactive_mode;  // Never | IfAvailable | Always
};

// A bearer token or client certificate, and until when it is good.
struct Credential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<TimePoint> expiry;
};

// Supplies credentials for requests: static ones, a token file re-read periodically (bound
// service-account tokens rotate), or an exec plugin (cached until expirationTimestamp, re-run on
// expiry or after a 401). Thread-safe.
class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  virtual Result<Credential> Get() = 0;
  // Called after the server answered 401 with the credential last returned by Get().
  virtual void Invalidate() = 0;
};

struct RestConfig {
  std::string server;  // https://host:port (no trailing slash)
  std::string ca_pem;  // empty: system trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string proxy_url;
  std::string client_cert_pem;  // static client certificate (from *-data or files)
  std::string client_key_pem;
  std::shared_ptr<CredentialProvider> credentials;  // may be null (anonymous or cert only)
  std::string user_agent = "tether";
  std::string context_name;  // for messages
  std::string default_namespace = "default";
  std::chrono::seconds timeout{30};  // per non-watch request
};

struct LoadOptions {
  std::string kubeconfig;  // --kubeconfig (single file); empty: KUBECONFIG env, then ~/.kube/config
  std::string context;     // --context; empty: current-context
  // Environment lookup, injectable for tests.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// Resolves a RestConfig from kubeconfig files. Errors name the file, the entry and the problem,
// e.g. `kubeconfig /home/u/.kube/config: context "prod" not found (available: dev, staging)`.
Result<RestConfig> LoadKubeconfig(const LoadOptions& opts, Clock& clock);

// In-cluster config from KUBERNETES_SERVICE_HOST/PORT and
// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}. `root` overrides the
// service-account directory for tests.
Result<RestConfig> InClusterConfig(
    Clock& clock, const std::string& root = "/var/run/secrets/kubernetes.io/serviceaccount");

// kubeconfig if one is given or found, else in-cluster.
Result<RestConfig> LoadConfig(const LoadOptions& opts, Clock& clock);

// Resolves a RestConfig from one kubeconfig document held in memory. `path` names it in
// messages and anchors relative file references (certificates, tokenFile, exec command).
Result<RestConfig> ParseKubeconfig(std::string_view content, const std::string& path,
                                   const std::string& context, Clock& clock);

// A fixed bearer token (kubeconfig `token`). Invalidate() is a no-op.
class StaticTokenProvider final : public CredentialProvider {
 public:
  explicit StaticTokenProvider(std::string token) : token_(std::move(token)) {}
  Result<Credential> Get() override { return Credential{token_, {}, {}, std::nullopt}; }
  void Invalidate() override {}

 private:
  const std::string token_;
};

// A bearer token read from a file (kubeconfig `tokenFile`, the service-account token) and
// re-read every `refresh` (bound tokens rotate) or right after Invalidate(). If a re-read fails
// the last good token is kept. Thread-safe.
class TokenFileProvider final : public CredentialProvider {
 public:
  TokenFileProvider(std::string path, Clock& clock,
                    std::chrono::seconds refresh = std::chrono::seconds(60));
  Result<Credential> Get() override;
  void Invalidate() override;

 private:
  const std::string path_;
  Clock& clock_;
  const std::chrono::seconds refresh_;
  std::mutex mu_;
  std::string token_;
  std::optional<TimePoint> read_at_;
};

}  // namespace tether::kube
