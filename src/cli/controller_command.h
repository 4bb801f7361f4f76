// `tether controller`: connects to the API server, optionally takes part in leader election on
// a coordination.k8s.io/v1 Lease, serves /healthz, /readyz and /metrics, and runs the
// reconcilers (WorkloadDependency, scheduling gates) while it is the leader. Standbys keep their
// caches warm. Survives API-server outages: every component retries with backoff.
#pragma once

#include <CLI/CLI.hpp>

namespace tether::cli {

void RegisterControllerCommand(CLI::App& app);

}  // namespace tether::cli
