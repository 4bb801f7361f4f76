#include "kube/leader_election.h"

#include <fmt/format.h>

#include "common/log.h"

namespace tether::kube {
namespace {

class ClientLeaseStore final : public LeaseStore {
 public:
  explicit ClientLeaseStore(Client& client) : client_(client) {}
  Result<Json> Get(const std::string& ns, const std::string& name) override {
    return client_.Get(resources::Leases(), ns, name);
  }
  Result<Json> Create(const std::string& ns, const Json& lease) override {
    return client_.Create(resources::Leases(), ns, lease);
  }
  Result<Json> Update(const std::string& ns, const Json& lease) override {
    return client_.Update(resources::Leases(), ns, lease);
  }

 private:
  Client& client_;
};

std::optional<TimePoint> ParseTime(const Json& spec, const char* field) {
  auto it = spec.find(field);
  if (it == spec.end() || !it->is_string()) return std::nullopt;
  TimePoint t;
  if (!ParseRfc3339(it->get<std::string>(), &t)) return std::nullopt;
  return t;
}

bool SameRecord(const LeaseRecord& a, const LeaseRecord& b) {
  return a.holder == b.holder && a.renew_time == b.renew_time && a.acquire_time == b.acquire_time &&
         a.lease_transitions == b.lease_transitions &&
         a.lease_duration_seconds == b.lease_duration_seconds;
}

int Seconds(Duration d) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

std::unique_ptr<LeaseStore> MakeClientLeaseStore(Client& client) {
  return std::make_unique<ClientLeaseStore>(client);
}

std::string FormatMicroTime(TimePoint t) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  std::string base = FormatRfc3339(TimePoint(secs));  // "...:SSZ"
  base.pop_back();
  return fmt::format("{}.{:06d}Z", base, micros);
}

LeaseRecord ParseLeaseRecord(const Json& lease) {
  LeaseRecord r;
  auto spec_it = lease.find("spec");
  if (spec_it == lease.end() || !spec_it->is_object()) return r;
  const Json& spec = *spec_it;
  if (auto h = spec.find("holderIdentity"); h != spec.end() && h->is_string()) {
    r.holder = h->get<std::string>();
  }
  if (auto d = spec.find("leaseDurationSeconds"); d != spec.end() && d->is_number_integer()) {
    r.lease_duration_seconds = d->get<int>();
  }
  if (auto t = spec.find("leaseTransitions"); t != spec.end() && t->is_number_integer()) {
    r.lease_transitions = t->get<int>();
  }
  r.acquire_time = ParseTime(spec, "acquireTime");
  r.renew_time = ParseTime(spec, "renewTime");
  return r;
}

Json LeaseRecordToSpec(const LeaseRecord& r) {
  Json spec = {{"holderIdentity", r.holder},
               {"leaseDurationSeconds", r.lease_duration_seconds},
               {"leaseTransitions", r.lease_transitions}};
  if (r.acquire_time) spec["acquireTime"] = FormatMicroTime(*r.acquire_time);
  if (r.renew_time) spec["renewTime"] = FormatMicroTime(*r.renew_time);
  return spec;
}

Result<void> ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.lease_name.empty() || c.lease_namespace.empty()) {
    return Fail(ErrorCode::kInvalid,
                "leader election: lease name and namespace are required "
                "(--leader-elect-lease-name / namespace)");
  }
  if (c.identity.empty()) {
    return Fail(ErrorCode::kInvalid,
                "leader election: identity is empty; set it to the pod name (POD_NAME)");
  }
  if (c.retry_period <= Duration::zero() || c.renew_deadline <= c.retry_period ||
      c.lease_duration <= c.renew_deadline) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("leader election: need leaseDuration ({}) > renewDeadline ({}) > "
                            "retryPeriod ({}) > 0, otherwise two replicas could lead at once",
                            FormatDuration(c.lease_duration), FormatDuration(c.renew_deadline),
                            FormatDuration(c.retry_period)));
  }
  return {};
}

LeaderElector::LeaderElector(std::unique_ptr<LeaseStore> store, Clock& clock,
                             LeaderElectionConfig config)
    : store_(std::move(store)),
      clock_(clock),
      config_(std::move(config)),
      rng_(config_.seed ? config_.seed : std::random_device{}()) {
  metrics::Registry& r = config_.registry ? *config_.registry : metrics::Registry::Default();
  gauge_ =
      r.AddGauge("tether_leader", "1 while this replica holds the leader Lease, else 0.", {"lease"})
          .WithLabels({config_.lease_name});
  gauge_->Set(0);
}

LeaderElector::~LeaderElector() = default;

std::string LeaderElector::Leader() const {
  std::lock_guard lock(leader_mu_);
  return leader_;
}

void LeaderElector::ObserveHolder(const std::string& holder) {
  {
    std::lock_guard lock(leader_mu_);
    if (leader_ == holder) return;
    leader_ = holder;
  }
  if (!holder.empty()) {
    log::Info("observed leader", {{"lease", config_.lease_name}, {"leader", holder}});
    if (config_.on_new_leader) config_.on_new_leader(holder);
  }
}

