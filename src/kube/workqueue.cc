#include "kube/workqueue.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kube/backoff.h"

namespace tether::kube {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct WorkQueue::State : std::enable_shared_from_this<WorkQueue::State> {
  State(Clock& c, WorkQueueOptions o) : clock(c), options(std::move(o)) {
    metrics::Registry& r = options.registry ? *options.registry : metrics::Registry::Default();
    const std::vector<std::string> labels = {"name"};
    depth = r.AddGauge("tether_workqueue_depth", "Items waiting in the work queue.", labels)
                .WithLabels({options.name});
    adds = r.AddCounter("tether_workqueue_adds_total", "Items added to the work queue.", labels)
               .WithLabels({options.name});
    queue_duration =
        r.AddHistogram("tether_workqueue_queue_duration_seconds",
                       "Time an item waits in the work queue before a worker takes it.", labels,
                       metrics::ExponentialBuckets(1e-3, 4, 10))
            .WithLabels({options.name});
    work_duration =
        r.AddHistogram("tether_workqueue_work_duration_seconds", "Time a worker spends on an item.",
                       labels, metrics::ExponentialBuckets(1e-3, 4, 10))
            .WithLabels({options.name});
    retries = r.AddCounter("tether_workqueue_retries_total",
                           "Rate-limited requeues (failed reconciles).", labels)
                  .WithLabels({options.name});
    tokens = std::max(1, options.burst);
    last_refill = clock.Now();
  }

  // Requires mu held.
  void AddLocked(const std::string& key) {
    if (shutting_down || dirty.contains(key)) return;
    dirty.insert(key);
    adds->Inc();
    if (processing.contains(key)) return;
    Enqueue(key);
  }
  void Enqueue(const std::string& key) {
    queue.push_back(key);
    queued_at[key] = clock.Now();
    depth->Set(static_cast<double>(queue.size()));
    cv.notify_one();
  }

  std::string PopLocked() {
    std::string key = std::move(queue.front());
    queue.pop_front();
    depth->Set(static_cast<double>(queue.size()));
    processing.insert(key);
    dirty.erase(key);
    TimePoint now = clock.Now();
    if (auto it = queued_at.find(key); it != queued_at.end()) {
      queue_duration->Observe(Seconds(now - it->second));
      queued_at.erase(it);
    }
    started_at[key] = now;
    return key;
  }

  // Overall token bucket: reserves a token and returns how long until it is available.
  Duration ReserveToken() {
    if (options.qps <= 0) return Duration::zero();
    TimePoint now = clock.Now();
    double elapsed = Seconds(now - last_refill);
    if (elapsed > 0) {
      tokens = std::min<double>(std::max(1, options.burst), tokens + elapsed * options.qps);
      last_refill = now;
    }
    tokens -= 1;
    if (tokens >= 0) return Duration::zero();
    return std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(-tokens / options.qps));
  }

  void Fire(const std::string& key, std::uint64_t gen) {
    std::lock_guard lock(mu);
    auto it = waiting.find(key);
    if (it == waiting.end() || it->second.gen != gen) return;
    waiting.erase(it);
    AddLocked(key);
  }

  struct Waiting {
    TimePoint at;
    Clock::TimerId timer = 0;
    std::uint64_t gen = 0;
  };

  Clock& clock;
  WorkQueueOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;
  std::unordered_set<std::string> dirty;
  std::unordered_set<std::string> processing;
  std::unordered_map<std::string, Waiting> waiting;
  std::unordered_map<std::string, int> failures;
  std::unordered_map<std::string, TimePoint> queued_at;
  std::unordered_map<std::string, TimePoint> started_at;
  std::uint64_t next_gen = 1;
  double tokens = 0;
  TimePoint last_refill;
  bool shutting_down = false;

