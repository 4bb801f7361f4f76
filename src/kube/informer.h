// Informer: a shared, watch-fed cache of one resource type in one scope (all namespaces or one
// namespace, optional label and field selectors), with event handlers and indexes — the
// client-go SharedIndexInformer done in C++.
//
// Lifecycle: Start() spawns a thread that lists (paged) and then watches from the list's
// resourceVersion with bookmarks. A dropped watch resumes from the last resourceVersion seen;
// an expired one (410 Gone as an HTTP answer or an ERROR event) relists and reconciles the cache
// against the fresh list, emitting synthetic add/update/delete events so handlers observe every
// difference (no lost deletes). Failures retry with capped exponential backoff and jitter on
// the injected Clock.
//
// Objects are stored as shared_ptr<const Json>: reads never copy. Before caching, every object
// loses metadata.managedFields and then passes through the optional transform, which may strip
// more fields or drop the object entirely (returning nullopt), in which case it is treated as
// absent (a cached object that stops passing is deleted from the cache, with a delete event).
//
// Handlers run on the informer thread, serialized, in event order; they must be quick (enqueue a
// key) and must not call AddEventHandler/AddIndexer. A handler added after start first receives
// a synthetic add for every cached object. Reads (Get/List/ByIndex) are safe from any thread,
// including from inside handlers.
//
// Watch health: WatchHealthy() says whether the cache is currently live. It turns true with every
// successful list, and false the moment a list fails or a watch fails with an error (transport
// error, HTTP error, non-expiry ERROR event); after a watch error the informer relists (as
// client-go's reflector does), so health returns with the next successful list. A clean
// server-side close resumes at once and does not affect health; an expired resourceVersion
// relists without flapping health unless that relist fails. Watch-health handlers
// (AddWatchHealthHandler) run on the informer thread on every transition, in both directions.
//
// Metrics: tether_watch_restarts_total{resource,reason} (reason: closed, expired, error,
// list_error).
//
// Thread-safety: all public methods are safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/backoff.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "metrics/metrics.h"

namespace tether::kube {

using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name" for namespaced objects, "name" for cluster-scoped ones.
std::string ObjectKey(const Json& object);
// Splits a key into (namespace, name); namespace is empty for cluster-scoped keys.
std::pair<std::string, std::string> SplitObjectKey(std::string_view key);

// The list/watch seam: the informer's only I/O. ClientListerWatcher talks to the API server;
// tests substitute a scripted fake.
class ListerWatcher {
 public:
  virtual ~ListerWatcher() = default;
  // Every page of a list (opts.limit is the page size).
  virtual Result<ListResult> List(const ListOptions& opts) = 0;
  // Same contract as Client::Watch.
  virtual Result<void> Watch(const WatchOptions& opts,
                             const std::function<bool(WatchEvent&&)>& handler,
                             const std::stop_token& stop) = 0;
};

std::unique_ptr<ListerWatcher> MakeClientListerWatcher(Client& client, Resource resource,
                                                       std::string ns);

// Returns the transformed object to cache, or nullopt to drop it.
using Transform = std::function<std::optional<Json>(Json&& object)>;
// Index values of an object (e.g. the names of the dependencies it references).
using IndexFunc = std::function<std::vector<std::string>(const Json& object)>;

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  std::function<void(const ObjectPtr& last_known)> on_delete;
};

struct InformerOptions {
  Resource resource;
  std::string ns;  // "" = all namespaces (or cluster-scoped)
  std::string label_selector;
  std::string field_selector;
  Transform transform;       // optional
  std::string transform_id;  // identifies the transform for InformerFactory sharing
  std::int64_t page_size = 500;
  // Server-side watch timeout; 0: a random 5-10 minutes per watch (as client-go does), so
  // that many replicas do not reconnect in lockstep.
  int watch_timeout_seconds = 0;
  BackoffPolicy backoff{.initial = std::chrono::milliseconds(800), .max = std::chrono::seconds(30)};
  std::uint64_t seed = 0;                 // backoff jitter seed; 0: random
  metrics::Registry* registry = nullptr;  // null: metrics::Registry::Default()
};

class Informer {
 public:
  Informer(std::unique_ptr<ListerWatcher> lw, Clock& clock, InformerOptions options);
  ~Informer();  // Stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void Start();  // idempotent
  void Stop();   // prompt: cancels the watch and joins the thread

  // True once the first list has been applied to the cache.
  [[nodiscard]] bool HasSynced() const { return synced_.load(); }
  // Blocks until synced (true) or `stop` is requested (false).
  bool WaitForSync(const std::stop_token& stop) const;

  void AddEventHandler(EventHandler handler);

