// Dependency graph of WorkloadDependencies, for `tether graph` (and the dashboard): nodes are
// workloads (Kind/namespace/name), object references and Prometheus queries; an edge runs from
// a dependent to each of its dependencies, labelled with the dependency's current state. Each
// node carries a phase: for a dependent, the phase of the WorkloadDependency governing it (the
// most severe one if several do); for a node that is only a dependency, the state tether last
// observed for it. Renders as an indented text tree, Graphviz DOT or Mermaid.
//
// Pure: built from the WorkloadDependency objects as read from the API server (spec and
// status). Value types and stateless functions; thread-safe.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace tether::deps {

struct GraphNode {
  std::string key;   // "Deployment/shop/payments", "prometheus: up == 1"
  std::string kind;  // "Deployment" ("" for Prometheus queries)
  std::string namespace_;
  std::string name;
  // Phase of the governing WorkloadDependency (dependents) or observed dependency state
  // (Healthy/Unhealthy/CoSuspended/NotFound/Unknown); "" when nothing is known yet.
  std::string phase;
  std::string message;                   // status message behind the phase, if any
  std::vector<std::string> governed_by;  // "namespace/name" of WorkloadDependencies
};

struct GraphEdge {
  std::string from;   // dependent key
  std::string to;     // dependency key
  std::string wd;     // "namespace/name" of the WorkloadDependency declaring it
  std::string state;  // dependency state from the WorkloadDependency's status ("" unknown)
  std::string message;
};

struct Graph {
  std::map<std::string, GraphNode> nodes;  // by key
  std::vector<GraphEdge> edges;            // in WorkloadDependency then dependsOn order
  // WorkloadDependencies that could not be drawn ("shop/x: <problem>").
  std::vector<std::string> problems;
  // True when every node lives in one namespace (labels then omit it).
  bool single_namespace = true;
};

// Builds the graph from WorkloadDependency objects (whole objects: metadata, spec, status).
Graph BuildGraph(const std::vector<nlohmann::json>& workload_dependencies);

enum class GraphFormat { kText, kDot, kMermaid };
// "text", "dot", "mermaid" (kInvalid error naming the choices otherwise).
Result<GraphFormat> ParseGraphFormat(std::string_view s);

// Text tree, roots first (workloads nothing depends on), e.g.
//   Deployment/checkout  [Suspended]
//   └─ needs Deployment/payments  [Suspended]
//      └─ needs Deployment/database  [Unhealthy: 0/3 ready (< 80%)]
std::string RenderText(const Graph& graph);
std::string RenderDot(const Graph& graph);
std::string RenderMermaid(const Graph& graph);
std::string Render(const Graph& graph, GraphFormat format);

// Fill colour used for a phase or state in DOT/Mermaid (and by the dashboard).
std::string_view PhaseColor(std::string_view phase_or_state);

}  // namespace tether::deps
