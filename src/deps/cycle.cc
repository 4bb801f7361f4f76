#include "deps/cycle.h"

#include <algorithm>
#include <deque>
#include <set>

namespace tether::deps {

namespace {

using Graph = std::map<std::string, std::set<std::string>>;

// A path from `from` to `to` with at least two edges, not passing through `to` on the way;
// empty if none. Breadth-first, so the reported cycle is a shortest one.
std::vector<std::string> LongPath(const Graph& g, const std::string& from, const std::string& to) {
  std::map<std::string, std::string> parent;
  std::deque<std::string> queue{from};
  parent[from] = "";
  while (!queue.empty()) {
    std::string x = queue.front();
    queue.pop_front();
    auto it = g.find(x);
    if (it == g.end()) continue;
    for (const auto& y : it->second) {
      if (y == to) {
        if (x == from) continue;  // a direct edge back is a mutual pair: allowed
        std::vector<std::string> path{to};
        for (std::string n = x; !n.empty(); n = parent[n]) path.push_back(n);
        std::reverse(path.begin(), path.end());
        return path;  // from ... x, to
      }
      if (parent.count(y)) continue;
      parent[y] = x;
      queue.push_back(y);
    }
  }
  return {};
}

bool Before(const GraphEntry& a, const GraphEntry& b) {
  if (a.created.has_value() != b.created.has_value()) return a.created.has_value();
  if (a.created && *a.created != *b.created) return *a.created < *b.created;
  return a.wd_key < b.wd_key;
}

}  // namespace

GraphEntry GraphEntryFor(std::string wd_key, const Spec& spec, std::optional<TimePoint> created) {
  GraphEntry e;
  e.wd_key = std::move(wd_key);
  e.created = created;
  e.dependent = spec.dependent.Key();
  for (const auto& d : spec.depends_on) {
    if (d.type != Dependency::Type::kPrometheus) e.depends_on.push_back(d.Ref());
  }
  return e;
}

std::map<std::string, std::string> FindCycles(std::vector<GraphEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), Before);
  Graph g;
  std::map<std::string, std::string> out;
  for (const auto& e : entries) {
    std::optional<std::string> cycle;
    for (const auto& d : e.depends_on) {
      if (d == e.dependent) continue;  // invalid spec, reported by validation
      auto path = LongPath(g, d, e.dependent);
      if (path.empty()) continue;
      std::string s = e.dependent;
      for (const auto& n : path) s += " -> " + n;
      cycle = s;
      break;
    }
    if (cycle) {
      out[e.wd_key] = *cycle;
      continue;
    }
    for (const auto& d : e.depends_on) {
      if (d != e.dependent) g[e.dependent].insert(d);
    }
  }
  return out;
}

std::optional<std::string> WouldCloseCycle(std::vector<GraphEntry> existing,
                                           const GraphEntry& candidate) {
  std::erase_if(existing, [&](const GraphEntry& e) { return e.wd_key == candidate.wd_key; });
  // The candidate is judged as the newest entry; entries that already close cycles stay out.
  auto flagged = FindCycles(existing);
  std::erase_if(existing, [&](const GraphEntry& e) { return flagged.count(e.wd_key) > 0; });
  GraphEntry c = candidate;
  c.created.reset();
  for (auto& e : existing) {
    if (!e.created) e.created = TimePoint::min();
  }
  existing.push_back(c);
  auto result = FindCycles(std::move(existing));
  auto it = result.find(candidate.wd_key);
  if (it == result.end()) return std::nullopt;
  return it->second;
}

}  // namespace tether::deps
