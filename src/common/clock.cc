#include "common/clock.h"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

namespace tether {

// ---------------------------------------------------------------- RealClock

RealClock::RealClock() : thread_([this](const std::stop_token& st) { Run(st); }) {}

RealClock::~RealClock() {
  thread_.request_stop();
  cv_.notify_all();
}

RealClock& RealClock::Instance() {
  static RealClock clock;
  return clock;
}

TimePoint RealClock::Now() const {
  return std::chrono::time_point_cast<Duration>(SystemClock::now());
}

Clock::TimerId RealClock::ScheduleAt(TimePoint deadline, std::function<void()> fn) {
  auto steady_deadline = std::chrono::steady_clock::now() + (deadline - Now());
  std::lock_guard lock(mu_);
  TimerId id = next_id_++;
  timers_.emplace(steady_deadline, std::make_pair(id, std::move(fn)));
  cv_.notify_all();
  return id;
}

void RealClock::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

bool RealClock::SleepUntil(TimePoint deadline, const std::stop_token& stop) {
  auto steady_deadline = std::chrono::steady_clock::now() + (deadline - Now());
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_until(lock, stop, steady_deadline, [] { return false; });
  return !stop.stop_requested();
}

void RealClock::Run(const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    if (timers_.empty()) {
      cv_.wait(lock, stop, [this] { return !timers_.empty(); });
      continue;
    }
    auto first = timers_.begin();
    if (first->first > std::chrono::steady_clock::now()) {
      auto when = first->first;
      cv_.wait_until(lock, stop, when, [this, when] {
        return !timers_.empty() && timers_.begin()->first < when;
      });
      continue;
    }
    auto fn = std::move(first->second.second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

// ---------------------------------------------------------------- FakeClock

TimePoint FakeClock::DefaultStart() {
  return TimePoint(std::chrono::seconds(1781492400));  // 2026-06-15T03:00:00Z
}

FakeClock::FakeClock(TimePoint start) : now_(start) {}

TimePoint FakeClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

Clock::TimerId FakeClock::ScheduleAt(TimePoint deadline, std::function<void()> fn) {
  std::unique_lock lock(mu_);
  TimerId id = next_id_++;
  if (deadline <= now_) {
    lock.unlock();
    fn();
    return id;
  }
  timers_.emplace(deadline, std::make_pair(id, std::move(fn)));
  return id;
}

void FakeClock::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

bool FakeClock::SleepUntil(TimePoint deadline, const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  ++sleepers_;
  cv_.wait(lock, stop, [&] { return now_ >= deadline; });
  --sleepers_;
  return !stop.stop_requested();
}

void FakeClock::Advance(Duration d) { Set(Now() + d); }

void FakeClock::Set(TimePoint t) {
  std::unique_lock lock(mu_);
  while (!timers_.empty() && timers_.begin()->first <= t) {
    auto it = timers_.begin();
    if (it->first > now_) now_ = it->first;
    auto fn = std::move(it->second.second);
    timers_.erase(it);
    lock.unlock();
    fn();
    lock.lock();
  }
  if (t > now_) now_ = t;
  cv_.notify_all();
}

std::size_t FakeClock::PendingTimers() const {
  std::lock_guard lock(mu_);
  return timers_.size();
}

TimePoint FakeClock::NextDeadline() const {
  std::lock_guard lock(mu_);
  return timers_.empty() ? TimePoint::max() : timers_.begin()->first;
}

int FakeClock::Sleepers() const {
  std::lock_guard lock(mu_);
  return sleepers_;
}

// ---------------------------------------------------------------- formatting

std::string FormatRfc3339(TimePoint t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (t.time_since_epoch().count() < 0 && t.time_since_epoch() % std::chrono::seconds(1) != Duration(0)) {
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

namespace {
bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
}  // namespace

bool ParseRfc3339(std::string_view s, TimePoint* out) {
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &se)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  // TimePoint counts int64 nanoseconds: years outside 1678..2261 cannot be represented.
  if (y < 1678 || y > 2261) return false;
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return false;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om)) {
      return false;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
  *out = TimePoint(std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos));
  return true;
}

bool ParseDuration(std::string_view s, Duration* out) {
  if (s.empty()) return false;
  bool negative = false;
  size_t pos = 0;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    ++pos;
  }
  if (pos == s.size()) return false;
  if (s.substr(pos) == "0") {
    *out = Duration(0);
    return true;
  }
  long double total = 0;
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && ((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '.')) ++pos;
    if (pos == start) return false;
    std::string number(s.substr(start, pos - start));
    if (number == "." || std::count(number.begin(), number.end(), '.') > 1) return false;
    long double value = std::stold(number);
    size_t ustart = pos;
    while (pos < s.size() && !((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '.')) ++pos;
    std::string_view unit = s.substr(ustart, pos - ustart);
    long double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else return false;
    total += value * scale;
    if (total > 9.2e18L) return false;
  }
  *out = Duration(static_cast<int64_t>(std::llround(negative ? -total : total)));
  return true;
}

std::string FormatDuration(Duration d) {
  using namespace std::chrono;
  if (d == Duration(0)) return "0s";
  std::string sign = d < Duration(0) ? "-" : "";
  if (d < Duration(0)) d = -d;
  if (d < seconds(1)) {
    if (d < microseconds(1)) return fmt::format("{}{}ns", sign, d.count());
    if (d < milliseconds(1)) return fmt::format("{}{:g}us", sign, d.count() / 1e3);
    return fmt::format("{}{:g}ms", sign, d.count() / 1e6);
  }
  auto h = duration_cast<hours>(d);
  auto m = duration_cast<minutes>(d - h);
  auto rest = d - h - m;
  double s = static_cast<double>(rest.count()) / 1e9;
  std::string out = sign;
  if (h.count() > 0) out += fmt::format("{}h", h.count());
  if (h.count() > 0 || m.count() > 0) out += fmt::format("{}m", m.count());
  out += fmt::format("{:g}s", s);
  return out;
}

}  // namespace tether
