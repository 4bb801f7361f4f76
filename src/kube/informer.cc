#include "kube/informer.h"

#include <exception>
#include <random>

#include "common/log.h"

namespace tether::kube {
namespace {

std::string ResourceVersionOf(const Json& obj) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return {};
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return {};
  return rv->get<std::string>();
}

std::string StringField(const Json& obj, const char* a, const char* b) {
  auto outer = obj.find(a);
  if (outer == obj.end() || !outer->is_object()) return {};
  auto inner = outer->find(b);
  if (inner == outer->end() || !inner->is_string()) return {};
  return inner->get<std::string>();
}

// An ERROR event carrying 410 Gone / reason Expired means our resourceVersion is too old.
bool IsExpiredStatus(const Json& status) {
  if (!status.is_object()) return false;
  auto code = status.find("code");
  if (code != status.end() && code->is_number_integer() && code->get<int>() == 410) return true;
  auto reason = status.find("reason");
  return reason != status.end() && reason->is_string() &&
         (reason->get<std::string>() == "Expired" || reason->get<std::string>() == "Gone");
}

class ClientListerWatcher final : public ListerWatcher {
 public:
  ClientListerWatcher(Client& client, Resource resource, std::string ns)
      : client_(client), resource_(std::move(resource)), ns_(std::move(ns)) {}
  Result<ListResult> List(const ListOptions& opts) override {
    return client_.List(resource_, ns_, opts);
  }
  Result<void> Watch(const WatchOptions& opts, const std::function<bool(WatchEvent&&)>& handler,
                     const std::stop_token& stop) override {
    return client_.Watch(resource_, ns_, opts, handler, stop);
  }

 private:
  Client& client_;
  Resource resource_;
  std::string ns_;
};

}  // namespace

std::string ObjectKey(const Json& object) {
  std::string ns = StringField(object, "metadata", "namespace");
  std::string name = StringField(object, "metadata", "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> SplitObjectKey(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

std::unique_ptr<ListerWatcher> MakeClientListerWatcher(Client& client, Resource resource,
                                                       std::string ns) {
  return std::make_unique<ClientListerWatcher>(client, std::move(resource), std::move(ns));
}

Informer::Informer(std::unique_ptr<ListerWatcher> lw, Clock& clock, InformerOptions options)
    : lw_(std::move(lw)), clock_(clock), options_(std::move(options)) {
  metrics::Registry& r = options_.registry ? *options_.registry : metrics::Registry::Default();
  auto& restarts =
      r.AddCounter("tether_watch_restarts_total",
                   "Watch streams re-established, by resource and reason.", {"resource", "reason"});
  const std::string res = options_.resource.GroupResource();
  restarts_closed_ = restarts.WithLabels({res, "closed"});
  restarts_expired_ = restarts.WithLabels({res, "expired"});
  restarts_error_ = restarts.WithLabels({res, "error"});
  restarts_list_error_ = restarts.WithLabels({res, "list_error"});
}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) { Run(stop); });
}

void Informer::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

bool Informer::WaitForSync(const std::stop_token& stop) const {
  std::unique_lock lock(sync_mu_);
  return sync_cv_.wait(lock, stop, [this] { return synced_.load(); });
}

