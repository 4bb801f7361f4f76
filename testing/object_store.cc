#include "testing/object_store.h"

#include <algorithm>

namespace tether::testing {

ObjectStore::ObjectStore(std::size_t max_events)
    : max_events_(std::max<std::size_t>(max_events, 16)) {}

std::int64_t ObjectStore::current_rv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

std::int64_t ObjectStore::compacted_rv() const {
  std::lock_guard lock(mu_);
  return compacted_;
}

std::string ObjectStore::Key(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

const Json* ObjectStore::VersionAt(const History& h, std::int64_t rv) {
  for (auto it = h.rbegin(); it != h.rend(); ++it) {
    if (rv == 0 || it->rv <= rv) return it->object ? &*it->object : nullptr;
  }
  return nullptr;
}

void ObjectStore::RecordLocked(StoredEvent e) {
  events_.push_back(std::move(e));
  if (events_.size() > max_events_) CompactLocked(events_[events_.size() - max_events_ / 2].rv - 1);
}

ApiResult<Json> ObjectStore::Mutate(const std::string& gr, const std::string& ns,
                                    const std::string& name, const MutateFn& fn) {
  std::unique_lock lock(mu_);
  auto& hist = data_[gr][Key(ns, name)];
  const Json* current = VersionAt(hist, 0);
  auto decision = fn(current);
  if (!decision) {
    if (hist.empty()) data_[gr].erase(Key(ns, name));
    return Err(decision.error());
  }
  Mutation& m = *decision;
  if (m.op == Mutation::Op::kNone) {
    if (hist.empty()) data_[gr].erase(Key(ns, name));
    return std::move(m.object);
  }
  Json prev = current ? *current : Json();
  std::int64_t rv = ++rv_;
  m.object["metadata"]["resourceVersion"] = std::to_string(rv);
  if (m.op == Mutation::Op::kPut) {
    hist.push_back({rv, m.object});
    RecordLocked({rv, gr, prev.is_null() ? "ADDED" : "MODIFIED", m.object, std::move(prev)});
  } else {
    hist.push_back({rv, std::nullopt});
    RecordLocked({rv, gr, "DELETED", m.object, std::move(prev)});
  }
  lock.unlock();
  cv_.notify_all();
  return std::move(m.object);
}

std::optional<Json> ObjectStore::Get(const std::string& gr, const std::string& ns,
                                     const std::string& name) const {
  std::lock_guard lock(mu_);
  auto g = data_.find(gr);
  if (g == data_.end()) return std::nullopt;
  auto it = g->second.find(Key(ns, name));
  if (it == g->second.end()) return std::nullopt;
  const Json* obj = VersionAt(it->second, 0);
  if (obj == nullptr) return std::nullopt;
  return *obj;
}

ApiResult<ObjectStore::ListPage> ObjectStore::List(const std::string& gr, const std::string& ns,
                                                   std::int64_t at_rv,
                                                   const std::string& start_after,
                                                   std::int64_t limit, const Filter& filter) const {
  std::lock_guard lock(mu_);
  // etcd keeps the compacted revision itself readable; only older ones are gone.
  if (at_rv != 0 && at_rv < compacted_) {
    return Err(Expired("The resourceVersion for the provided list is too old."));
  }
  ListPage page;
  page.rv = at_rv == 0 ? rv_ : at_rv;
  auto g = data_.find(gr);
  if (g == data_.end()) return page;
  std::string prefix = ns.empty() ? "" : ns + "/";
  auto it =
      start_after.empty() ? g->second.lower_bound(prefix) : g->second.upper_bound(start_after);
  std::int64_t remaining = 0;
  bool full = false;
  for (; it != g->second.end(); ++it) {
    if (!it->first.starts_with(prefix)) break;
    if (!ns.empty() && it->first.find('/', prefix.size()) != std::string::npos) continue;
    const Json* obj = VersionAt(it->second, page.rv);
    if (obj == nullptr) continue;
    if (filter && !filter(*obj)) continue;
    if (full) {
      ++remaining;
      if (filter) break;  // with a filter kube-apiserver does not count the rest
      continue;
    }
    page.items.push_back(*obj);
    if (limit > 0 && static_cast<std::int64_t>(page.items.size()) == limit) {
      full = true;
      page.last_key = it->first;
    }
  }
  if (full && remaining == 0) page.last_key.clear();
  if (full && remaining > 0 && !filter) page.remaining = remaining;
  return page;
}

ApiResult<ObjectStore::EventBatch> ObjectStore::EventsAfter(const std::string& gr,
                                                            std::int64_t after) const {
  std::lock_guard lock(mu_);
  if (after < compacted_) {
    return Err(Expired("too old resource version: " + std::to_string(after) + " (" +
                       std::to_string(compacted_ + 1) + ")"));
  }
  EventBatch out;
  out.up_to = rv_;
  auto it = std::upper_bound(events_.begin(), events_.end(), after,
                             [](std::int64_t v, const StoredEvent& e) { return v < e.rv; });
  for (; it != events_.end(); ++it) {
    if (it->gr == gr) out.events.push_back(*it);
  }
  return out;
}

void ObjectStore::WaitForChange(std::int64_t rv, std::chrono::steady_clock::time_point deadline,
                                const std::stop_token& stop) const {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, stop, deadline, [&] { return rv_ > rv; });
}

void ObjectStore::NotifyAll() const { cv_.notify_all(); }

void ObjectStore::CompactLocked(std::int64_t rv) {
  if (rv <= compacted_) return;
  compacted_ = rv;
  while (!events_.empty() && events_.front().rv <= rv) events_.pop_front();
  for (auto& [gr, keys] : data_) {
    for (auto it = keys.begin(); it != keys.end();) {
      History& h = it->second;
      // Keep the newest version at or before rv (the state as of rv) and everything after.
      std::size_t keep_from = 0;
      for (std::size_t i = 0; i < h.size(); ++i) {
        if (h[i].rv <= rv) keep_from = i;
      }
      h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(keep_from));
      if (h.size() == 1 && !h[0].object) {
        it = keys.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void ObjectStore::Compact(std::int64_t rv) {
  std::lock_guard lock(mu_);
  CompactLocked(rv == 0 ? rv_ : std::min(rv, rv_));
}

void ObjectStore::DeleteAll(const std::string& gr) {
  std::vector<std::pair<std::string, std::string>> keys = Keys(gr, "");
  for (const auto& [ns, name] : keys) {
    Mutate(gr, ns, name, [](const Json* cur) -> ApiResult<Mutation> {
      if (cur == nullptr) return Mutation::None(Json());
      return Mutation::Delete(*cur);
    });
  }
}

std::vector<std::pair<std::string, std::string>> ObjectStore::Keys(const std::string& gr,
                                                                   const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  auto g = data_.find(gr);
  if (g == data_.end()) return out;
  for (const auto& [key, h] : g->second) {
    const Json* obj = VersionAt(h, 0);
    if (obj == nullptr) continue;
    const Json& md = (*obj)["metadata"];
    std::string ons = md.value("namespace", "");
    if (!ns.empty() && ons != ns) continue;
    out.emplace_back(ons, md.value("name", ""));
  }
  return out;
}

}  // namespace tether::testing
