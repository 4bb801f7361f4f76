// EventRecorder: records core/v1 Events about objects (what kubectl describe shows), without
// ever blocking the caller.
//
//   recorder.Record(ObjectReference::From(*dep), EventType::kWarning, "DependencyUnhealthy",
//                   "postgres has 0/3 ready replicas");
//
// Record() only enqueues (bounded; when full the event is dropped and counted in
// tether_events_dropped_total). A background thread writes: the first occurrence of an
// (object, type, reason, message) creates an Event with count 1; repeats patch that Event's
// count and lastTimestamp instead of creating new ones (so a flapping condition produces one
// Event, not thousands). If the aggregated Event is gone (TTL), a fresh one is created.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "metrics/metrics.h"

namespace tether::kube {

struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;

  // From an object's apiVersion, kind and metadata.
  static ObjectReference From(const Json& object);
  [[nodiscard]] Json ToJson() const;
};

enum class EventType { kNormal, kWarning };

// The Event I/O seam.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Result<Json> Create(const std::string& ns, const Json& event) = 0;
  // JSON merge patch of an existing Event.
  virtual Result<Json> Patch(const std::string& ns, const std::string& name,
                             const Json& merge_patch) = 0;
};

std::unique_ptr<EventSink> MakeClientEventSink(Client& client);

struct EventRecorderOptions {
  std::string component = "tether";  // source.component / reportingComponent
  std::string host;                  // source.host / reportingInstance (pod name)
  std::size_t queue_capacity = 1000;
  std::size_t cache_size = 4096;  // aggregation entries remembered (LRU)
  metrics::Registry* registry = nullptr;
};

class EventRecorder {
 public:
  EventRecorder(std::unique_ptr<EventSink> sink, Clock& clock, EventRecorderOptions options);
  ~EventRecorder();  // Stop()

  void Start();  // idempotent
  // Writes what is already queued, then stops the writer thread.
  void Stop();

  // Never blocks on I/O. Messages longer than 1024 bytes are truncated.
  void Record(const ObjectReference& object, EventType type, std::string reason,
              std::string message);

  // Blocks until everything recorded so far has been written (or attempted). For tests and
  // shutdown; returns false if the writer is not running.
  bool Flush();

 private:
  struct Pending {
    ObjectReference ref;
    EventType type;
    std::string reason;
    std::string message;
    TimePoint at;
  };
  struct Aggregate {
    std::string ns;
    std::string name;
    std::int64_t count = 0;
    std::list<std::string>::iterator lru;
  };

  void Run(const std::stop_token& stop);
  void Write(const Pending& p);
  Result<void> CreateEvent(const Pending& p, const std::string& key);
  std::uint64_t last_name_suffix_ = 0;  // only touched by the writer thread

  std::unique_ptr<EventSink> sink_;
  Clock& clock_;
  EventRecorderOptions options_;

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::condition_variable idle_cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  std::jthread thread_;

  // Writer-thread only.
  std::unordered_map<std::string, Aggregate> cache_;
  std::list<std::string> lru_;  // front: most recent

  std::shared_ptr<metrics::Counter> dropped_;
  std::shared_ptr<metrics::Counter> failed_;
};

}  // namespace tether::kube