void Informer::Run(const std::stop_token& stop) {
  std::uint64_t seed = options_.seed ? options_.seed : std::random_device{}();
  Backoff backoff(options_.backoff, seed);
  std::mt19937 timeout_rng(static_cast<std::uint32_t>(seed));
  const std::string res = options_.resource.GroupResource();
  const std::string scope = options_.ns.empty() ? "*" : options_.ns;
  bool need_list = true;
  int consecutive_expired = 0;
  while (!stop.stop_requested()) {
    if (need_list) {
      ListOptions lo;
      lo.label_selector = options_.label_selector;
      lo.field_selector = options_.field_selector;
      lo.limit = options_.page_size;
      auto listed = lw_->List(lo);
      if (stop.stop_requested()) break;
      if (!listed) {
        restarts_list_error_->Inc();
        SetHealth(false, "list failed: " + listed.error().ToString());
        Duration delay = backoff.Next();
        log::Warn("informer list failed; retrying", {{"resource", res},
                                                     {"namespace", scope},
                                                     {"error", listed.error().ToString()},
                                                     {"retry_in", FormatDuration(delay)}});
        clock_.SleepFor(delay, stop);
        continue;
      }
      Replace(std::move(listed->items));
      {
        std::unique_lock lock(store_mu_);
        resource_version_ = listed->resource_version;
      }
      need_list = false;
      SetHealth(true, "");
      if (!synced_.exchange(true)) {
        std::lock_guard lock(sync_mu_);
        sync_cv_.notify_all();
        log::Info("informer synced", {{"resource", res},
                                      {"namespace", scope},
                                      {"objects", static_cast<std::uint64_t>(Size())}});
      }
    }

    WatchOptions wo;
    wo.label_selector = options_.label_selector;
    wo.field_selector = options_.field_selector;
    wo.resource_version = LastSyncResourceVersion();
    wo.allow_bookmarks = true;
    wo.timeout_seconds = options_.watch_timeout_seconds;
    if (wo.timeout_seconds <= 0) {
      wo.timeout_seconds = std::uniform_int_distribution<int>(300, 599)(timeout_rng);
    }
    bool expired = false;
    bool got_events = false;
    std::optional<std::string> error_event;
    TimePoint started = clock_.Now();
    auto watched = lw_->Watch(
        wo,
        [&](WatchEvent&& ev) {
          if (ev.type == WatchEvent::Type::kError) {
            if (IsExpiredStatus(ev.object)) {
              expired = true;
            } else {
              error_event = ev.object.is_object() ? ev.object.value("message", ev.object.dump())
                                                  : std::string("malformed ERROR event");
            }
            return false;
          }
          std::string rv = ResourceVersionOf(ev.object);
          switch (ev.type) {
            case WatchEvent::Type::kAdded:
            case WatchEvent::Type::kModified:
              got_events = true;
              Upsert(std::move(ev.object));
              break;
            case WatchEvent::Type::kDeleted:
              got_events = true;
              Remove(ev.object);
              break;
            case WatchEvent::Type::kBookmark:
            case WatchEvent::Type::kError:
              break;
          }
          if (!rv.empty()) {
            std::unique_lock lock(store_mu_);
            resource_version_ = rv;
          }
          return !stop.stop_requested();
        },
        stop);
    if (stop.stop_requested()) break;

    if (expired || (!watched && watched.error().code == ErrorCode::kGone)) {
      restarts_expired_->Inc();
      need_list = true;
      log::Info(
          "watch resourceVersion expired; relisting",
          {{"resource", res}, {"namespace", scope}, {"resource_version", wo.resource_version}});
      // A relist normally fixes this at once; only back off if it keeps happening.
      if (consecutive_expired++ > 0) clock_.SleepFor(backoff.Next(), stop);
      continue;
    }
    consecutive_expired = 0;
    if (!watched || error_event) {
      restarts_error_->Inc();
      Duration delay = backoff.Next();
      std::string error = watched ? *error_event : watched.error().ToString();
      log::Warn("watch failed; relisting", {{"resource", res},
                                            {"namespace", scope},
                                            {"error", error},
                                            {"retry_in", FormatDuration(delay)}});
      SetHealth(false, "watch failed: " + error);
      // The relist both proves the connection works again and catches up on what the broken
      // watch missed; its success restores health.
      need_list = true;
      clock_.SleepFor(delay, stop);
      continue;
    }
    // The server ended the stream (timeout): resume at once, unless it keeps closing
    // immediately without progress, which would otherwise be a hot loop.
    restarts_closed_->Inc();
    if (got_events || clock_.Now() - started >= std::chrono::seconds(1)) {
      backoff.Reset();
    } else {
      clock_.SleepFor(backoff.Next(), stop);
    }
  }
}