  // True while the cache is live (see "Watch health" above). False before the first list.
  [[nodiscard]] bool WatchHealthy() const { return healthy_.load(); }
  // The error that made the watch unhealthy ("" while healthy or before the first attempt).
  [[nodiscard]] std::string WatchError() const;
  // Called with the new state on every health transition, on the informer thread; must be quick
  // and must not call AddWatchHealthHandler. Not called for the current state at registration.
  void AddWatchHealthHandler(std::function<void(bool healthy)> handler);
  // Registers an index; existing objects are indexed at once.
  void AddIndexer(const std::string& name, IndexFunc fn);

  [[nodiscard]] ObjectPtr Get(std::string_view ns, std::string_view name) const;
  [[nodiscard]] ObjectPtr GetByKey(std::string_view key) const;
  [[nodiscard]] std::vector<ObjectPtr> List() const;
  [[nodiscard]] std::vector<ObjectPtr> ListNamespace(std::string_view ns) const;
  [[nodiscard]] std::vector<ObjectPtr> ByIndex(const std::string& index,
                                               const std::string& value) const;
  [[nodiscard]] std::size_t Size() const;
  // The resourceVersion the cache is current at.
  [[nodiscard]] std::string LastSyncResourceVersion() const;
  [[nodiscard]] const InformerOptions& options() const { return options_; }

 private:
  enum class Kind { kAdd, kUpdate, kDelete };
  struct Delta {
    Kind kind;
    ObjectPtr old_obj;
    ObjectPtr new_obj;
  };

  void Run(const std::stop_token& stop);
  // Reconciles the cache with a full list, emitting the differences as events.
  void Replace(std::vector<Json>&& items);
  void Upsert(Json&& object);
  void Remove(const Json& object);
  std::optional<Json> Ingest(Json&& object) const;
  void Dispatch(const std::vector<Delta>& deltas);
  void SetHealth(bool healthy, std::string error);
  // Requires store_mu_ held exclusively.
  void SetLocked(const std::string& key, ObjectPtr obj);
  void EraseLocked(const std::string& key);
  void IndexLocked(const std::string& key, const Json* obj);
  void IndexOneLocked(const std::string& name, const IndexFunc& fn, const std::string& key,
                      const Json* obj);

  std::unique_ptr<ListerWatcher> lw_;
  Clock& clock_;
  InformerOptions options_;

  std::mutex dispatch_mu_;  // serializes cache mutation + handler calls; before store_mu_
  std::vector<EventHandler> handlers_;

  mutable std::shared_mutex store_mu_;
  std::map<std::string, ObjectPtr, std::less<>> store_;
  std::map<std::string, IndexFunc> index_funcs_;
  // index name -> value -> keys
  std::map<std::string, std::unordered_map<std::string, std::set<std::string>>> indices_;
  // index name -> key -> values (to unindex)
  std::map<std::string, std::unordered_map<std::string, std::vector<std::string>>> indexed_;
  std::string resource_version_;

  std::atomic<bool> synced_{false};

  std::atomic<bool> healthy_{false};
  mutable std::mutex health_mu_;  // guards watch_error_ and health_handlers_
  std::string watch_error_;
  std::vector<std::function<void(bool)>> health_handlers_;
  mutable std::mutex sync_mu_;
  mutable std::condition_variable_any sync_cv_;

  std::mutex lifecycle_mu_;
  std::jthread thread_;

  std::shared_ptr<metrics::Counter> restarts_closed_;
  std::shared_ptr<metrics::Counter> restarts_expired_;
  std::shared_ptr<metrics::Counter> restarts_error_;
  std::shared_ptr<metrics::Counter> restarts_list_error_;
};

// Shares one Informer per (resource, namespace, label selector, field selector, transform id)
// across controllers.
class InformerFactory {
 public:
  using ListerWatcherMaker =
      std::function<std::unique_ptr<ListerWatcher>(const InformerOptions& options)>;

  InformerFactory(Client& client, Clock& clock, metrics::Registry* registry = nullptr);
  InformerFactory(ListerWatcherMaker maker, Clock& clock, metrics::Registry* registry = nullptr);
  ~InformerFactory();  // StopAll()

  // The shared informer for these options (created on first request; started at once if the
  // factory has been started).
  std::shared_ptr<Informer> Get(InformerOptions options);
  void StartAll();
  void StopAll();
  [[nodiscard]] bool AllSynced() const;
  // Blocks until every informer (including ones added meanwhile) has synced, or `stop`.
  bool WaitForCacheSync(const std::stop_token& stop) const;

 private:
  ListerWatcherMaker maker_;
  Clock& clock_;
  metrics::Registry* registry_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Informer>> informers_;
  bool started_ = false;
};

// Installs a RequestObserver on `client` exporting tether_api_requests_total{verb,code} and
// tether_api_request_duration_seconds{verb}.
void ObserveApiRequests(Client& client, metrics::Registry* registry = nullptr);

}  // namespace tether::kube
