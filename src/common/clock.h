// Clock: the injected source of time and timers. Everything in tether that depends on time
// (windows, deadlines, backoff, lease renewals, cache expiry) takes a Clock&, so tests drive
// time with FakeClock and never sleep.
//
// Timers: ScheduleAt(deadline, fn) runs fn once at (or right after) the deadline. Callbacks must
// be short and non-blocking (typically: put a key on a work queue). RealClock runs them on its
// own timer thread; FakeClock runs them synchronously inside Advance()/Set(), in deadline order,
// with Now() equal to each callback's deadline while it runs.
//
// Thread-safety: all methods of both clocks are safe to call from any thread, including from
// inside a timer callback.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

namespace tether {

using SystemClock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<SystemClock, std::chrono::nanoseconds>;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  using TimerId = std::uint64_t;
  virtual ~Clock() = default;

  [[nodiscard]] virtual TimePoint Now() const = 0;

  // Runs `fn` once when Now() >= deadline. Returns an id for Cancel().
  virtual TimerId ScheduleAt(TimePoint deadline, std::function<void()> fn) = 0;
  TimerId ScheduleAfter(Duration d, std::function<void()> fn) {
    return ScheduleAt(Now() + d, std::move(fn));
  }
  // Cancels a pending timer; a no-op if it already ran or was cancelled.
  virtual void Cancel(TimerId id) = 0;

  // Blocks until Now() >= deadline or `stop` is requested. Returns false if stopped.
  virtual bool SleepUntil(TimePoint deadline, const std::stop_token& stop) = 0;
  bool SleepFor(Duration d, const std::stop_token& stop) { return SleepUntil(Now() + d, stop); }
};

// Wall time with a timer thread. Deadlines are tracked on the steady clock, so wall-clock
// jumps do not fire timers early or late by the jump.
class RealClock final : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  [[nodiscard]] TimePoint Now() const override;
  TimerId ScheduleAt(TimePoint deadline, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  bool SleepUntil(TimePoint deadline, const std::stop_token& stop) override;

  // The process-wide real clock.
  static RealClock& Instance();

 private:
  void Run(const std::stop_token& stop);

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::pair<TimerId, std::function<void()>>>
      timers_;
  TimerId next_id_ = 1;
  std::jthread thread_;
};

// Manually driven time for tests. Starts at a fixed, realistic instant.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = DefaultStart());

  [[nodiscard]] TimePoint Now() const override;
  TimerId ScheduleAt(TimePoint deadline, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  bool SleepUntil(TimePoint deadline, const std::stop_token& stop) override;

  // Moves time forward by d, firing due timers in order (Now() == each timer's deadline while
  // it runs) and waking sleepers.
  void Advance(Duration d);
  // Moves time to t (never backwards).
  void Set(TimePoint t);

  // Number of timers not yet fired or cancelled: lets a test wait until the code under test
  // has scheduled its deadline before advancing.
  [[nodiscard]] std::size_t PendingTimers() const;
  // Earliest pending deadline, or TimePoint::max() if none.
  [[nodiscard]] TimePoint NextDeadline() const;
  // Number of threads currently blocked in SleepUntil.
  [[nodiscard]] int Sleepers() const;

  static TimePoint DefaultStart();  // 2026-06-15T03:00:00Z

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  TimePoint now_;
  std::multimap<TimePoint, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_id_ = 1;
  int sleepers_ = 0;
};

// RFC 3339 with second precision and a Z suffix, as Kubernetes writes metav1.Time.
std::string FormatRfc3339(TimePoint t);
// Parses RFC 3339 (with optional fractional seconds and offset). Returns false on bad input.
bool ParseRfc3339(std::string_view s, TimePoint* out);
// Parses Go-style durations as Kubernetes/tether use them ("30s", "1h30m", "1.5s", "100ms").
bool ParseDuration(std::string_view s, Duration* out);
// Renders a duration compactly: "1h30m0s" style like Go's time.Duration.String().
std::string FormatDuration(Duration d);

}  // namespace tether
