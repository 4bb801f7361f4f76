// DependencyController: the WorkloadDependency controller — the I/O shell around the pure
// decision logic of state_machine.h (SPEC §2).
//
// It watches WorkloadDependencies (sharded by namespace list / excluded namespaces / label
// selector), the workloads they name (shared informers for Deployments, StatefulSets,
// ReplicaSets, DaemonSets, CronJobs, Jobs, and Argo Rollouts once discovery finds the CRD) and
// any other kind named by a CEL-expression dependency (discovery + on-demand informers). A
// reverse index maps every referenced object to the WorkloadDependencies that name it, so a
// change enqueues exactly those. Prometheus dependencies are polled off the reconcile path every
// `prometheus_interval`; their last answer is cached.
//
// Reconcile of one WorkloadDependency: read caches -> DecideInput -> Decide() -> run the patch
// steps in order -> Events -> status (status subresource, only when changed) -> notification
// (async, never blocking) -> arm a queue timer at the decision's next deadline (exact, no
// polling). A finalizer guarantees the dependent is restored whatever the phase when the
// WorkloadDependency is deleted. Unobservable dependencies (cache not synced, kind not served,
// Prometheus failing) are Unknown and never cause a suspension.
//
// Lifecycle: construct, then StartCaches() (warm informers; what a leader-election standby
// runs) and/or Start() (caches + workers: act). Stop() is prompt and idempotent; the object
// must outlive neither its Clock, Client nor Registry.
//
// Thread-safety: all public methods are safe from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "deps/notifier.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "metrics/metrics.h"

namespace tether::deps {

struct ControllerOptions {
  Clock* clock = nullptr;                      // required
  kube::Client* client = nullptr;              // required
  kube::InformerFactory* informers = nullptr;  // optional shared factory (else a private one)
  metrics::Registry* registry = nullptr;       // null: metrics::Registry::Default()

  // Sharding (--namespaces, --exclude-namespaces, --selector): which WorkloadDependencies this
  // controller reconciles. Referenced workloads are watched in all namespaces.
  std::vector<std::string> namespaces;  // empty: all namespaces
  std::vector<std::string> exclude_namespaces;
  std::string label_selector;

  int workers = 2;                                    // --workers
  Duration resync_period = std::chrono::minutes(10);  // safety net only

  // Prometheus dependencies. With an empty URL they are Unknown ("no --prometheus-url").
  std::string prometheus_url;
  Duration prometheus_interval = std::chrono::seconds(15);
  Duration prometheus_timeout = std::chrono::seconds(10);

  // How often kinds that are not served yet (Argo Rollouts CRD, CRDs named in expressions) are
  // looked up again through discovery.
  Duration discovery_interval = std::chrono::seconds(30);

  std::string finalizer = "tether.dev/restore";
  std::string event_component = "tether-controller";  // Event source / reportingComponent
  std::string instance = "tether";                    // Event reportingInstance (pod name)

  NotifierOptions notifier;  // delivery retries/timeouts (clock and registry are filled in)
};

class DependencyController {
 public:
  // Validates the options (clock and client are required; a bad Prometheus URL is an error).
  static Result<std::unique_ptr<DependencyController>> Create(ControllerOptions options);
  ~DependencyController();  // Stop()
  DependencyController(const DependencyController&) = delete;
  DependencyController& operator=(const DependencyController&) = delete;

  // Starts the informers and the Prometheus poller; no reconciles, no writes.
  void StartCaches();
  // StartCaches() plus the workers and the periodic resync: the controller acts.
  void Start();
  // Stops workers, pollers, timers and (private) informers. Pending notifications are
  // abandoned (status.lastNotifiedPhase makes delivery at-least-once across restarts).
  void Stop();

  // True once the WorkloadDependency and workload caches have synced (for /readyz).
  [[nodiscard]] bool HasSynced() const;
  // Enqueues every WorkloadDependency (what the periodic resync does).
  void EnqueueAll();

  // The WorkloadDependency resource (tether.dev/v1alpha1 workloaddependencies).
  static kube::Resource WorkloadDependencies();

  struct Impl;

 private:
  explicit DependencyController(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether::deps