std::string Informer::WatchError() const {
  std::lock_guard lock(health_mu_);
  return watch_error_;
}

void Informer::AddWatchHealthHandler(std::function<void(bool healthy)> handler) {
  std::lock_guard lock(health_mu_);
  health_handlers_.push_back(std::move(handler));
}

void Informer::SetHealth(bool healthy, std::string error) {
  std::vector<std::function<void(bool)>> handlers;
  {
    std::lock_guard lock(health_mu_);
    watch_error_ = std::move(error);
    if (healthy_.exchange(healthy) == healthy) return;
    handlers = health_handlers_;
  }
  for (const auto& h : handlers) {
    if (h) h(healthy);
  }
}

std::optional<Json> Informer::Ingest(Json&& object) const {
  if (!object.is_object()) return std::nullopt;
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object()) meta->erase("managedFields");
  // List items carry no TypeMeta; restore it so handlers can build object references.
  if (!object.contains("kind")) object["kind"] = options_.resource.kind;
  if (!object.contains("apiVersion")) object["apiVersion"] = options_.resource.ApiVersion();
  if (!options_.transform) return std::move(object);
  std::string key = ObjectKey(object);
  try {
    return options_.transform(std::move(object));
  } catch (const std::exception& e) {
    log::Error(
        "informer transform threw; object not cached",
        {{"resource", options_.resource.GroupResource()}, {"key", key}, {"error", e.what()}});
    return std::nullopt;
  }
}

void Informer::Replace(std::vector<Json>&& items) {
  std::map<std::string, ObjectPtr> fresh;
  for (Json& raw : items) {
    std::string key = ObjectKey(raw);
    if (key.empty()) continue;
    auto obj = Ingest(std::move(raw));
    if (obj) fresh[key] = std::make_shared<const Json>(std::move(*obj));
  }
  std::lock_guard dispatch(dispatch_mu_);
  std::vector<Delta> deltas;
  {
    std::unique_lock lock(store_mu_);
    std::vector<std::string> gone;
    for (const auto& [key, old_obj] : store_) {
      if (!fresh.contains(key)) gone.push_back(key);
    }
    for (const std::string& key : gone) {
      deltas.push_back({Kind::kDelete, store_[key], nullptr});
      EraseLocked(key);
    }
    for (auto& [key, obj] : fresh) {
      auto it = store_.find(key);
      if (it == store_.end()) {
        deltas.push_back({Kind::kAdd, nullptr, obj});
        SetLocked(key, obj);
      } else if (ResourceVersionOf(*it->second) != ResourceVersionOf(*obj) ||
                 ResourceVersionOf(*obj).empty()) {
        deltas.push_back({Kind::kUpdate, it->second, obj});
        SetLocked(key, obj);
      }
    }
  }
  Dispatch(deltas);
}

void Informer::Upsert(Json&& raw) {
  std::string key = ObjectKey(raw);
  if (key.empty()) return;
  auto obj = Ingest(std::move(raw));
  std::lock_guard dispatch(dispatch_mu_);
  std::vector<Delta> deltas;
  {
    std::unique_lock lock(store_mu_);
    auto it = store_.find(key);
    if (!obj) {
      if (it == store_.end()) return;
      deltas.push_back({Kind::kDelete, it->second, nullptr});
      EraseLocked(key);
    } else {
      auto ptr = std::make_shared<const Json>(std::move(*obj));
      if (it == store_.end()) {
        deltas.push_back({Kind::kAdd, nullptr, ptr});
      } else {
        deltas.push_back({Kind::kUpdate, it->second, ptr});
      }
      SetLocked(key, ptr);
    }
  }
  Dispatch(deltas);
}

