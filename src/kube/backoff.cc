#include "kube/backoff.h"

#include <algorithm>
#include <cmath>

namespace tether::kube {

Duration ExponentialDelay(const BackoffPolicy& policy, int n) {
  if (policy.initial <= Duration::zero()) return Duration::zero();
  const double max_ns = static_cast<double>(policy.max.count());
  const double mult = std::max(1.0, policy.multiplier);
  // Computed in floating point so large attempt counts saturate at max instead of overflowing.
  double ns = static_cast<double>(policy.initial.count()) * std::pow(mult, std::max(0, n));
  if (!(ns < max_ns)) ns = max_ns;
  return Duration(static_cast<Duration::rep>(ns));
}

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), rng_(seed) {
  policy_.jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  if (policy_.max < policy_.initial) policy_.max = policy_.initial;
}

Duration Backoff::Next() {
  Duration base = ExponentialDelay(policy_, attempts_);
  if (attempts_ < 1'000'000) ++attempts_;
  if (policy_.jitter <= 0) return base;
  std::uniform_real_distribution<double> dist(0.0, policy_.jitter);
  double factor = 1.0 - dist(rng_);
  return Duration(static_cast<Duration::rep>(static_cast<double>(base.count()) * factor));
}

}  // namespace tether::kube
