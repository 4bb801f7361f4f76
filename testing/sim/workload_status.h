// Workload status simulation, the pure half of the workload simulator: given a workload object
// (Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, CronJob, Argo Rollout), the simulated
// nodes and how many of its pods should count as ready, computes the `status` that the
// built-in Kubernetes controller (or the Argo Rollouts controller) would write, with the field
// names and omitempty habits of the real controllers.
//
// No I/O; the Simulator (simulator.h) reads objects, calls ComputeStatus and writes the result.
// Pure functions and value types; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "kube/resource.h"

namespace tether::sim {

using Json = nlohmann::json;

// Kinds the simulator plays the controller for.
enum class Kind { kDeployment, kStatefulSet, kReplicaSet, kDaemonSet, kJob, kCronJob, kRollout };

inline constexpr Kind kAllKinds[] = {Kind::kDeployment, Kind::kStatefulSet, Kind::kReplicaSet,
                                     Kind::kDaemonSet,  Kind::kJob,         Kind::kCronJob,
                                     Kind::kRollout};

std::string_view KindName(Kind kind);  // "Deployment"
// Accepts the kind ("Deployment"), case-insensitively, or its plural ("deployments").
std::optional<Kind> ParseKind(std::string_view s);
// The REST resource of the kind (Rollout: argoproj.io/v1alpha1 rollouts).
kube::Resource ResourceOf(Kind kind);

// Annotation on a workload capping how many of its pods are ready (e.g. "0" = all pods
// unready). Lets a demo or a kubectl user break a workload without code. A Simulator override
// (SetReady) takes precedence.
inline constexpr std::string_view kReadyAnnotation = "sim.tether.dev/ready-replicas";
// Annotation on a Rollout forcing its status.phase (e.g. "Progressing"), to exercise the
// deferral of suspensions while a rollout is in progress.
inline constexpr std::string_view kRolloutPhaseAnnotation = "sim.tether.dev/rollout-phase";

struct Node {
  std::string name;
  std::map<std::string, std::string> labels;
};

// One schedulable Linux node, "sim-node-1".
std::vector<Node> DefaultNodes();

struct StatusInput {
  // Ready pods cap; nullopt: every desired pod is ready.
  std::optional<std::int64_t> ready_cap;
  std::vector<Node> nodes = DefaultNodes();
  // For lastTransitionTime of new or changed conditions (unchanged ones keep theirs).
  TimePoint now;
};

// The ready-pod cap for `object`: `override_cap` if set, else a valid kReadyAnnotation, else
// nullopt.
std::optional<std::int64_t> ReadyCap(const Json& object, std::optional<std::int64_t> override_cap);

// The status the workload's controller would publish now. `object` is the whole workload as
// served by the API server (its current status is used to keep condition timestamps stable).
Json ComputeStatus(Kind kind, const Json& object, const StatusInput& in);

// RFC 7386 merge patch turning `current` into `desired` at the top level of a status (keys
// missing from `desired` become null); null when nothing differs.
Json StatusMergePatch(const Json& current, const Json& desired);

}  // namespace tether::sim
