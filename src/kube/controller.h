// Controller: N worker threads draining one WorkQueue of object keys into a Reconciler.
// Manager: owns the informers and controllers of one process, starts them in the right order
// (caches synced first, then controllers, only while leader when election is enabled) and
// reports health and readiness for /healthz and /readyz.
//
// A reconciler is level-triggered: given a key ("namespace/name" or "name") it reads the cache,
// converges the world, and answers
//   * ReconcileResult::Done()             - forget the key's failures;
//   * ReconcileResult::RequeueAfter(d)    - look again after d (windows, deadlines, polling);
//   * an Error                            - rate-limited requeue (per-key exponential backoff
//                                           plus the queue's token bucket; Retry-After honoured).
// Exceptions escaping a reconciler are caught and treated as errors.
//
// Metrics: tether_reconcile_total{controller,result} (result: success, requeue_after, error),
// tether_reconcile_duration_seconds{controller}.
//
// Thread-safety: Enqueue/queue() are safe from any thread (typically informer handlers).
// Start/Stop must not race each other. A stopped controller cannot be restarted.
// Manager: AddController/informers() before Run(); Healthy/Ready/IsLeader from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/workqueue.h"
#include "metrics/metrics.h"

namespace tether::kube {

struct ReconcileResult {
  std::optional<Duration> requeue_after;

  static ReconcileResult Done() { return {}; }
  static ReconcileResult RequeueAfter(Duration d) { return {d}; }
};

using Reconciler = std::function<Result<ReconcileResult>(const std::string& key)>;

struct ControllerOptions {
  std::string name;                       // metrics label and log field, e.g. "workloaddependency"
  int workers = 1;                        // --workers
  WorkQueueOptions queue;                 // queue.name/registry default to the controller's
  metrics::Registry* registry = nullptr;  // null: metrics::Registry::Default()
};

class Controller {
 public:
  Controller(Clock& clock, ControllerOptions options, Reconciler reconciler);
  ~Controller();  // Stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  [[nodiscard]] const std::string& name() const { return options_.name; }
  WorkQueue& queue() { return queue_; }
  void Enqueue(const std::string& key) { queue_.Add(key); }

  // Spawns the worker threads (idempotent). Keys enqueued before Start wait in the queue.
  void Start();
  // Shuts the queue down and joins the workers (waits for in-flight reconciles).
  void Stop();
  [[nodiscard]] bool Running() const { return running_.load(); }

  // Takes one ready key and reconciles it on the calling thread; false if none was ready.
  // For tests and for single-threaded drivers.
  bool ProcessNextReady();

 private:
  void Worker();
  void Process(const std::string& key);

  Clock& clock_;
  ControllerOptions options_;
  Reconciler reconciler_;
  WorkQueue queue_;
  std::vector<std::jthread> workers_;
  std::atomic<bool> running_{false};
  bool stopped_ = false;
  std::shared_ptr<metrics::Counter> success_;
  std::shared_ptr<metrics::Counter> requeue_;
  std::shared_ptr<metrics::Counter> error_;
  std::shared_ptr<metrics::Histogram> duration_;
};

struct ManagerOptions {
  bool leader_election = false;
  LeaderElectionConfig leader_election_config;  // callbacks are set by the Manager
  metrics::Registry* registry = nullptr;        // null: metrics::Registry::Default()
};

class Manager {
 public:
  // `leases` may be null when leader election is disabled.
  Manager(Clock& clock, std::unique_ptr<InformerFactory> informers,
          std::unique_ptr<LeaseStore> leases, ManagerOptions options);
  // Production wiring on a Client: informers, Lease store and API request metrics.
  static std::unique_ptr<Manager> ForClient(Client& client, Clock& clock, ManagerOptions options);
  ~Manager();

  InformerFactory& informers() { return *informers_; }
  // Registers a controller (before Run). Its queue accepts keys at once (handlers may enqueue
  // while caches sync or while standing by); workers start only when the Manager runs them.
  Controller& AddController(ControllerOptions options, Reconciler reconciler);

  // Starts informers, waits for every cache to sync, then runs the controllers — after
  // winning the election if enabled. Blocks until `stop` (returns success, releasing the Lease)
  // or until leadership is lost (returns kUnavailable: the process should exit and restart so
  // that nothing keeps acting).
  Result<void> Run(const std::stop_token& stop);

  // /healthz: false once leadership was lost or Run failed.
  [[nodiscard]] bool Healthy() const { return healthy_.load(); }
  // /readyz: caches synced and (without election, or) a leader is known.
  [[nodiscard]] bool Ready() const;
  [[nodiscard]] bool IsLeader() const;
  [[nodiscard]] bool ControllersRunning() const { return controllers_running_.load(); }

 private:
  void StartControllers();
  void StopControllers();

  Clock& clock_;
  std::unique_ptr<InformerFactory> informers_;
  std::unique_ptr<LeaseStore> leases_;
  ManagerOptions options_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::unique_ptr<LeaderElector> elector_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> healthy_{true};
  std::atomic<bool> controllers_running_{false};
};

}  // namespace tether::kube
