// `tether why <kind>/<name> [-n NS]`: explains from the live cluster why a workload is (or is
// not) suspended and what tether will do next and when; `wd/<name>` explains a
// WorkloadDependency from its side. The reads happen here; the wording is deps/explain.h.
//
// Thread-safety: registration happens once at startup; the command runs on the main thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cli/flags.h"
#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "kube/resource.h"

namespace tether::cli {

// What `why` is asked about.
struct WhyTarget {
  enum class Type { kWorkload, kWorkloadDependency, kPod };
  Type type = Type::kWorkload;
  kube::Resource resource;  // kWorkload: the workload's resource
  std::string name;
};

// Parses "deployment/payments", "deploy/payments", "sts/db", "wd/x",
// "workloaddependency.tether.dev/x", ... (kubectl's names and short names). Errors list what is
// accepted.
Result<WhyTarget> ParseWhyTarget(std::string_view arg);

// How pods' scheduling gates are judged (the controller's --gate-* flags).
struct GateFlags {
  std::string prefixes = "gate.tether.dev/";
  std::string reference_policy = "same-namespace";
};

// The explanation of `target` in namespace `ns` at `now`, read through `client`. kNotFound
// (with a message saying what to check) when there is nothing to explain.
Result<std::string> Why(kube::Client& client, const WhyTarget& target, const std::string& ns,
                        TimePoint now, const GateFlags& gates = {});

void RegisterWhyCommand(CLI::App& app);

}  // namespace tether::cli
