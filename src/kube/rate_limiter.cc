#include "kube/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <stop_token>

namespace tether::kube {

TokenBucket::TokenBucket(double qps, int burst, TimePoint now)
    : qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(now) {}

void TokenBucket::Refill(TimePoint now) {
  if (now <= last_) return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  last_ = now;
}

double TokenBucket::Tokens(TimePoint now) const {
  TokenBucket copy = *this;
  copy.Refill(now);
  return copy.tokens_;
}

TimePoint TokenBucket::Reserve(TimePoint now) {
  if (qps_ <= 0) return now;
  Refill(now);
  tokens_ -= 1;
  if (tokens_ >= 0) return now;
  const double wait_seconds = -tokens_ / qps_;
  return last_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(wait_seconds));
}

RateLimiter::RateLimiter(double qps, int burst, Clock& clock)
    : clock_(clock), bucket_(qps, burst, clock.Now()), unlimited_(qps <= 0) {}

Duration RateLimiter::Reserve() {
  if (unlimited_) return Duration::zero();
  const TimePoint now = clock_.Now();
  TimePoint at;
  {
    std::lock_guard lock(mu_);
    at = bucket_.Reserve(now);
  }
  return at > now ? at - now : Duration::zero();
}

void RateLimiter::Acquire() {
  if (unlimited_) return;
  const TimePoint now = clock_.Now();
  TimePoint at;
  {
    std::lock_guard lock(mu_);
    at = bucket_.Reserve(now);
  }
  if (at > now) {
    // The reservation is already ours; the wait is bounded by the queue ahead of us.
    static const std::stop_token kNeverStop;
    clock_.SleepUntil(at, kNeverStop);
  }
}

}  // namespace tether::kube
