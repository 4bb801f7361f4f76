#include "deps/graph.h"

#include <fmt/format.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "deps/types.h"

namespace tether::deps {
namespace {

using Json = nlohmann::json;

int Severity(std::string_view p) {
  if (p == "Suspended" || p == "Unhealthy") return 6;
  if (p == "Released" || p == "NotFound") return 5;
  if (p == "Degraded" || p == "CoSuspended") return 4;
  if (p == "Observed") return 3;
  if (p == "Unknown") return 2;
  if (p == "Paused") return 1;
  if (p == "Healthy") return 0;
  return -1;
}

// Keeps the more severe of two phases/states.
void Worsen(std::string& current, std::string& current_message, const std::string& candidate,
            const std::string& message) {
  if (Severity(candidate) > Severity(current)) {
    current = candidate;
    current_message = message;
  }
}

GraphNode& NodeFor(Graph& g, const std::string& key, const std::string& kind, const std::string& ns,
                   const std::string& name) {
  auto [it, inserted] = g.nodes.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    it->second.kind = kind;
    it->second.namespace_ = ns;
    it->second.name = name;
  }
  return it->second;
}

std::string Label(const Graph& g, const GraphNode& n) {
  if (n.kind.empty()) return n.key;
  if (g.single_namespace) return n.kind + "/" + n.name;
  return n.key;
}

std::string PhaseText(const GraphNode& n) {
  if (n.phase.empty()) return "no status yet";
  if (n.message.empty() || n.phase == "Healthy") return n.phase;
  return n.phase + ": " + n.message;
}

std::string DotEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string MermaidEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "#quot;";
        break;
      case '<':
        out += "#lt;";
        break;
      case '>':
        out += "#gt;";
        break;
      case '|':
        out += "#124;";
        break;
      case '\n':
        out += "<br/>";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string CssClass(std::string_view phase) {
  if (phase.empty()) return "none";
  std::string out(phase);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void AddWorkloadDependency(Graph& g, const Json& wd, std::set<std::string>& namespaces) {
  {
    const Json empty = Json::object();
    const Json& meta =
        wd.contains("metadata") && wd["metadata"].is_object() ? wd["metadata"] : empty;
    std::string wd_ns = meta.value("namespace", "");
    std::string wd_key = wd_ns + "/" + meta.value("name", "");
    auto spec = DecodeSpec(wd.contains("spec") ? wd["spec"] : Json(), wd_ns);
    if (!spec) {
      g.problems.push_back(
          fmt::format("WorkloadDependency {}: invalid spec: {}", wd_key, spec.error().message));
      return;
    }
    Status status = DecodeStatus(wd.contains("status") ? wd["status"] : Json());
    std::string phase = status.phase ? std::string(PhaseName(*status.phase)) : "";

    const WorkloadRef& dep_ref = spec->dependent;
    GraphNode& dependent = NodeFor(g, dep_ref.Key(), std::string(KindName(dep_ref.kind)),
                                   dep_ref.namespace_, dep_ref.name);
    dependent.governed_by.push_back(wd_key);
    Worsen(dependent.phase, dependent.message, phase, status.message);
    namespaces.insert(dep_ref.namespace_);

    for (std::size_t i = 0; i < spec->depends_on.size(); ++i) {
      const Dependency& d = spec->depends_on[i];
      std::string key = d.Ref();
      bool is_query = d.type == Dependency::Type::kPrometheus;
      NodeFor(g, key, is_query ? "" : d.kind, is_query ? "" : d.namespace_, is_query ? "" : d.name);
      if (!is_query) namespaces.insert(d.namespace_);
      GraphEdge e;
      e.from = dep_ref.Key();
      e.to = key;
      e.wd = wd_key;
      if (i < status.dependencies.size()) {
        e.state = std::string(DepStateName(status.dependencies[i].state));
        e.message = status.dependencies[i].message;
      }
      g.edges.push_back(std::move(e));
    }
  }
}

void FinishGraph(Graph& g, const std::set<std::string>& namespaces) {
  // Dependency-only nodes take the state tether observed for them.
  std::set<std::string> dependents;
  for (const auto& e : g.edges) dependents.insert(e.from);
  for (const auto& e : g.edges) {
    if (dependents.count(e.to) != 0) continue;
    GraphNode& n = g.nodes[e.to];
    Worsen(n.phase, n.message, e.state, e.message);
  }
  g.single_namespace = namespaces.size() <= 1;
}
}  // namespace

Graph BuildGraph(const std::vector<Json>& workload_dependencies) {
  Graph g;
  std::set<std::string> namespaces;
  for (const Json& wd : workload_dependencies) {
    try {
      AddWorkloadDependency(g, wd, namespaces);
    } catch (const std::exception& e) {  // a malformed object must not hide the others
      g.problems.push_back(fmt::format("a WorkloadDependency could not be read: {}", e.what()));
    }
  }
  FinishGraph(g, namespaces);
  return g;
}

Result<GraphFormat> ParseGraphFormat(std::string_view s) {
  if (s == "text") return GraphFormat::kText;
  if (s == "dot") return GraphFormat::kDot;
  if (s == "mermaid") return GraphFormat::kMermaid;
  return Fail(ErrorCode::kInvalid,
              fmt::format("unknown graph format \"{}\": use --output text, dot or mermaid", s));
}

std::string_view PhaseColor(std::string_view p) {
  if (p == "Healthy") return "#c6f6d5";                         // green
  if (p == "Degraded" || p == "CoSuspended") return "#fefcbf";  // yellow
  if (p == "Suspended" || p == "Unhealthy") return "#fed7d7";   // red
  if (p == "Released") return "#e9d8fd";                        // purple
  if (p == "Observed") return "#bee3f8";                        // blue
  if (p == "NotFound") return "#fbd38d";                        // orange
  return "#e2e8f0";                                             // grey: Paused, Unknown, none
}

std::string RenderText(const Graph& g) {
  std::string out;
  if (g.nodes.empty()) {
    out = "No WorkloadDependencies found.\n";
  }
  std::multimap<std::string, const GraphEdge*> out_edges;
  std::set<std::string> has_parent;
  for (const auto& e : g.edges) {
    out_edges.emplace(e.from, &e);
    has_parent.insert(e.to);
  }
  std::vector<std::string> roots;
  for (const auto& [key, n] : g.nodes) {
    if (has_parent.count(key) == 0) roots.push_back(key);
  }
  // Pure cycles have no root: start from every dependent that is not printed yet.
  std::set<std::string> printed;
  std::function<void(const std::string&, const std::string&, std::set<std::string>&)> walk =
      [&](const std::string& key, const std::string& indent, std::set<std::string>& path) {
        printed.insert(key);
        path.insert(key);
        auto [begin, end] = out_edges.equal_range(key);
        std::vector<const GraphEdge*> children;
        for (auto it = begin; it != end; ++it) children.push_back(it->second);
        for (std::size_t i = 0; i < children.size(); ++i) {
          const GraphEdge& e = *children[i];
          bool last = i + 1 == children.size();
          const GraphNode& child = g.nodes.at(e.to);
          std::string line = indent + (last ? "└─ " : "├─ ") + "needs " + Label(g, child) + "  [" +
                             PhaseText(child) + "]";
          if (child.governed_by.empty() || g.nodes.at(key).governed_by.size() > 1) {
            line += "  (" + e.wd + ")";
          }
          if (path.count(e.to) != 0) {
            out += line + "  ↺ cycle\n";
            continue;
          }
          out += line + "\n";
          walk(e.to, indent + (last ? "   " : "│  "), path);
        }
        path.erase(key);
      };
  auto print_root = [&](const std::string& key) {
    const GraphNode& n = g.nodes.at(key);
    std::string line = Label(g, n) + "  [" + PhaseText(n) + "]";
    if (!n.governed_by.empty()) {
      line += "  (WorkloadDependency ";
      for (std::size_t i = 0; i < n.governed_by.size(); ++i) {
        line += (i ? ", " : "") + n.governed_by[i];
      }
      line += ")";
    }
    out += line + "\n";
    std::set<std::string> path;
    walk(key, "", path);
  };
  for (const auto& key : roots) print_root(key);
  for (const auto& [key, n] : g.nodes) {
    if (printed.count(key) == 0 && !n.governed_by.empty()) print_root(key);
  }
  for (const auto& p : g.problems) out += "! " + p + "\n";
  return out;
}

std::string RenderDot(const Graph& g) {
  std::string out =
      "digraph tether {\n"
      "  rankdir=LR;\n"
      "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n";
  for (const auto& [key, n] : g.nodes) {
    out += fmt::format("  \"{}\" [label=\"{}\\n{}\", fillcolor=\"{}\"];\n", DotEscape(key),
                       DotEscape(Label(g, n)), DotEscape(n.phase.empty() ? "no status" : n.phase),
                       PhaseColor(n.phase));
  }
  for (const auto& e : g.edges) {
    out +=
        fmt::format("  \"{}\" -> \"{}\" [label=\"{}\", tooltip=\"{}\"];\n", DotEscape(e.from),
                    DotEscape(e.to), DotEscape(e.state.empty() ? "?" : e.state), DotEscape(e.wd));
  }
  for (const auto& p : g.problems) out += "  // " + DotEscape(p) + "\n";
  out += "}\n";
  return out;
}

std::string RenderMermaid(const Graph& g) {
  std::string out = "graph LR\n";
  std::map<std::string, std::string> ids;
  for (const auto& [key, n] : g.nodes) {
    std::string id = fmt::format("n{}", ids.size());
    ids[key] = id;
    out += fmt::format("  {}[\"{}<br/>{}\"]:::{}\n", id, MermaidEscape(Label(g, n)),
                       MermaidEscape(n.phase.empty() ? "no status" : n.phase), CssClass(n.phase));
  }
  for (const auto& e : g.edges) {
    out += fmt::format("  {} -->|{}| {}\n", ids[e.from],
                       MermaidEscape(e.state.empty() ? "?" : e.state), ids[e.to]);
  }
  for (std::string_view p : {"Healthy", "Degraded", "Suspended", "Released", "Paused", "Observed",
                             "Unknown", "Unhealthy", "CoSuspended", "NotFound", ""}) {
    out += fmt::format("  classDef {} fill:{},stroke:#4a5568;\n", CssClass(p), PhaseColor(p));
  }
  for (std::string p : g.problems) {
    for (char& c : p) c = c == '\n' ? ';' : c;
    out += "  %% " + p + "\n";
  }
  return out;
}

std::string Render(const Graph& graph, GraphFormat format) {
  switch (format) {
    case GraphFormat::kText:
      return RenderText(graph);
    case GraphFormat::kDot:
      return RenderDot(graph);
    case GraphFormat::kMermaid:
      return RenderMermaid(graph);
  }
  return "";
}

}  // namespace tether::deps
