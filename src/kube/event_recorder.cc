#include "kube/event_recorder.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"

namespace tether::kube {
namespace {

constexpr std::size_t kMaxMessageBytes = 1024;

class ClientEventSink final : public EventSink {
 public:
  explicit ClientEventSink(Client& client) : client_(client) {}
  Result<Json> Create(const std::string& ns, const Json& event) override {
    return client_.Create(resources::Events(), ns, event);
  }
  Result<Json> Patch(const std::string& ns, const std::string& name,
                     const Json& merge_patch) override {
    return client_.Patch(resources::Events(), ns, name, PatchType::kMerge, merge_patch);
  }

 private:
  Client& client_;
};

std::string Str(const Json& obj, const char* ptr) {
  auto p = Json::json_pointer(ptr);
  if (!obj.contains(p)) return {};
  const Json& v = obj.at(p);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// Cuts at a UTF-8 boundary so the API server never sees a broken sequence.
std::string Truncate(std::string s) {
  if (s.size() <= kMaxMessageBytes) return s;
  std::size_t cut = kMaxMessageBytes - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

}  // namespace

ObjectReference ObjectReference::From(const Json& object) {
  ObjectReference r;
  r.api_version = Str(object, "/apiVersion");
  r.kind = Str(object, "/kind");
  r.ns = Str(object, "/metadata/namespace");
  r.name = Str(object, "/metadata/name");
  r.uid = Str(object, "/metadata/uid");
  r.resource_version = Str(object, "/metadata/resourceVersion");
  return r;
}

Json ObjectReference::ToJson() const {
  Json j = {{"apiVersion", api_version}, {"kind", kind}, {"name", name}};
  if (!ns.empty()) j["namespace"] = ns;
  if (!uid.empty()) j["uid"] = uid;
  if (!resource_version.empty()) j["resourceVersion"] = resource_version;
  return j;
}

std::unique_ptr<EventSink> MakeClientEventSink(Client& client) {
  return std::make_unique<ClientEventSink>(client);
}

EventRecorder::EventRecorder(std::unique_ptr<EventSink> sink, Clock& clock,
                             EventRecorderOptions options)
    : sink_(std::move(sink)), clock_(clock), options_(std::move(options)) {
  metrics::Registry& r = options_.registry ? *options_.registry : metrics::Registry::Default();
  dropped_ = r.AddCounter("tether_events_dropped_total",
                          "Kubernetes Events dropped because the recorder queue was full.")
                 .WithLabels({});
  failed_ = r.AddCounter("tether_events_failed_total",
                         "Kubernetes Events the API server refused or could not take.")
                .WithLabels({});
}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) { Run(stop); });
}

void EventRecorder::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
  }
  Flush();
  thread_.request_stop();
  thread_.join();
  thread_ = std::jthread();
}

void EventRecorder::Record(const ObjectReference& object, EventType type, std::string reason,
                           std::string message) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= options_.queue_capacity) {
    dropped_->Inc();
    log::Debug("event queue full; dropping event", {{"reason", reason}, {"object", object.name}});
    return;
  }
  queue_.push_back({object, type, std::move(reason), Truncate(std::move(message)), clock_.Now()});
  cv_.notify_one();
}

bool EventRecorder::Flush() {
  std::unique_lock lock(mu_);
  if (!thread_.joinable()) return false;
  idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
  return true;
}

void EventRecorder::Run(const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, stop, [this] { return !queue_.empty(); });
    if (queue_.empty()) break;  // stop requested and nothing left
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Write(p);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

Result<void> EventRecorder::CreateEvent(const Pending& p, const std::string& key) {
  std::string ns = p.ref.ns.empty() ? "default" : p.ref.ns;
  // Unique name in the style of client-go: <object>.<hex nanoseconds>. Two Events recorded at
  // the same instant (a coarse or fake clock) must not collide, so the suffix never repeats.
  auto nanos = static_cast<std::uint64_t>(p.at.time_since_epoch().count());
  std::uint64_t suffix = std::max(nanos, last_name_suffix_ + 1);
  last_name_suffix_ = suffix;
  std::string name =
      fmt::format("{}.{:x}", p.ref.name.empty() ? std::string("object") : p.ref.name, suffix);
  std::string ts = FormatRfc3339(p.at);
  Json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"involvedObject", p.ref.ToJson()},
      {"reason", p.reason},
      {"message", p.message},
      {"type", p.type == EventType::kWarning ? "Warning" : "Normal"},
      {"source", {{"component", options_.component}}},
      {"firstTimestamp", ts},
      {"lastTimestamp", ts},
      {"count", 1},
      {"reportingComponent", options_.component},
      {"reportingInstance", options_.host},
  };
  if (!options_.host.empty()) event["source"]["host"] = options_.host;
  auto created = sink_->Create(ns, event);
  if (!created) return Fail(created.error());
  auto& agg = cache_[key];
  if (agg.count == 0) {
    lru_.push_front(key);
  } else {
    lru_.splice(lru_.begin(), lru_, agg.lru);
  }
  agg.ns = ns;
  agg.name = Str(*created, "/metadata/name");
  if (agg.name.empty()) agg.name = name;
  agg.count = 1;
  agg.lru = lru_.begin();
  while (cache_.size() > options_.cache_size && !lru_.empty()) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  return {};
}

void EventRecorder::Write(const Pending& p) {
  std::string key =
      fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", p.ref.ns, p.ref.kind, p.ref.name,
                  p.ref.uid, static_cast<int>(p.type), p.reason, p.message);
  Result<void> result;
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    Aggregate& agg = it->second;
    Json patch = {{"count", agg.count + 1}, {"lastTimestamp", FormatRfc3339(p.at)}};
    auto patched = sink_->Patch(agg.ns, agg.name, patch);
    if (patched) {
      ++agg.count;
      lru_.splice(lru_.begin(), lru_, agg.lru);
      return;
    }
    if (patched.error().code != ErrorCode::kNotFound) {
      result = Fail(patched.error());
    } else {
      result = CreateEvent(p, key);  // the aggregated Event expired: start a new one
    }
  } else {
    result = CreateEvent(p, key);
  }
  if (!result) {
    failed_->Inc();
    log::Warn("could not record Kubernetes Event",
              {{"reason", p.reason},
               {"object", p.ref.ns.empty() ? p.ref.name : p.ref.ns + "/" + p.ref.name},
               {"error", result.error().ToString()}});
  }
}

}  // namespace tether::kube