void Informer::Remove(const Json& raw) {
  std::string key = ObjectKey(raw);
  std::lock_guard dispatch(dispatch_mu_);
  std::vector<Delta> deltas;
  {
    std::unique_lock lock(store_mu_);
    auto it = store_.find(key);
    if (it == store_.end()) return;
    deltas.push_back({Kind::kDelete, it->second, nullptr});
    EraseLocked(key);
  }
  Dispatch(deltas);
}

void Informer::Dispatch(const std::vector<Delta>& deltas) {
  for (const Delta& d : deltas) {
    for (const EventHandler& h : handlers_) {
      try {
        switch (d.kind) {
          case Kind::kAdd:
            if (h.on_add) h.on_add(d.new_obj);
            break;
          case Kind::kUpdate:
            if (h.on_update) h.on_update(d.old_obj, d.new_obj);
            break;
          case Kind::kDelete:
            if (h.on_delete) h.on_delete(d.old_obj);
            break;
        }
      } catch (const std::exception& e) {
        log::Error("informer event handler threw",
                   {{"resource", options_.resource.GroupResource()}, {"error", e.what()}});
      }
    }
  }
}

void Informer::SetLocked(const std::string& key, ObjectPtr obj) {
  const Json* raw = obj.get();
  store_[key] = std::move(obj);
  IndexLocked(key, raw);
}

void Informer::EraseLocked(const std::string& key) {
  IndexLocked(key, nullptr);
  store_.erase(key);
}

void Informer::IndexLocked(const std::string& key, const Json* obj) {
  for (const auto& [name, fn] : index_funcs_) IndexOneLocked(name, fn, key, obj);
}

void Informer::IndexOneLocked(const std::string& name, const IndexFunc& fn, const std::string& key,
                              const Json* obj) {
  auto& by_value = indices_[name];
  auto& by_key = indexed_[name];
  if (auto old = by_key.find(key); old != by_key.end()) {
    for (const std::string& v : old->second) {
      auto it = by_value.find(v);
      if (it == by_value.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) by_value.erase(it);
    }
    by_key.erase(old);
  }
  if (obj == nullptr) return;
  std::vector<std::string> values;
  try {
    values = fn(*obj);
  } catch (const std::exception& e) {
    log::Error("informer index function threw; object not indexed",
               {{"index", name}, {"key", key}, {"error", e.what()}});
    return;
  }
  for (const std::string& v : values) by_value[v].insert(key);
  if (!values.empty()) by_key[key] = std::move(values);
}

void Informer::AddEventHandler(EventHandler handler) {
  std::lock_guard dispatch(dispatch_mu_);
  if (handler.on_add) {
    for (const ObjectPtr& obj : List()) {
      try {
        handler.on_add(obj);
      } catch (const std::exception& e) {
        log::Error("informer event handler threw", {{"error", e.what()}});
      }
    }
  }
  handlers_.push_back(std::move(handler));
}

void Informer::AddIndexer(const std::string& name, IndexFunc fn) {
  std::unique_lock lock(store_mu_);
  indices_[name].clear();
  indexed_[name].clear();
  for (const auto& [key, obj] : store_) IndexOneLocked(name, fn, key, obj.get());
  index_funcs_[name] = std::move(fn);
}

ObjectPtr Informer::Get(std::string_view ns, std::string_view name) const {
  std::string key = ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
  return GetByKey(key);
}

