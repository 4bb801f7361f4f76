// WorkQueue: the rate-limited, deduplicating queue of object keys that feeds reconcilers, with
// client-go semantics:
//
//  * An item added several times before a worker picks it up is handed out once.
//  * An item is never handed to two workers at once: re-added while being processed, it is
//    handed out again only after Done().
//  * AddRateLimited() requeues after max(per-item exponential backoff, overall token bucket);
//    Forget() clears the item's failure count (call it after a successful reconcile).
//  * AddAfter()/AddAt() add later, using the Clock's timers; for an item with several pending
//    delayed adds the earliest deadline wins.
//  * ShutDown() makes Get() return nullopt at once in every worker (queued items are dropped:
//    reconcilers are level-triggered and a restarted controller relists).
//
// Metrics (labelled {name}): tether_workqueue_depth, tether_workqueue_adds_total,
// tether_workqueue_queue_duration_seconds, tether_workqueue_work_duration_seconds,
// tether_workqueue_retries_total.
//
// Thread-safety: all methods are safe from any thread, including Clock timer callbacks.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "metrics/metrics.h"

namespace tether::kube {

struct WorkQueueOptions {
  std::string name;  // metrics label; the controller name
  // Per-item exponential backoff for AddRateLimited: base * 2^failures, capped.
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
  // Overall token bucket shared by all items for AddRateLimited.
  double qps = 10;
  int burst = 100;
  metrics::Registry* registry = nullptr;  // null: metrics::Registry::Default()
};

class WorkQueue {
 public:
  WorkQueue(Clock& clock, WorkQueueOptions options);
  ~WorkQueue();  // shuts down and cancels pending timers
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, Duration delay);
  void AddAt(const std::string& key, TimePoint when);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  [[nodiscard]] int NumRequeues(const std::string& key) const;

  // Blocks until an item is available (returns it, marked as processing) or the queue is shut
  // down (returns nullopt).
  std::optional<std::string> Get();
  // Non-blocking Get: nullopt when nothing is ready.
  std::optional<std::string> TryGet();
  // Marks the item as no longer processing; requeues it if it was added meanwhile.
  void Done(const std::string& key);

  void ShutDown();
  [[nodiscard]] bool ShuttingDown() const;
  [[nodiscard]] std::size_t Len() const;         // ready items (not processing, not delayed)
  [[nodiscard]] std::size_t NumWaiting() const;  // items with a pending delayed add

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tether::kube
