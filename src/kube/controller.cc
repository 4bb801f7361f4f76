#include "kube/controller.h"

#include <condition_variable>
#include <exception>
#include <mutex>

#include "common/log.h"

namespace tether::kube {
namespace {

WorkQueueOptions QueueOptions(const ControllerOptions& o) {
  WorkQueueOptions q = o.queue;
  if (q.name.empty()) q.name = o.name;
  if (q.registry == nullptr) q.registry = o.registry;
  return q;
}

}  // namespace

Controller::Controller(Clock& clock, ControllerOptions options, Reconciler reconciler)
    : clock_(clock),
      options_(std::move(options)),
      reconciler_(std::move(reconciler)),
      queue_(clock, QueueOptions(options_)) {
  metrics::Registry& r = options_.registry ? *options_.registry : metrics::Registry::Default();
  auto& total = r.AddCounter("tether_reconcile_total", "Reconciles by controller and result.",
                             {"controller", "result"});
  success_ = total.WithLabels({options_.name, "success"});
  requeue_ = total.WithLabels({options_.name, "requeue_after"});
  error_ = total.WithLabels({options_.name, "error"});
  duration_ = r.AddHistogram("tether_reconcile_duration_seconds", "Time spent in one reconcile.",
                             {"controller"}, metrics::ExponentialBuckets(1e-3, 2.5, 12))
                  .WithLabels({options_.name});
  if (options_.workers < 1) options_.workers = 1;
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  if (stopped_ || running_.exchange(true)) return;
  log::Info("starting controller", {{"controller", options_.name}, {"workers", options_.workers}});
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
}

void Controller::Stop() {
  if (stopped_) return;
  stopped_ = true;
  queue_.ShutDown();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
  if (running_.exchange(false)) log::Info("stopped controller", {{"controller", options_.name}});
}

void Controller::Worker() {
  while (auto key = queue_.Get()) Process(*key);
}

bool Controller::ProcessNextReady() {
  auto key = queue_.TryGet();
  if (!key) return false;
  Process(*key);
  return true;
}

void Controller::Process(const std::string& key) {
  TimePoint start = clock_.Now();
  Result<ReconcileResult> result;
  try {
    result = reconciler_(key);
  } catch (const std::exception& e) {
    result = Fail(ErrorCode::kInternal, std::string("reconciler threw: ") + e.what());
  } catch (...) {
    result = Fail(ErrorCode::kInternal, "reconciler threw a non-standard exception");
  }
  duration_->Observe(std::chrono::duration<double>(clock_.Now() - start).count());
  if (!result) {
    error_->Inc();
    log::Warn("reconcile failed; will retry with backoff", {{"controller", options_.name},
                                                            {"key", key},
                                                            {"error", result.error().ToString()},
                                                            {"retries", queue_.NumRequeues(key)}});
    if (result.error().retry_after) {
      queue_.AddAfter(key, *result.error().retry_after);
    } else {
      queue_.AddRateLimited(key);
    }
  } else if (result->requeue_after) {
    requeue_->Inc();
    queue_.Forget(key);
    queue_.AddAfter(key, *result->requeue_after);
  } else {
    success_->Inc();
    queue_.Forget(key);
  }
  queue_.Done(key);
}

// ---------------------------------------------------------------- Manager

Manager::Manager(Clock& clock, std::unique_ptr<InformerFactory> informers,
                 std::unique_ptr<LeaseStore> leases, ManagerOptions options)
    : clock_(clock),
      informers_(std::move(informers)),
      leases_(std::move(leases)),
      options_(std::move(options)) {
  if (!options_.leader_election || !leases_) return;
  // Created up front so that Ready()/IsLeader() never race with Run().
  LeaderElectionConfig config = options_.leader_election_config;
  if (config.registry == nullptr) config.registry = options_.registry;
  auto user_started = config.on_started_leading;
  auto user_stopped = config.on_stopped_leading;
  config.on_started_leading = [this, user_started] {
    StartControllers();
    if (user_started) user_started();
  };
  config.on_stopped_leading = [this, user_stopped] {
    StopControllers();
    if (user_stopped) user_stopped();
  };
  elector_ = std::make_unique<LeaderElector>(std::move(leases_), clock_, std::move(config));
}

std::unique_ptr<Manager> Manager::ForClient(Client& client, Clock& clock, ManagerOptions options) {
  ObserveApiRequests(client, options.registry);
  auto informers = std::make_unique<InformerFactory>(client, clock, options.registry);
  std::unique_ptr<LeaseStore> leases;
  if (options.leader_election) leases = MakeClientLeaseStore(client);
  return std::make_unique<Manager>(clock, std::move(informers), std::move(leases),
                                   std::move(options));
}

Manager::~Manager() {
  StopControllers();
  informers_->StopAll();
}

Controller& Manager::AddController(ControllerOptions options, Reconciler reconciler) {
  if (options.registry == nullptr) options.registry = options_.registry;
  controllers_.push_back(
      std::make_unique<Controller>(clock_, std::move(options), std::move(reconciler)));
  return *controllers_.back();
}

bool Manager::Ready() const {
  if (!synced_.load() || !healthy_.load()) return false;
  if (!options_.leader_election) return true;
  return elector_ != nullptr && !elector_->Leader().empty();
}

bool Manager::IsLeader() const {
  if (!options_.leader_election) return synced_.load();
  return elector_ != nullptr && elector_->IsLeader();
}

void Manager::StartControllers() {
  for (auto& c : controllers_) c->Start();
  controllers_running_.store(true);
}

void Manager::StopControllers() {
  for (auto& c : controllers_) c->Stop();
  controllers_running_.store(false);
}

Result<void> Manager::Run(const std::stop_token& stop) {
  if (options_.leader_election) {
    if (auto valid = ValidateLeaderElectionConfig(options_.leader_election_config); !valid) {
      healthy_.store(false);
      return Fail(valid.error());
    }
    if (!elector_) {
      healthy_.store(false);
      return Fail(ErrorCode::kInvalid, "manager: leader election enabled without a Lease store");
    }
  }
  informers_->StartAll();
  log::Info("waiting for informer caches to sync");
  if (!informers_->WaitForCacheSync(stop)) {
    informers_->StopAll();
    return Fail(ErrorCode::kCancelled, "manager: stopped before caches synced");
  }
  synced_.store(true);
  log::Info("informer caches synced");

  if (!options_.leader_election) {
    StartControllers();
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait(lock, stop, [] { return false; });
    StopControllers();
    informers_->StopAll();
    return {};
  }

  bool clean = elector_->Run(stop);
  StopControllers();
  informers_->StopAll();
  if (!clean) {
    healthy_.store(false);
    return Fail(ErrorCode::kUnavailable,
                "manager: lost the leader Lease (could not renew within the renew deadline); "
                "all controllers stopped — restart the process to rejoin the election");
  }
  return {};
}

}  // namespace tether::kube
