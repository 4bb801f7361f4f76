#include "kube/controller.h"

#include <exception>

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

}  // namespace tether::kube
