// GateController: removes tether's scheduling gates from pods once their conditions hold
// (SPEC §3). It caches only unscheduled pods (field selector spec.nodeName=) that still carry a
// gate with a configured prefix (the informer transform drops every other pod), observes each
// referenced kind through ONE shared watch per resource type (all namespaces / cluster scope),
// started on demand through discovery (CRDs installed later included) and stopped when no gate
// references it, and keeps an index from referenced object to waiting pods. A change of a
// referenced object or of the pod re-evaluates that pod; conditions calling now() are
// re-evaluated every `time_resync` on the injected Clock. All satisfied gates of a pod go in one
// JSON patch with `test` guards (re-read and retried when the pod changed meanwhile).
//
// A gate is never opened on data that may be stale: while a referenced watch is not live
// (broken, relisting) its gates are held, and reported (GateWatchNotReady) after `error_retry`;
// other satisfied gates of the pod wait at most that long to share the patch. A watch failing
// with 404 (its CRD deleted) has its kind re-resolved: a kind that is gone is reported
// (GateReferenceUnknown) and its watch stops; a CRD created again gets a fresh watch.
//
// Errors (bad annotation, CEL, forbidden reference, unknown kind) keep the gate and produce one
// Warning Event per distinct problem; removal produces a Normal `GateRemoved` Event with the wait.
// Metrics: tether_gated_pods{namespace}, tether_gate_wait_seconds,
// tether_gate_evaluations_total{result}, tether_gate_watches.
//
// Thread-safety: Start/Stop from one owner thread; every other method is safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "gates/condition.h"
#include "kube/client.h"
#include "kube/event_recorder.h"
#include "metrics/metrics.h"

namespace tether::gates {

struct GateControllerOptions {
  Clock* clock = nullptr;                                            // required
  kube::Client* client = nullptr;                                    // required
  std::vector<std::string> prefixes = {std::string(kTetherPrefix)};  // --gate-prefixes
  ReferencePolicy policy = ReferencePolicy::kSameNamespace;          // --gate-reference-policy
  Duration time_resync = std::chrono::seconds(1);  // --gate-time-resync (now() conditions)
  // Re-check of gates blocked by something outside tether's watches (kind not served yet,
  // failed SubjectAccessReview, API errors).
  Duration error_retry = std::chrono::seconds(10);
  Duration access_review_ttl = std::chrono::seconds(60);
  int workers = 2;
  int64_t cost_budget = 1'000'000;
  metrics::Registry* registry = nullptr;    // null: metrics::Registry::Default()
  kube::EventRecorder* recorder = nullptr;  // null: the controller runs its own
};

class GateController {
 public:
  // Validates the options (clock, client, prefixes).
  static Result<std::unique_ptr<GateController>> Create(GateControllerOptions options);
  ~GateController();  // Stop()
  GateController(const GateController&) = delete;
  GateController& operator=(const GateController&) = delete;

  void Start();  // idempotent
  void Stop();   // prompt; joins every thread and stops every watch

  // True once the pod cache has synced.
  [[nodiscard]] bool HasSynced() const;
  // Number of shared watches on referenced resource types currently running.
  [[nodiscard]] std::size_t WatchCount() const;
  // Number of pods in the cache (gated pods only).
  [[nodiscard]] std::size_t CachedPods() const;

 private:
  struct Impl;
  explicit GateController(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether::gates
