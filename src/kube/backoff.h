// Backoff: capped exponential delays with jitter, for reconnects and retries.
//
//   Backoff b(BackoffPolicy{.initial = 800ms, .max = 30s}, seed);
//   while (!Connect()) clock.SleepFor(b.Next(), stop);
//   b.Reset();  // after a success
//
// Delay n (0-based) is min(initial * multiplier^n, max), then reduced by a random fraction of
// up to `jitter` (so it never exceeds `max`, and concurrent clients spread out).
// Thread-compatible: one Backoff per retry loop; guard it externally if shared.
#pragma once

#include <cstdint>
#include <random>

#include "common/clock.h"

namespace tether::kube {

struct BackoffPolicy {
  Duration initial = std::chrono::milliseconds(800);
  Duration max = std::chrono::seconds(30);
  double multiplier = 2.0;
  double jitter = 0.2;  // in [0, 1]: fraction of the delay that may be taken off at random
};

// The un-jittered delay for attempt `n` (0-based), capped at policy.max. Pure.
Duration ExponentialDelay(const BackoffPolicy& policy, int n);

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; advances the attempt count.
  Duration Next();
  // Back to the initial delay (call after a success).
  void Reset() { attempts_ = 0; }
  [[nodiscard]] int attempts() const { return attempts_; }
  [[nodiscard]] const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
};

}  // namespace tether::kube
