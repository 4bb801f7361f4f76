// Client: a thin, synchronous REST client for the Kubernetes API over libcurl (HTTP/1.1 and
// HTTP/2, TLS from the kubeconfig). Real JSON in and out (nlohmann::json). Every failure is a
// tether::Error: a metav1.Status body is mapped onto code/message/reason/http_status.
//
// Thread-safety: a Client is safe to use from many threads at once (each call uses its own
// curl easy handle from a pool). Watch() blocks the calling thread until the stream ends, an
// error occurs, the handler returns false, or the stop token is triggered (prompt: it does not
// wait for the next event).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>  // full header: WatchEvent and ListPage hold Json by value
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/config.h"
#include "kube/resource.h"

namespace tether::kube {

using Json = nlohmann::json;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 0;  // 0: no limit
  std::string continue_token;
  std::string resource_version;        // "" : most recent (quorum read); "0": any
  std::string resource_version_match;  // "", "Exact", "NotOlderThan"
};

struct ListPage {
  std::vector<Json> items;
  std::string resource_version;  // the list's metadata.resourceVersion
  std::string continue_token;    // empty on the last page
  std::optional<std::int64_t> remaining_item_count;
};

struct ListResult {
  std::vector<Json> items;
  std::string resource_version;  // of the first page: the snapshot all pages belong to
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // resume point
  bool allow_bookmarks = true;
  int timeout_seconds = 0;  // 0: server default
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type;
  Json object;  // the object; for kError the metav1.Status
};

// Decodes one line of a watch stream ({"type": ..., "object": {...}}). Malformed lines
// (not JSON, unknown type, missing object) fail with ErrorCode::kInvalid; the caller relists.
Result<WatchEvent> ParseWatchEvent(std::string_view line);

enum class PatchType { kJson, kMerge, kStrategicMerge, kApply };

struct PatchOptions {
  std::string field_manager;  // required for kApply; defaults to "tether"
  bool force = false;         // server-side apply force
  bool dry_run = false;
};

struct DeleteOptions {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;  // "", "Foreground", "Background", "Orphan"
};

// Client-side token-bucket limit on request rate (--kube-api-qps / --kube-api-burst).
struct RateLimit {
  double qps = 50;
  int burst = 100;
};

// Observes every request; used by the metrics module (requests by verb and code, latency).
using RequestObserver =
    std::function<void(std::string_view verb, int http_status, std::chrono::nanoseconds latency)>;

class Client {
 public:
  // `config` comes from LoadConfig()/InClusterConfig(); `clock` is used for rate limiting,
  // credential expiry and backoff.
  static Result<std::unique_ptr<Client>> Create(RestConfig config, Clock& clock,
                                                RateLimit limit = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<Json> Get(const Resource& r, std::string_view ns, std::string_view name,
                   std::string_view subresource = {});
  // One page.
  // (Return type qualified: inside Client, ListPage names this function.)
  Result<kube::ListPage> ListPage(const Resource& r, std::string_view ns, const ListOptions& opts);
  // All pages (follows continue tokens; page size opts.limit or 500; relists from scratch if a
  // continue token expires mid-way).
  Result<ListResult> List(const Resource& r, std::string_view ns, const ListOptions& opts = {});
  Result<Json> Create(const Resource& r, std::string_view ns, const Json& body);
  // PUT; a stale metadata.resourceVersion yields ErrorCode::kConflict.
  Result<Json> Update(const Resource& r, std::string_view ns, const Json& body,
                      std::string_view subresource = {});
  Result<Json> Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                     const Json& patch, std::string_view subresource = {},
                     const PatchOptions& opts = {});
  Result<void> Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const DeleteOptions& opts = {});

  // Streams watch events to `handler` until the server ends the stream (returns success), a
  // transport or protocol error (returns the error), `handler` returns false (success), or
  // `stop` (returns ErrorCode::kCancelled). ERROR events are delivered to the handler as kError.
  // Lines longer than the cap (default 16 MiB) fail the watch with kTooLarge.
  Result<void> Watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
                     const std::function<bool(WatchEvent&&)>& handler, const std::stop_token& stop);

  // Raw request for paths without a typed helper (discovery, SubjectAccessReview, /version).
  // `body` may be null for GET/DELETE. Returns the parsed JSON answer.
  Result<Json> Request(std::string_view method, std::string_view path, const Json* body,
                       std::string_view content_type = "application/json");

  void SetRequestObserver(RequestObserver observer);
  [[nodiscard]] const RestConfig& config() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether::kube