  std::shared_ptr<metrics::Gauge> depth;
  std::shared_ptr<metrics::Counter> adds;
  std::shared_ptr<metrics::Histogram> queue_duration;
  std::shared_ptr<metrics::Histogram> work_duration;
  std::shared_ptr<metrics::Counter> retries;
};

WorkQueue::WorkQueue(Clock& clock, WorkQueueOptions options)
    : state_(std::make_shared<State>(clock, std::move(options))) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(state_->mu);
  state_->AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    Add(key);
    return;
  }
  AddAt(key, state_->clock.Now() + delay);
}

void WorkQueue::AddAt(const std::string& key, TimePoint when) {
  State& s = *state_;
  if (when <= s.clock.Now()) {
    Add(key);
    return;
  }
  std::uint64_t gen = 0;
  Clock::TimerId superseded = 0;
  {
    std::lock_guard lock(s.mu);
    if (s.shutting_down) return;
    auto it = s.waiting.find(key);
    if (it != s.waiting.end()) {
      if (it->second.at <= when) return;  // an earlier (or equal) deadline is already pending
      superseded = it->second.timer;
    }
    gen = s.next_gen++;
    s.waiting[key] = State::Waiting{when, 0, gen};
  }
  if (superseded != 0) s.clock.Cancel(superseded);
  // Scheduled outside the lock: a clock may run the callback synchronously.
  std::weak_ptr<State> weak = state_;
  Clock::TimerId id = s.clock.ScheduleAt(when, [weak, key, gen] {
    if (auto st = weak.lock()) st->Fire(key, gen);
  });
  bool cancel = false;
  {
    std::lock_guard lock(s.mu);
    auto it = s.waiting.find(key);
    if (it != s.waiting.end() && it->second.gen == gen) {
      it->second.timer = id;
    } else if (s.shutting_down) {
      cancel = true;
    }
  }
  if (cancel) s.clock.Cancel(id);
}

void WorkQueue::AddRateLimited(const std::string& key) {
  State& s = *state_;
  Duration delay;
  {
    std::lock_guard lock(s.mu);
    if (s.shutting_down) return;
    int n = s.failures[key]++;
    BackoffPolicy p{.initial = s.options.base_delay, .max = s.options.max_delay, .jitter = 0};
    delay = std::max(ExponentialDelay(p, n), s.ReserveToken());
    s.retries->Inc();
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(state_->mu);
  state_->failures.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->failures.find(key);
  return it == state_->failures.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  s.cv.wait(lock, [&] { return s.shutting_down || !s.queue.empty(); });
  if (s.shutting_down) return std::nullopt;
  return s.PopLocked();
}

std::optional<std::string> WorkQueue::TryGet() {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.shutting_down || s.queue.empty()) return std::nullopt;
  return s.PopLocked();
}

void WorkQueue::Done(const std::string& key) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.processing.erase(key) == 0) return;
  if (auto it = s.started_at.find(key); it != s.started_at.end()) {
    s.work_duration->Observe(Seconds(s.clock.Now() - it->second));
    s.started_at.erase(it);
  }
  if (s.dirty.contains(key) && !s.shutting_down) s.Enqueue(key);
}

void WorkQueue::ShutDown() {
  State& s = *state_;
  std::vector<Clock::TimerId> timers;
  {
    std::lock_guard lock(s.mu);
    if (s.shutting_down) return;
    s.shutting_down = true;
    for (auto& [key, w] : s.waiting) {
      if (w.timer != 0) timers.push_back(w.timer);
    }
    s.waiting.clear();
    s.queue.clear();
    s.depth->Set(0);
    s.cv.notify_all();
  }
  for (Clock::TimerId id : timers) s.clock.Cancel(id);
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(state_->mu);
  return state_->shutting_down;
}

std::size_t WorkQueue::Len() const {
  std::lock_guard lock(state_->mu);
  return state_->queue.size();
}

std::size_t WorkQueue::NumWaiting() const {
  std::lock_guard lock(state_->mu);
  return state_->waiting.size();
}

}  // namespace tether::kube
