// Server-side printing for the embedded API server: the meta.k8s.io/v1 Table that kube-apiserver
// returns when a client asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what
// `kubectl get` sends). Custom resources get a Name column plus their CRD's
// additionalPrinterColumns; the built-in kinds tether works with get kubectl's familiar columns
// (Pods, Deployments, StatefulSets, ReplicaSets, DaemonSets, Jobs, CronJobs, Namespaces); any
// other kind gets Name and Age.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "testing/api_status.h"
#include "testing/resource_registry.h"

namespace tether::testing {

// True when an Accept header asks for a Table.
bool WantsTable(std::string_view accept);

// The Table for `objects` (as served). `include_object` is the includeObject parameter
// ("Metadata" by default → PartialObjectMetadata rows; "Object" → whole objects; "None").
Json ToTable(const ResourceType& type, const std::vector<Json>& objects,
             const std::string& resource_version, const std::string& include_object, TimePoint now);

// kubectl's age format ("5s", "3m20s", "4h", "2d3h", ...) for the time since `then`.
std::string HumanDuration(Duration d);

// The value at a CRD printer-column JSONPath (".status.phase", ".spec.items[0].name"), or null.
Json ColumnValue(const Json& object, std::string_view json_path);

}  // namespace tether::testing
