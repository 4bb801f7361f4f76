// ApiServer: a loopback kube-apiserver for integration tests and `tether demo`. Real HTTPS with
// its own CA, authentication by client certificate (CN = user, O = groups) or bearer token,
// real JSON as kube-apiserver v1.34 writes it: resourceVersions, list paging, watches with
// bookmarks and 410, 409 conflicts, patches, status/scale subresources, discovery (including CRDs
// registered at runtime), selectors, finalizers, scheduling-gate rules, SubjectAccessReviews.
//
// Test hooks: direct store access (Create/Get/Update/Delete without HTTP), tokens, authorization
// denials, fault injection (fail the next N matching requests), dropping all watches,
// compaction (older resourceVersions → 410), a maximum watch duration, Stop()/Restart() on the
// same port with the data kept.
//
// Thread-safety: every method is safe from any thread; handlers run on connection threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/config.h"
#include "server/http_server.h"
#include "server/tls.h"
#include "testing/api_backend.h"

namespace tether::testing {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: ephemeral
  // Time source for creationTimestamp/deletionTimestamp (watch timeouts and bookmarks use real
  // time). Null: the real clock.
  Clock* clock = nullptr;
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
  std::chrono::seconds default_watch_timeout{std::chrono::minutes(30)};
  // Requests without credentials are "system:anonymous" (allowed only /healthz, /version...)
  // like kube-apiserver; false rejects them with 401 instead.
  bool anonymous_auth = true;
  std::size_t max_events = 200000;  // watch history kept before automatic compaction
  std::vector<std::string> namespaces = {"default", "kube-system", "kube-public",
                                         "kube-node-lease"};
};

// How a kubeconfig written by WriteKubeconfig authenticates.
struct KubeconfigAuth {
  enum class Kind { kClientCert, kToken, kExec };
  Kind kind = Kind::kClientCert;
  std::string user = "admin";                            // kClientCert: CN; kToken: token's user
  std::vector<std::string> groups = {"system:masters"};  // kClientCert: O entries
  std::string token;                                     // kToken (registered automatically)
  std::string exec_command;                              // kExec
  std::vector<std::string> exec_args;
  std::vector<std::pair<std::string, std::string>> exec_env;
  std::string context_name = "tether-test";
  std::string default_namespace = "default";

  static KubeconfigAuth ClientCert(std::string user = "admin",
                                   std::vector<std::string> groups = {"system:masters"});
  static KubeconfigAuth Token(std::string token, std::string user = "admin");
  static KubeconfigAuth Exec(std::string command, std::vector<std::string> args = {});
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> Start(ApiServerOptions options = {});
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  [[nodiscard]] std::string url() const;  // https://127.0.0.1:PORT
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& ca_pem() const { return ca_.cert_pem; }
  [[nodiscard]] bool running() const;

  // Drops every connection (watches included) and stops listening; data is kept.
  void Stop();
  // Listens again on the same port with the same CA, certificates and data.
  Result<void> Restart();

  // ---- credentials ----
  // A client certificate for `user` with `groups` as O entries, signed by the server's CA.
  Result<server::CertKeyPair> IssueClientCert(const std::string& user,
                                              const std::vector<std::string>& groups = {});
  void AddToken(const std::string& token, const std::string& user,
                const std::vector<std::string>& groups = {});
  void RevokeToken(const std::string& token);
  Result<void> WriteKubeconfig(const std::string& path, const KubeconfigAuth& auth);
  // In-process clients: a RestConfig for this server that authenticates with a freshly issued
  // client certificate for `user` in `groups` (cluster admin by default).
  Result<kube::RestConfig> RestConfigFor(const std::string& user,
                                         const std::vector<std::string>& groups = {
                                             "system:masters"});

  // ---- authorization (allow-all by default) ----
  // Denies `verb` ("*" = any) on `resource` ("*" = any; "deployments/scale" for a subresource)
  // to `user`. Affects requests and SubjectAccessReviews alike.
  void Deny(const std::string& user, const std::string& verb, const std::string& resource);
  void ClearDenials();

