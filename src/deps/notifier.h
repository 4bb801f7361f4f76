// Notifier: asynchronous delivery of WorkloadDependency notifications (SPEC §2.7) — an HTTP POST
// per notification with a per-attempt timeout (default 5 s), up to 4 attempts with backoff
// 1 s, 2 s, 4 s plus jitter (timers on the injected Clock), optional HMAC-SHA256 signing in
// `X-Tether-Signature: sha256=<hex>`. Send() never blocks the caller: attempts run on the
// notifier's own threads. Also the pure payload builders (JSON and Slack formats).
//
// Thread-safety: all methods are safe from any thread. `done` callbacks run on a notifier
// thread and must be quick (no waiting on the notifier).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "deps/state_machine.h"
#include "deps/types.h"
#include "metrics/metrics.h"

namespace tether::deps {

struct NotifierOptions {
  Clock* clock = nullptr;  // required
  metrics::Registry* registry = nullptr;
  std::chrono::milliseconds timeout{5000};  // per attempt
  std::vector<Duration> backoff = {std::chrono::seconds(1), std::chrono::seconds(2),
                                   std::chrono::seconds(4)};  // attempts = backoff.size() + 1
  double jitter = 0.2;  // each delay is stretched by up to this fraction, at random
  int threads = 2;
};

struct Delivery {
  std::string url;  // http(s)
  std::string body;
  std::string signing_key;  // empty: unsigned
  std::string description;  // for logs and errors, e.g. "prod/payments-needs-db Suspended"
};

class Notifier {
 public:
  explicit Notifier(NotifierOptions options);
  ~Notifier();  // Stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues a delivery; `done` gets the final outcome (after the last attempt). After Stop(),
  // Send() completes at once with kCancelled.
  void Send(Delivery delivery, std::function<void(const Result<void>&)> done);
  void Stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// "sha256=<lower-case hex HMAC-SHA256 of body with key>".
std::string SignatureHeader(std::string_view key, std::string_view body);

// Input for the payload builders.
struct NotificationContext {
  std::string wd_name;
  std::string wd_namespace;
  Phase phase = Phase::kHealthy;
  std::optional<Phase> previous_phase;
  WorkloadRef dependent;
  std::string message;
  std::vector<DependencyStatus> dependencies;
  TimePoint timestamp;
};

// The JSON payload of §2.7.
nlohmann::json NotificationJson(const NotificationContext& c);
// The Slack-compatible {"text": ...} body.
nlohmann::json NotificationSlack(const NotificationContext& c);

}  // namespace tether::deps
