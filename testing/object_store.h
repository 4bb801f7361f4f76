// ObjectStore: the embedded API server's etcd. An in-memory multi-version store of JSON objects
// with one global, monotonically increasing resourceVersion, point-in-time lists (for paging and
// resourceVersionMatch=Exact), an event history for watches, and compaction (after which older
// versions and events are gone: lists/watches from before it get 410 Expired).
//
// Keys are (group-resource, namespace, name). The store knows nothing of API semantics beyond
// metadata.resourceVersion, which it stamps on every write.
//
// Thread-safety: all methods are safe from any thread; Mutate callbacks run under the store
// lock (they must not call back into the store).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "testing/api_status.h"

namespace tether::testing {

struct StoredEvent {
  std::int64_t rv = 0;
  std::string gr;    // group-resource: "deployments.apps"
  std::string type;  // ADDED, MODIFIED, DELETED
  Json object;       // state after the event (for DELETED: the last state, stamped with rv)
  Json prev;         // state before (null for ADDED)
};

// What a Mutate callback wants done.
struct Mutation {
  enum class Op { kNone, kPut, kDelete };
  Op op = Op::kNone;
  Json object;  // kPut: the new object; kNone: returned as is; kDelete: last state
  static Mutation None(Json current) { return {Op::kNone, std::move(current)}; }
  static Mutation Put(Json obj) { return {Op::kPut, std::move(obj)}; }
  static Mutation Delete(Json last) { return {Op::kDelete, std::move(last)}; }
};

class ObjectStore {
 public:
  // max_events: history kept before automatic compaction keeps the newest half.
  explicit ObjectStore(std::size_t max_events = 200000);

  [[nodiscard]] std::int64_t current_rv() const;
  [[nodiscard]] std::int64_t compacted_rv() const;

  // Atomically: fn(current object or nullptr) decides; kPut stores with the next
  // resourceVersion, kDelete removes; the stored (or returned) object comes back.
  using MutateFn = std::function<ApiResult<Mutation>(const Json* current)>;
  ApiResult<Json> Mutate(const std::string& gr, const std::string& ns, const std::string& name,
                         const MutateFn& fn);

  [[nodiscard]] std::optional<Json> Get(const std::string& gr, const std::string& ns,
                                        const std::string& name) const;

  struct ListPage {
    std::vector<Json> items;
    std::int64_t rv = 0;                    // the snapshot's resourceVersion
    std::string last_key;                   // key of the last item when more remain, else ""
    std::optional<std::int64_t> remaining;  // items after this page (no filter only)
  };
  using Filter = std::function<bool(const Json&)>;
  // Objects of `gr` in `ns` ("" = all namespaces) as of `at_rv` (0 = now), in key order, after
  // key `start_after` (exclusive; "" = from the start), at most `limit` (0 = all) that pass
  // `filter` (may be null). 410 Expired when at_rv is older than the compaction point.
  ApiResult<ListPage> List(const std::string& gr, const std::string& ns, std::int64_t at_rv,
                           const std::string& start_after, std::int64_t limit,
                           const Filter& filter) const;

  // The list key of an object: "ns/name" or "name" (cluster-scoped).
  static std::string Key(const std::string& ns, const std::string& name);

  struct EventBatch {
    std::vector<StoredEvent> events;
    std::int64_t up_to = 0;  // the store's resourceVersion when the batch was taken
  };
  // Events of `gr` with rv > after, taken atomically with the current resourceVersion (so a
  // bookmark at `up_to` never skips an undelivered event). 410 Expired when events after
  // `after` were compacted away.
  ApiResult<EventBatch> EventsAfter(const std::string& gr, std::int64_t after) const;

  // Blocks until current_rv() > rv, the deadline passes or stop is requested.
  void WaitForChange(std::int64_t rv, std::chrono::steady_clock::time_point deadline,
                     const std::stop_token& stop) const;
  // Wakes all WaitForChange callers (e.g. to make watchers notice a drop request).
  void NotifyAll() const;

  // Forgets versions and events at or before `rv` (0 = the current resourceVersion).
  void Compact(std::int64_t rv = 0);

  // Removes every object of `gr` (recording DELETED events), e.g. when its CRD goes away.
  void DeleteAll(const std::string& gr);
  // Names of all live objects of `gr` in `ns` ("" = all).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> Keys(const std::string& gr,
                                                                      const std::string& ns) const;

 private:
  struct Version {
    std::int64_t rv;
    std::optional<Json> object;  // nullopt: deleted
  };
  using History = std::vector<Version>;
  static const Json* VersionAt(const History& h, std::int64_t rv);
  void CompactLocked(std::int64_t rv);
  void RecordLocked(StoredEvent e);

  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  std::int64_t rv_ = 1;
  std::int64_t compacted_ = 0;
  std::size_t max_events_;
  std::map<std::string, std::map<std::string, History>> data_;  // gr -> key -> versions
  std::deque<StoredEvent> events_;
};

}  // namespace tether::testing
