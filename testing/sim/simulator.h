// Simulator: plays the built-in workload controllers (Deployment, StatefulSet, ReplicaSet,
// DaemonSet, Job, CronJob) and the Argo Rollouts controller against an API server that has no
// controllers of its own (the embedded test API server), so that workload status follows spec
// the way it does in a real cluster: scale a Deployment to 0 and its readyReplicas go to 0,
// scale it back and they come back, suspend a CronJob and it has no active Jobs, put tether's
// node selector on a DaemonSet and it is scheduled nowhere. Tests and the demo break a workload
// with SetReady() (or the sim.tether.dev/ready-replicas annotation) and heal it with
// ClearReady().
//
// Level-triggered and deterministic: each pass (SyncOnce) lists every simulated kind and writes
// the computed status (a merge patch on the `status` subresource) only where it differs. Start()
// runs passes in the background whenever the cluster reports a change (watches); tests that want
// full control call SyncOnce() themselves. Time only matters for condition timestamps, taken
// from the injected Clock (FakeClock works).
//
// The API is reached through the small Cluster seam: ClientCluster adapts a kube::Client (HTTP,
// watches), and tests may provide an in-memory implementation.
//
// Thread-safety: all Simulator methods are safe from any thread. ClientCluster is as
// thread-safe as the kube::Client it wraps.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "testing/sim/workload_status.h"

namespace tether::sim {

// What the simulator needs from an API server.
class Cluster {
 public:
  virtual ~Cluster() = default;
  // Every object of `r` in `ns` ("" = all namespaces). kNotFound when the resource is not
  // served (e.g. the Rollout CRD is not installed): the kind is then skipped.
  virtual Result<std::vector<Json>> List(const kube::Resource& r, const std::string& ns) = 0;
  // Applies an RFC 7386 merge patch to the object's `status` subresource.
  virtual Result<void> PatchStatus(const kube::Resource& r, const std::string& ns,
                                   const std::string& name, const Json& merge_patch) = 0;
  // Blocks until `stop`, calling `on_change` (from any thread) whenever an object of one of
  // `resources` may have changed, and once at the start. Retries broken watches by itself.
  virtual void WatchChanges(const std::vector<kube::Resource>& resources, const std::string& ns,
                            const std::function<void()>& on_change, std::stop_token stop) = 0;
};

// Cluster over a kube::Client: List, merge-patch of `status`, and one watch per resource
// (resuming from the last resourceVersion, relisting on expiry, retrying unserved kinds every
// `retry` so a CRD installed later is noticed).
class ClientCluster final : public Cluster {
 public:
  ClientCluster(kube::Client& client, Clock& clock, Duration retry = std::chrono::seconds(1))
      : client_(client), clock_(clock), retry_(retry) {}
  Result<std::vector<Json>> List(const kube::Resource& r, const std::string& ns) override;
  Result<void> PatchStatus(const kube::Resource& r, const std::string& ns, const std::string& name,
                           const Json& merge_patch) override;
  void WatchChanges(const std::vector<kube::Resource>& resources, const std::string& ns,
                    const std::function<void()>& on_change, std::stop_token stop) override;

 private:
  void WatchOne(const kube::Resource& r, const std::string& ns,
                const std::function<void()>& on_change, const std::stop_token& stop);
  kube::Client& client_;
  Clock& clock_;
  Duration retry_;
};

struct SimulatorOptions {
  std::string namespace_;  // "" = all namespaces
  std::vector<Node> nodes = DefaultNodes();
  std::vector<Kind> kinds = {std::begin(kAllKinds), std::end(kAllKinds)};
};

class Simulator {
 public:
  Simulator(Cluster& cluster, Clock& clock, SimulatorOptions options = {});
  ~Simulator();  // Stop()
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // One pass over every simulated kind. Returns the number of status writes; the first error
  // (other than an unserved kind) after finishing the pass.
  Result<int> SyncOnce();

  // Marks at most `ready` pods of the workload ready (0 = the workload is down); overrides the
  // annotation. Takes effect on the next pass (Start() triggers one).
  void SetReady(Kind kind, const std::string& ns, const std::string& name, std::int64_t ready);
  // Back to "every desired pod is ready" (or the annotation's cap).
  void ClearReady(Kind kind, const std::string& ns, const std::string& name);

  // Background operation: a pass at start and after every change the cluster reports or
  // SetReady/ClearReady call. Failed passes are retried after a short pause.
  void Start();
  void Stop();

  // Blocks until a pass that started after this call has completed without writing anything
  // (the cluster's statuses are settled), or `timeout` of real time elapses. Requires Start().
  bool WaitSettled(std::chrono::milliseconds timeout);

  // Total number of status writes so far.
  [[nodiscard]] std::int64_t writes() const;

 private:
  using Key = std::tuple<Kind, std::string, std::string>;
  void Loop(const std::stop_token& stop);
  void MarkDirty();

  Cluster& cluster_;
  Clock& clock_;
  SimulatorOptions options_;

  std::mutex sync_mu_;  // serialises passes
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<Key, std::int64_t> ready_overrides_;
  bool dirty_ = false;
  std::int64_t passes_started_ = 0;
  std::int64_t settled_pass_ = -1;  // number of the last pass that wrote nothing
  std::int64_t writes_ = 0;
  std::jthread loop_;
  std::jthread watcher_;
};

}  // namespace tether::sim
