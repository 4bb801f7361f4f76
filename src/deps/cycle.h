// Dependency-graph cycle detection across WorkloadDependencies (SPEC §2.6). Nodes are workloads
// keyed "Kind/namespace/name" (a Deployment and a StatefulSet with the same name are different
// nodes); each WorkloadDependency adds edges dependent -> dependency. Mutual pairs (2-cycles)
// are allowed (the CoSuspended rules resolve them); a WorkloadDependency that closes a cycle of
// three or more workloads is reported with the cycle's path.
//
// Which WorkloadDependency "closes" a cycle is deterministic: entries are added in order of
// creation (then namespace/name), and the first one whose edge completes a cycle is flagged; its
// edges are left out of the graph, so it does not flag later entries in its stead.
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "deps/types.h"

namespace tether::deps {

struct GraphEntry {
  std::string wd_key;                   // "<namespace>/<name>"
  std::optional<TimePoint> created;     // metadata.creationTimestamp (absent sorts last)
  std::string dependent;                // "Kind/namespace/name"
  std::vector<std::string> depends_on;  // workload/object keys; Prometheus queries excluded
};

GraphEntry GraphEntryFor(std::string wd_key, const Spec& spec,
                         std::optional<TimePoint> created = std::nullopt);

// wd_key -> cycle path ("Deployment/ns/a -> Deployment/ns/b -> Deployment/ns/c ->
// Deployment/ns/a") for every WorkloadDependency that closes a cycle of >= 3 workloads.
std::map<std::string, std::string> FindCycles(std::vector<GraphEntry> entries);

// For admission: the path of the cycle `candidate` would close given the existing entries (the
// candidate replaces an existing entry with the same wd_key), or nullopt.
std::optional<std::string> WouldCloseCycle(std::vector<GraphEntry> existing,
                                           const GraphEntry& candidate);

}  // namespace tether::deps
