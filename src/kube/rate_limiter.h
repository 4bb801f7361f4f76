// RateLimiter: a client-side token bucket (qps tokens per second, at most `burst` saved up) that
// paces requests to the API server, like client-go's --kube-api-qps/--kube-api-burst. Time comes
// from the injected Clock, so tests drive it with FakeClock.
//
// Reservations are first-come-first-served: Reserve() always succeeds and tells the caller when
// its turn is (tokens may go negative), so waiters never starve and each wait is bounded by the
// queue ahead of it divided by qps.
//
// Thread-safety: all methods are safe to call from any thread.
#pragma once

#include <mutex>

#include "common/clock.h"

namespace tether::kube {

// The pure bucket arithmetic (no locking, no clock): exposed for direct testing.
class TokenBucket {
 public:
  // qps <= 0 disables limiting. burst < 1 is treated as 1.
  TokenBucket(double qps, int burst, TimePoint now);

  // Takes one token and returns the instant at which the caller may proceed (<= now when a
  // token was available).
  TimePoint Reserve(TimePoint now);
  // Tokens available at `now` (negative while requests are queued).
  [[nodiscard]] double Tokens(TimePoint now) const;

 private:
  void Refill(TimePoint now);

  double qps_;
  double burst_;
  double tokens_;
  TimePoint last_;
};

class RateLimiter {
 public:
  RateLimiter(double qps, int burst, Clock& clock);

  // Blocks (on the clock) until the caller may send one request.
  void Acquire();
  // Non-blocking: how long the caller must wait for one request (zero if it may go now). The
  // token is taken either way.
  Duration Reserve();

 private:
  Clock& clock_;
  std::mutex mu_;
  TokenBucket bucket_;
  bool unlimited_;
};

}  // namespace tether::kube
