// Discovery: resolves a kind named by users at runtime (apiVersion + kind, e.g. "apps/v1" +
// "Deployment", or a CRD's kind) to the Resource tether needs for REST calls (plural, scope).
//
// Resolution reads the group-version's APIResourceList (/api/v1 or /apis/GROUP/VERSION) and
// caches it. A miss (kind unknown, or group-version not served) refetches that one document, at
// most once per `miss_refresh_interval` per group-version: a CRD installed after start is found
// on a later lookup, while a genuinely unknown kind does not hammer the API server.
//
// Thread-safety: all methods are safe from any thread; concurrent misses for the same
// group-version share one fetch.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "kube/resource.h"

namespace tether::kube {

// Splits "apps/v1" into ("apps", "v1") and "v1" into ("", "v1").
std::pair<std::string, std::string> SplitApiVersion(std::string_view api_version);

// The top-level resources of an APIResourceList document (subresources such as
// "deployments/status" are skipped). Pure; errors name the document and the bad entry.
Result<std::vector<Resource>> ParseApiResourceList(const Json& doc, std::string_view group,
                                                   std::string_view version);

class Discovery {
 public:
  // GETs a discovery path ("/api/v1", "/apis/apps/v1") and returns the parsed document.
  using Fetcher = std::function<Result<Json>(const std::string& path)>;

  Discovery(Client& client, Clock& clock,
            Duration miss_refresh_interval = std::chrono::seconds(10));
  Discovery(Fetcher fetcher, Clock& clock,
            Duration miss_refresh_interval = std::chrono::seconds(10));

  // kNotFound (with a hint) when the server does not serve that kind.
  Result<Resource> ForKind(std::string_view api_version, std::string_view kind);
  // Same, by plural resource name ("deployments").
  Result<Resource> ForResource(std::string_view api_version, std::string_view plural);
  // Forgets everything (next lookups refetch).
  void Invalidate();

 private:
  struct GroupVersion {
    std::vector<Resource> resources;
    bool served = false;
    TimePoint fetched_at{};
    bool fetched = false;
    std::optional<Error> last_error;  // the last fetch failed transiently
  };
  Result<Resource> Lookup(std::string_view api_version, std::string_view what,
                          const std::function<bool(const Resource&)>& match);
  static const Resource* Find(const GroupVersion& gv,
                              const std::function<bool(const Resource&)>& match);

  Fetcher fetcher_;
  Clock& clock_;
  Duration miss_refresh_interval_;
  std::mutex fetch_mu_;  // serializes fetches; taken before mu_
  std::mutex mu_;
  std::map<std::string, GroupVersion> cache_;  // by apiVersion
};

}  // namespace tether::kube
