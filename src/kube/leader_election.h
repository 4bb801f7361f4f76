// LeaderElector: leader election on a coordination.k8s.io/v1 Lease with client-go semantics.
//
// A candidate acquires the Lease when it does not exist, has no holder, or its record
// (holderIdentity, renewTime, leaseTransitions) has not changed for leaseDurationSeconds as
// observed on the candidate's own clock (so clock skew between replicas does not matter). The
// leader renews every retry_period; if it cannot renew for renew_deadline (< lease_duration) it
// stops leading, before any standby may take over: two replicas never act at once. All writes
// carry the observed resourceVersion (optimistic concurrency; a 409 just means "try later").
// On a clean stop the leader releases the Lease (empty holder) so a standby takes over at once.
//
// The election is a state machine advanced by Step() at the times it asks for; Run() drives it
// on the calling thread with the injected Clock. Callbacks run on that thread, must return
// quickly, and must not call back into the elector.
//
// Metric: tether_leader{lease} (1 while leading, else 0).
//
// Thread-safety: IsLeader()/Leader() are safe from any thread; Step/Run/Release must be called
// from one thread at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "metrics/metrics.h"

namespace tether::kube {

// The Lease I/O seam (a Client adapter in production, an in-memory model in tests).
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  virtual Result<Json> Get(const std::string& ns, const std::string& name) = 0;
  virtual Result<Json> Create(const std::string& ns, const Json& lease) = 0;
  // PUT with metadata.resourceVersion: kConflict when stale.
  virtual Result<Json> Update(const std::string& ns, const Json& lease) = 0;
};

std::unique_ptr<LeaseStore> MakeClientLeaseStore(Client& client);

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per replica, e.g. the pod name
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  bool release_on_cancel = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
  metrics::Registry* registry = nullptr;  // null: metrics::Registry::Default()
  std::uint64_t seed = 0;                 // retry jitter; 0: random
};

// The Lease spec as tether reads and writes it. Times are MicroTime on the wire.
struct LeaseRecord {
  std::string holder;
  int lease_duration_seconds = 0;
  std::optional<TimePoint> acquire_time;
  std::optional<TimePoint> renew_time;
  int lease_transitions = 0;
};

LeaseRecord ParseLeaseRecord(const Json& lease);
Json LeaseRecordToSpec(const LeaseRecord& record);
// RFC 3339 with microseconds and Z, as metav1.MicroTime requires.
std::string FormatMicroTime(TimePoint t);

// Checks durations (lease > renew deadline > retry period > 0) and names.
Result<void> ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

class LeaderElector {
 public:
  LeaderElector(std::unique_ptr<LeaseStore> store, Clock& clock, LeaderElectionConfig config);
  ~LeaderElector();

  // Participates until `stop` (releasing the Lease if leading and release_on_cancel) or until
  // leadership is lost (returns false then; callers usually exit). Returns true on a clean stop.
  bool Run(const std::stop_token& stop);

  // One attempt at Now(): acquire (candidate) or renew (leader), firing callbacks on changes.
  // Returns when the next attempt is due.
  TimePoint Step();
  // Stops leading (callback fires) and, if we hold the Lease, hands it back.
  void Release();

  [[nodiscard]] bool IsLeader() const { return leading_.load(); }
  // The last observed holder ("" when unknown or released).
  [[nodiscard]] std::string Leader() const;
  [[nodiscard]] const LeaderElectionConfig& config() const { return config_; }

 private:
  bool TryAcquireOrRenew(TimePoint now);
  void ObserveHolder(const std::string& holder);
  void StopLeading();

  std::unique_ptr<LeaseStore> store_;
  Clock& clock_;
  LeaderElectionConfig config_;
  std::mt19937_64 rng_;
  std::atomic<bool> leading_{false};
  TimePoint last_renew_{};

  // Last observed Lease: the record, its resourceVersion, and when (our clock) it last changed.
  std::optional<LeaseRecord> observed_;
  std::string observed_rv_;
  TimePoint observed_time_{};

  mutable std::mutex leader_mu_;
  std::string leader_;
  std::shared_ptr<metrics::Gauge> gauge_;
};

}  // namespace tether::kube