ObjectPtr Informer::GetByKey(std::string_view key) const {
  std::shared_lock lock(store_mu_);
  auto it = store_.find(key);
  return it == store_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::List() const {
  std::shared_lock lock(store_mu_);
  std::vector<ObjectPtr> out;
  out.reserve(store_.size());
  for (const auto& [key, obj] : store_) out.push_back(obj);
  return out;
}

std::vector<ObjectPtr> Informer::ListNamespace(std::string_view ns) const {
  std::string prefix = std::string(ns) + "/";
  std::shared_lock lock(store_mu_);
  std::vector<ObjectPtr> out;
  for (auto it = store_.lower_bound(prefix);
       it != store_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<ObjectPtr> Informer::ByIndex(const std::string& index, const std::string& value) const {
  std::shared_lock lock(store_mu_);
  std::vector<ObjectPtr> out;
  auto idx = indices_.find(index);
  if (idx == indices_.end()) return out;
  auto keys = idx->second.find(value);
  if (keys == idx->second.end()) return out;
  for (const std::string& key : keys->second) {
    auto it = store_.find(key);
    if (it != store_.end()) out.push_back(it->second);
  }
  return out;
}

std::size_t Informer::Size() const {
  std::shared_lock lock(store_mu_);
  return store_.size();
}

std::string Informer::LastSyncResourceVersion() const {
  std::shared_lock lock(store_mu_);
  return resource_version_;
}

// ---------------------------------------------------------------- InformerFactory

InformerFactory::InformerFactory(Client& client, Clock& clock, metrics::Registry* registry)
    : maker_([&client](const InformerOptions& o) {
        return MakeClientListerWatcher(client, o.resource, o.ns);
      }),
      clock_(clock),
      registry_(registry) {}

InformerFactory::InformerFactory(ListerWatcherMaker maker, Clock& clock,
                                 metrics::Registry* registry)
    : maker_(std::move(maker)), clock_(clock), registry_(registry) {}

InformerFactory::~InformerFactory() { StopAll(); }

std::shared_ptr<Informer> InformerFactory::Get(InformerOptions options) {
  const Resource& r = options.resource;
  std::string key = r.group + "/" + r.version + "/" + r.resource + "|" + options.ns + "|" +
                    options.label_selector + "|" + options.field_selector + "|" +
                    options.transform_id;
  std::lock_guard lock(mu_);
  auto& slot = informers_[key];
  if (!slot) {
    if (options.registry == nullptr) options.registry = registry_;
    auto lw = maker_(options);
    slot = std::make_shared<Informer>(std::move(lw), clock_, std::move(options));
    if (started_) slot->Start();
  }
  return slot;
}

void InformerFactory::StartAll() {
  std::lock_guard lock(mu_);
  started_ = true;
  for (auto& [key, inf] : informers_) inf->Start();
}

void InformerFactory::StopAll() {
  std::vector<std::shared_ptr<Informer>> all;
  {
    std::lock_guard lock(mu_);
    started_ = false;
    for (auto& [key, inf] : informers_) all.push_back(inf);
  }
  for (auto& inf : all) inf->Stop();
}

bool InformerFactory::AllSynced() const {
  std::lock_guard lock(mu_);
  for (const auto& [key, inf] : informers_) {
    if (!inf->HasSynced()) return false;
  }
  return true;
}

bool InformerFactory::WaitForCacheSync(const std::stop_token& stop) const {
  std::vector<std::shared_ptr<Informer>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, inf] : informers_) all.push_back(inf);
  }
  for (const auto& inf : all) {
    if (!inf->WaitForSync(stop)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- API request metrics

void ObserveApiRequests(Client& client, metrics::Registry* registry) {
  metrics::Registry& r = registry ? *registry : metrics::Registry::Default();
  auto* total =
      &r.AddCounter("tether_api_requests_total",
                    "Kubernetes API requests by verb and HTTP status code.", {"verb", "code"});
  auto* latency = &r.AddHistogram("tether_api_request_duration_seconds",
                                  "Kubernetes API request latency by verb.", {"verb"},
                                  metrics::ExponentialBuckets(0.005, 2, 12));
  client.SetRequestObserver(
      [total, latency](std::string_view verb, int status, std::chrono::nanoseconds elapsed) {
        std::string v(verb);
        total->WithLabels({v, status > 0 ? std::to_string(status) : std::string("error")})->Inc();
        latency->WithLabels({v})->Observe(std::chrono::duration<double>(elapsed).count());
      });
}

}  // namespace tether::kube
