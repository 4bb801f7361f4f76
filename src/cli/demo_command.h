// `tether demo`: a self-contained tour that needs no cluster. It starts the embedded API server
// in-process, installs the WorkloadDependency CRD, creates a small shop (Deployments database,
// payments, checkout and a CronJob reports, with WorkloadDependencies payments→database at 80%,
// checkout→payments (cascade) and reports→database), runs the workload simulator and tether's
// real WorkloadDependency controller against it, plays an incident (database pods become
// unready, then recover) and prints a timestamped timeline of what tether saw and did — phase
// transitions, durable records, scale/suspend requests, restores — ending with a summary.
//
// The timeline is read from the API server's change history (every write, in resourceVersion
// order), so it shows exactly what a `kubectl get -w` user would have seen.
//
// RunDemo is also what the end-to-end test drives (with a FakeClock: waits then advance virtual
// time instead of sleeping). Thread-safety: RunDemo may run concurrently with itself (each run
// has its own server); DescribeChange is pure and thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/flags.h"
#include "common/clock.h"
#include "common/error.h"

namespace tether::cli {

// Timeline lines for one change of a watched object (`gr` is the group-resource, e.g.
// "deployments.apps"; `prev` is null for a creation). Empty when nothing noteworthy changed.
std::vector<std::string> DescribeChange(std::string_view gr, const nlohmann::json& prev,
                                        const nlohmann::json& object);

struct DemoOptions {
  // Null: the real clock. With a FakeClock the script advances time itself while it waits.
  Clock* clock = nullptr;
  Duration window = std::chrono::seconds(3);
  Duration recovery_window = std::chrono::seconds(5);
  // How long the database stays down once everything that depends on it is suspended.
  Duration outage = std::chrono::seconds(3);
  // Written (admin client certificate) when non-empty, so kubectl can look at the demo cluster.
  std::string kubeconfig_path;
  // Receives every output line (timeline, narration, summary). Default: stdout.
  std::function<void(const std::string&)> out;
  // Called after the summary while everything is still running (--keep-running waits here).
  std::function<void()> before_teardown;
  // Upper bound on each scripted wait, in the demo's time.
  Duration step_timeout = std::chrono::seconds(60);
};

struct DemoResult {
  std::vector<std::string> timeline;  // every line printed, in order
  bool restored_exactly = false;      // every workload back to its original replicas/suspend
};

// Runs the whole scenario. Fails (with the reason) when a step does not happen in time.
Result<DemoResult> RunDemo(DemoOptions options);

void RegisterDemoCommand(CLI::App& app);

}  // namespace tether::cli
