// Explanations for `tether why`: turns what is stored in the cluster (WorkloadDependency spec
// and status, the dependent's durable-record annotations) into a short text a person can act
// on — which WorkloadDependency governs a workload, its phase and since when, each dependency's
// state and since when, and what tether will do next and at what time ("will restore
// Deployment/payments to 3 replicas at 03:01:30Z (in 42s) if Deployment/database stays
// healthy").
//
// Pure: the caller reads the objects (see src/cli/why_command.cc); nothing here does I/O.
// Stateless functions; thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace tether::deps {

// Explains a workload of `kind` ("Deployment", ...): the WorkloadDependencies in
// `workload_dependencies` whose dependent it is (each explained in full) and those that depend
// on it. `workload` is the object (null when it does not exist: the text says so).
std::string ExplainWorkload(std::string_view kind, std::string_view ns, std::string_view name,
                            const nlohmann::json& workload,
                            const std::vector<nlohmann::json>& workload_dependencies,
                            TimePoint now);

// True when some WorkloadDependency names the workload "Kind/namespace/name" as its dependent
// or as a dependency.
bool IsReferenced(std::string_view workload_key,
                  const std::vector<nlohmann::json>& workload_dependencies);

// Explains one WorkloadDependency from its side. `dependent` is the dependent object (null when
// it does not exist).
std::string ExplainWorkloadDependency(const nlohmann::json& workload_dependency,
                                      const nlohmann::json& dependent, TimePoint now);

// "03:01:30Z (in 42s)" when `t` is on the same UTC day as `now`, else the full RFC 3339 time;
// "ago" for past instants.
std::string FormatWhen(TimePoint t, TimePoint now);

}  // namespace tether::deps
