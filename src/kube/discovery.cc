#include "kube/discovery.h"

#include <fmt/format.h>

#include "common/log.h"

namespace tether::kube {

std::pair<std::string, std::string> SplitApiVersion(std::string_view api_version) {
  auto slash = api_version.find('/');
  if (slash == std::string_view::npos) return {"", std::string(api_version)};
  return {std::string(api_version.substr(0, slash)), std::string(api_version.substr(slash + 1))};
}

Result<std::vector<Resource>> ParseApiResourceList(const Json& doc, std::string_view group,
                                                   std::string_view version) {
  std::string gv = group.empty() ? std::string(version) : fmt::format("{}/{}", group, version);
  if (!doc.is_object() || !doc.contains("resources") || !doc["resources"].is_array()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("discovery document for {} is not an APIResourceList (no "
                            "\"resources\" array); is the API server healthy?",
                            gv));
  }
  std::vector<Resource> out;
  for (const Json& entry : doc["resources"]) {
    if (!entry.is_object()) continue;
    auto name = entry.find("name");
    auto kind = entry.find("kind");
    if (name == entry.end() || !name->is_string() || kind == entry.end() || !kind->is_string()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("discovery document for {}: resource entry without string "
                              "\"name\" and \"kind\": {}",
                              gv, entry.dump().substr(0, 200)));
    }
    std::string plural = name->get<std::string>();
    if (plural.find('/') != std::string::npos) continue;  // subresource
    Resource r;
    r.group = std::string(group);
    r.version = std::string(version);
    r.resource = std::move(plural);
    r.kind = kind->get<std::string>();
    auto ns = entry.find("namespaced");
    r.namespaced = ns != entry.end() && ns->is_boolean() && ns->get<bool>();
    out.push_back(std::move(r));
  }
  return out;
}

Discovery::Discovery(Client& client, Clock& clock, Duration miss_refresh_interval)
    : Discovery([&client](const std::string& path) { return client.Request("GET", path, nullptr); },
                clock, miss_refresh_interval) {}

Discovery::Discovery(Fetcher fetcher, Clock& clock, Duration miss_refresh_interval)
    : fetcher_(std::move(fetcher)), clock_(clock), miss_refresh_interval_(miss_refresh_interval) {}

const Resource* Discovery::Find(const GroupVersion& gv,
                                const std::function<bool(const Resource&)>& match) {
  for (const Resource& r : gv.resources) {
    if (match(r)) return &r;
  }
  return nullptr;
}

Result<Resource> Discovery::ForKind(std::string_view api_version, std::string_view kind) {
  std::string k(kind);
  return Lookup(api_version, fmt::format("kind {}", kind),
                [k](const Resource& r) { return r.kind == k; });
}

Result<Resource> Discovery::ForResource(std::string_view api_version, std::string_view plural) {
  std::string p(plural);
  return Lookup(api_version, fmt::format("resource {}", plural),
                [p](const Resource& r) { return r.resource == p; });
}

Result<Resource> Discovery::Lookup(std::string_view api_version, std::string_view what,
                                   const std::function<bool(const Resource&)>& match) {
  const std::string gv_key(api_version);
  auto [group, version] = SplitApiVersion(api_version);
  if (version.empty() || (api_version.find('/') != std::string_view::npos && group.empty())) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("apiVersion \"{}\" is malformed: expected \"v1\" or \"GROUP/VERSION\" "
                            "(e.g. \"apps/v1\")",
                            api_version));
  }
  auto not_found = [&](const GroupVersion& gv) -> Result<Resource> {
    if (gv.last_error) return Fail(*gv.last_error);
    const bool served = gv.served;
    std::string msg = served
                          ? fmt::format(
                                "{} is not served in apiVersion {}; check the spelling (kinds are "
                                "case-sensitive) or install the CRD that defines it",
                                what, api_version)
                          : fmt::format(
                                "apiVersion {} is not served by the API server ({} not found); "
                                "install the CRD that defines it or fix the apiVersion",
                                api_version, what);
    return Fail(ErrorCode::kNotFound, std::move(msg));
  };
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(gv_key);
    if (it != cache_.end()) {
      if (const Resource* r = Find(it->second, match)) return *r;
      if (it->second.fetched && clock_.Now() - it->second.fetched_at < miss_refresh_interval_) {
        return not_found(it->second);
      }
    }
  }
  std::lock_guard fetch_lock(fetch_mu_);
  {
    // Another thread may have refreshed while we waited for the fetch lock.
    std::lock_guard lock(mu_);
    auto it = cache_.find(gv_key);
    if (it != cache_.end() && it->second.fetched &&
        clock_.Now() - it->second.fetched_at < miss_refresh_interval_) {
      if (const Resource* r = Find(it->second, match)) return *r;
      return not_found(it->second);
    }
  }
  std::string path =
      group.empty() ? fmt::format("/api/{}", version) : fmt::format("/apis/{}/{}", group, version);
  auto doc = fetcher_(path);
  GroupVersion fresh;
  fresh.fetched = true;
  fresh.fetched_at = clock_.Now();
  if (!doc) {
    if (doc.error().code != ErrorCode::kNotFound) {
      // Transient failure: keep what we knew, but still rate-limit the retries.
      std::lock_guard lock(mu_);
      auto& slot = cache_[gv_key];
      slot.fetched = true;
      slot.fetched_at = fresh.fetched_at;
      slot.last_error = doc.error().Wrap(fmt::format("discovering {} in {}", what, api_version));
      return Fail(*slot.last_error);
    }
  } else {
    auto parsed = ParseApiResourceList(*doc, group, version);
    if (!parsed) return Fail(parsed.error());
    fresh.served = true;
    fresh.resources = std::move(*parsed);
  }
  std::lock_guard lock(mu_);
  auto& slot = cache_[gv_key];
  slot = std::move(fresh);
  if (const Resource* r = Find(slot, match)) return *r;
  log::Debug("discovery miss", {{"apiVersion", gv_key}, {"what", what}});
  return not_found(slot);
}

void Discovery::Invalidate() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

}  // namespace tether::kube
