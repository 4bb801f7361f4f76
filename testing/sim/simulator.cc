#include "testing/sim/simulator.h"

#include "common/log.h"

namespace tether::sim {

// ---- ClientCluster ----

Result<std::vector<Json>> ClientCluster::List(const kube::Resource& r, const std::string& ns) {
  auto list = client_.List(r, ns);
  if (!list) return tl::unexpected(list.error());
  return std::move(list->items);
}

Result<void> ClientCluster::PatchStatus(const kube::Resource& r, const std::string& ns,
                                        const std::string& name, const Json& merge_patch) {
  auto res =
      client_.Patch(r, ns, name, kube::PatchType::kMerge, {{"status", merge_patch}}, "status");
  if (!res) return tl::unexpected(res.error());
  return {};
}

void ClientCluster::WatchOne(const kube::Resource& r, const std::string& ns,
                             const std::function<void()>& on_change, const std::stop_token& stop) {
  std::string rv;
  while (!stop.stop_requested()) {
    if (rv.empty()) {
      kube::ListOptions opts;
      opts.limit = 1;
      auto page = client_.ListPage(r, ns, opts);
      if (!page) {
        // Unserved kinds (no Rollout CRD yet) and outages alike: try again later.
        clock_.SleepFor(retry_, stop);
        continue;
      }
      rv = page->resource_version;
      on_change();
    }
    kube::WatchOptions opts;
    opts.resource_version = rv;
    bool relist = false;
    auto res = client_.Watch(
        r, ns, opts,
        [&](kube::WatchEvent&& ev) {
          if (ev.type == kube::WatchEvent::Type::kError) {
            relist = true;  // typically 410 Expired
            return false;
          }
          if (ev.object.is_object() && ev.object.contains("metadata")) {
            std::string next = ev.object["metadata"].value("resourceVersion", "");
            if (!next.empty()) rv = next;
          }
          if (ev.type != kube::WatchEvent::Type::kBookmark) on_change();
          return true;
        },
        stop);
    if (relist || (!res && res.error().code == ErrorCode::kGone)) {
      rv.clear();
    } else if (!res && res.error().code != ErrorCode::kCancelled) {
      clock_.SleepFor(retry_, stop);
    }
  }
}

void ClientCluster::WatchChanges(const std::vector<kube::Resource>& resources,
                                 const std::string& ns, const std::function<void()>& on_change,
                                 std::stop_token stop) {
  on_change();
  std::vector<std::thread> threads;
  threads.reserve(resources.size());
  for (const kube::Resource& r : resources) {
    threads.emplace_back([this, r, &ns, &on_change, stop] { WatchOne(r, ns, on_change, stop); });
  }
  for (std::thread& t : threads) t.join();
}

// ---- Simulator ----

Simulator::Simulator(Cluster& cluster, Clock& clock, SimulatorOptions options)
    : cluster_(cluster), clock_(clock), options_(std::move(options)) {}

Simulator::~Simulator() { Stop(); }

Result<int> Simulator::SyncOnce() {
  std::lock_guard<std::mutex> sync(sync_mu_);
  std::int64_t pass = 0;
  std::map<Key, std::int64_t> overrides;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pass = ++passes_started_;
    overrides = ready_overrides_;
  }
  int writes = 0;
  std::optional<Error> first_error;
  for (Kind kind : options_.kinds) {
    kube::Resource resource = ResourceOf(kind);
    auto items = cluster_.List(resource, options_.namespace_);
    if (!items) {
      if (items.error().code != ErrorCode::kNotFound && !first_error) {
        first_error = items.error().Wrap("simulator: listing " + resource.GroupResource());
      }
      continue;
    }
    for (const Json& obj : *items) {
      if (!obj.contains("metadata") || !obj["metadata"].is_object()) continue;
      std::string ns = obj["metadata"].value("namespace", "");
      std::string name = obj["metadata"].value("name", "");
      std::optional<std::int64_t> override_cap;
      if (auto it = overrides.find({kind, ns, name}); it != overrides.end()) {
        override_cap = it->second;
      }
      StatusInput in;
      in.ready_cap = ReadyCap(obj, override_cap);
      in.nodes = options_.nodes;
      in.now = clock_.Now();
      Json desired = ComputeStatus(kind, obj, in);
      Json patch = StatusMergePatch(obj.value("status", Json::object()), desired);
      if (patch.is_null()) continue;
      auto res = cluster_.PatchStatus(resource, ns, name, patch);
      if (!res) {
        // Deleted since the list: nothing to simulate any more.
        if (res.error().code != ErrorCode::kNotFound && !first_error) {
          first_error = res.error().Wrap("simulator: writing status of " +
                                         std::string(KindName(kind)) + " " + ns + "/" + name);
        }
        continue;
      }
      ++writes;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  writes_ += writes;
  if (first_error) return tl::unexpected(*first_error);
  if (writes == 0) {
    settled_pass_ = pass;
    cv_.notify_all();
  }
  return writes;
}

void Simulator::SetReady(Kind kind, const std::string& ns, const std::string& name,
                         std::int64_t ready) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_overrides_[{kind, ns, name}] = ready < 0 ? 0 : ready;
  }
  MarkDirty();
}

void Simulator::ClearReady(Kind kind, const std::string& ns, const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_overrides_.erase({kind, ns, name});
  }
  MarkDirty();
}

void Simulator::MarkDirty() {
  std::lock_guard<std::mutex> lock(mu_);
  dirty_ = true;
  cv_.notify_all();
}

void Simulator::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (loop_.joinable()) return;
  dirty_ = true;
  loop_ = std::jthread([this](std::stop_token stop) { Loop(stop); });
  std::vector<kube::Resource> resources;
  for (Kind k : options_.kinds) resources.push_back(ResourceOf(k));
  watcher_ = std::jthread([this, resources](std::stop_token stop) {
    cluster_.WatchChanges(
        resources, options_.namespace_, [this] { MarkDirty(); }, stop);
  });
}

void Simulator::Stop() {
  std::jthread loop;
  std::jthread watcher;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop = std::move(loop_);
    watcher = std::move(watcher_);
  }
  if (watcher.joinable()) {
    watcher.request_stop();
    watcher.join();
  }
  if (loop.joinable()) {
    loop.request_stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    loop.join();
  }
}

void Simulator::Loop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait(lock, stop, [this] { return dirty_; })) return;
      dirty_ = false;
    }
    auto res = SyncOnce();
    if (!res) {
      log::Warn("workload simulator pass failed; retrying", {{"error", res.error().ToString()}});
      std::unique_lock<std::mutex> lock(mu_);
      // A pause before retrying (real time: this is backoff, not synchronisation).
      cv_.wait_for(lock, stop, std::chrono::milliseconds(200), [] { return false; });
      dirty_ = true;
    } else if (*res > 0) {
      // Confirm the writes settled, even on clusters that do not report our own changes.
      MarkDirty();
    }
  }
}

bool Simulator::WaitSettled(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  std::int64_t after = passes_started_;
  dirty_ = true;
  cv_.notify_all();
  return cv_.wait_for(lock, timeout, [&] { return settled_pass_ > after; });
}

std::int64_t Simulator::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

}  // namespace tether::sim