bool LeaderElector::TryAcquireOrRenew(TimePoint now) {
  const std::string& ns = config_.lease_namespace;
  LeaseRecord desired;
  desired.holder = config_.identity;
  desired.lease_duration_seconds = Seconds(config_.lease_duration);
  desired.acquire_time = now;
  desired.renew_time = now;

  auto current = store_->Get(ns, config_.lease_name);
  if (!current) {
    if (current.error().code != ErrorCode::kNotFound) {
      log::Warn("leader election: reading the Lease failed",
                {{"lease", config_.lease_name}, {"error", current.error().ToString()}});
      return false;
    }
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.lease_name}, {"namespace", ns}}},
                  {"spec", LeaseRecordToSpec(desired)}};
    auto created = store_->Create(ns, lease);
    if (!created) {
      log::Info("leader election: creating the Lease failed",
                {{"lease", config_.lease_name}, {"error", created.error().ToString()}});
      return false;
    }
    observed_ = desired;
    observed_rv_ = created->value("/metadata/resourceVersion"_json_pointer, std::string());
    observed_time_ = now;
    ObserveHolder(config_.identity);
    return true;
  }

  LeaseRecord old = ParseLeaseRecord(*current);
  std::string rv = current->value("/metadata/resourceVersion"_json_pointer, std::string());
  if (!observed_ || !SameRecord(*observed_, old)) {
    observed_ = old;
    observed_time_ = now;
  }
  observed_rv_ = rv;
  Duration held_for = old.lease_duration_seconds > 0
                          ? std::chrono::seconds(old.lease_duration_seconds)
                          : config_.lease_duration;
  const bool held_by_other = !old.holder.empty() && old.holder != config_.identity;
  if (held_by_other && observed_time_ + held_for > now) {
    ObserveHolder(old.holder);
    return false;
  }
  if (old.holder == config_.identity && old.acquire_time) {
    desired.acquire_time = old.acquire_time;
    desired.lease_transitions = old.lease_transitions;
  } else {
    desired.lease_transitions = old.lease_transitions + 1;
  }
  Json lease = *current;
  lease["spec"] = LeaseRecordToSpec(desired);
  if (lease.contains("metadata") && lease["metadata"].is_object()) {
    lease["metadata"].erase("managedFields");
  }
  auto updated = store_->Update(ns, lease);
  if (!updated) {
    if (updated.error().code == ErrorCode::kConflict) {
      log::Debug("leader election: Lease changed under us; will retry",
                 {{"lease", config_.lease_name}});
    } else {
      log::Warn("leader election: updating the Lease failed",
                {{"lease", config_.lease_name}, {"error", updated.error().ToString()}});
    }
    return false;
  }
  observed_ = desired;
  observed_rv_ = updated->value("/metadata/resourceVersion"_json_pointer, std::string());
  observed_time_ = now;
  ObserveHolder(config_.identity);
  return true;
}

void LeaderElector::StopLeading() {
  if (!leading_.exchange(false)) return;
  gauge_->Set(0);
  log::Info("stopped leading", {{"lease", config_.lease_name}, {"identity", config_.identity}});
  if (config_.on_stopped_leading) config_.on_stopped_leading();
}

TimePoint LeaderElector::Step() {
  TimePoint now = clock_.Now();
  if (!leading_.load()) {
    if (TryAcquireOrRenew(now)) {
      last_renew_ = now;
      leading_.store(true);
      gauge_->Set(1);
      log::Info("started leading", {{"lease", config_.lease_name}, {"identity", config_.identity}});
      if (config_.on_started_leading) config_.on_started_leading();
      return now + config_.retry_period;
    }
    // Candidates retry with jitter (x1.0 .. x1.2) so they do not stampede.
    std::uniform_real_distribution<double> jitter(1.0, 1.2);
    return now + std::chrono::duration_cast<Duration>(config_.retry_period * jitter(rng_));
  }
  if (TryAcquireOrRenew(now)) {
    last_renew_ = now;
  } else if (clock_.Now() - last_renew_ >= config_.renew_deadline) {
    // Measured when the failed attempt ends, not when it began: requests to an unreachable
    // API server can take long, and the leader must not outlive its deadline meanwhile.
    log::Error(
        "leader election: could not renew the Lease within the renew deadline; "
        "stopping all leader work",
        {{"lease", config_.lease_name},
         {"renew_deadline", FormatDuration(config_.renew_deadline)}});
    StopLeading();
  }
  return now + config_.retry_period;
}

void LeaderElector::Release() {
  if (!leading_.load()) return;
  StopLeading();
  // Hand the Lease back only if it is still ours; a failed release is harmless (it expires).
  auto current = store_->Get(config_.lease_namespace, config_.lease_name);
  if (!current) return;
  LeaseRecord rec = ParseLeaseRecord(*current);
  if (rec.holder != config_.identity) return;
  TimePoint now = clock_.Now();
  LeaseRecord released;
  released.holder = "";
  released.lease_duration_seconds = 1;
  released.acquire_time = now;
  released.renew_time = now;
  released.lease_transitions = rec.lease_transitions;
  Json lease = *current;
  lease["spec"] = LeaseRecordToSpec(released);
  auto updated = store_->Update(config_.lease_namespace, lease);
  if (!updated) {
    log::Warn("leader election: releasing the Lease failed; a standby takes over when it expires",
              {{"lease", config_.lease_name}, {"error", updated.error().ToString()}});
    return;
  }
  ObserveHolder("");
  log::Info("released the Lease", {{"lease", config_.lease_name}});
}

bool LeaderElector::Run(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    bool was_leading = leading_.load();
    TimePoint next = Step();
    if (was_leading && !leading_.load()) return false;  // lost: the caller must stop acting
    clock_.SleepUntil(next, stop);
  }
  if (config_.release_on_cancel) {
    Release();
  } else {
    StopLeading();
  }
  return true;
}

}  // namespace tether::kube