  // ---- fault injection ----
  // The next `count` requests with `verb` (get, list, watch, create, update, patch, delete;
  // "*" any) on `resource` (plural, optionally "/status" or "/scale"; "*" any) fail with
  // `http_status` and a matching metav1.Status (429 and 503 carry Retry-After: 1).
  void FailNext(const std::string& verb, const std::string& resource, int count, int http_status,
                const std::string& message = "");
  // Ends every open watch stream now (clients see a clean end of stream).
  void DropWatches();
  // Forgets history up to now: watches and paged lists from older resourceVersions get 410.
  void Compact();
  // Caps every watch's lifetime (0 = no cap beyond timeoutSeconds).
  void SetMaxWatchDuration(std::chrono::milliseconds d);
  // Requests served so far with this verb on this resource ("*" = any).
  [[nodiscard]] int RequestCount(const std::string& verb, const std::string& resource) const;
  [[nodiscard]] int OpenWatches() const { return open_watches_.load(); }

  // ---- in-process store access (same semantics as over HTTP, no HTTP) ----
  // `api_version` "v1" or "apps/v1"; `resource` plural. Errors carry the HTTP status/reason.
  Result<Json> Create(const std::string& api_version, const std::string& resource,
                      const std::string& ns, Json object);
  Result<Json> Get(const std::string& api_version, const std::string& resource,
                   const std::string& ns, const std::string& name);
  Result<Json> Update(const std::string& api_version, const std::string& resource,
                      const std::string& ns, Json object);
  Result<Json> UpdateStatus(const std::string& api_version, const std::string& resource,
                            const std::string& ns, Json object);
  Result<Json> Delete(const std::string& api_version, const std::string& resource,
                      const std::string& ns, const std::string& name);
  Result<Json> List(const std::string& api_version, const std::string& resource,
                    const std::string& ns, const std::string& label_selector = "");

  ApiBackend& backend() { return *backend_; }
  ObjectStore& store() { return *store_; }
  ResourceRegistry& registry() { return *registry_; }

 private:
  struct User {
    std::string name;
    std::vector<std::string> groups;
    bool anonymous = false;
  };
  struct Fault {
    std::string verb, resource;
    int remaining;
    int status;
    std::string message;
  };
  struct Denial {
    std::string user, verb, resource;
  };

  explicit ApiServer(ApiServerOptions options);
  Result<void> Listen();
  server::Response Handle(const server::Request& req, server::StreamWriter& writer);
  server::Response HandleResource(const server::Request& req, server::StreamWriter& writer,
                                  const User& user, const std::vector<std::string>& segments);
  server::Response Watch(const server::Request& req, server::StreamWriter& writer,
                         const ResourceType& type, const std::string& ns);
  server::Response AccessReview(const server::Request& req, const ResourceType& type,
                                const User& user, const std::string& ns);
  bool Authorized(const User& user, const std::string& verb, const std::string& resource,
                  const std::string& sub) const;
  std::optional<ApiError> TakeFault(const std::string& verb, const std::string& resource);
  Result<ResourceType> Lookup(const std::string& api_version, const std::string& resource) const;

  ApiServerOptions options_;
  std::unique_ptr<Clock> owned_clock_;
  Clock* clock_;
  server::CertKeyPair ca_;
  server::CertKeyPair serving_;
  std::unique_ptr<ResourceRegistry> registry_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<ApiBackend> backend_;
  int port_ = 0;

  mutable std::mutex mu_;  // guards the members below
  std::unique_ptr<server::HttpServer> http_;
  std::map<std::string, User> tokens_;
  std::vector<Denial> denials_;
  std::vector<Fault> faults_;
  std::map<std::pair<std::string, std::string>, int> request_counts_;
  std::chrono::milliseconds max_watch_{0};

  std::atomic<std::uint64_t> watch_epoch_{0};
  std::atomic<int> open_watches_{0};
};

}  // namespace tether::testing
