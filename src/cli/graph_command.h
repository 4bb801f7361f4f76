// `tether graph`: prints the WorkloadDependency graph of a namespace (-n) or the whole cluster
// (-A) as a text tree, Graphviz DOT or Mermaid, each node coloured by its phase. Also holds the
// connection helper shared by the read-only inspection commands (graph, why).
//
// Thread-safety: registration happens once at startup; the command runs on the main thread.
#pragma once

#include <memory>
#include <string>

#include "cli/flags.h"
#include "common/clock.h"
#include "common/error.h"
#include "kube/client.h"
#include "kube/resource.h"

namespace tether::cli {

// tether.dev/v1alpha1 workloaddependencies.
kube::Resource WorkloadDependencyResource();

// A client from --kubeconfig/--context (else KUBECONFIG, ~/.kube/config, in-cluster), and the
// namespace to use when none is given (the context's namespace).
struct Connection {
  std::unique_ptr<kube::Client> client;
  std::string default_namespace;
};
Result<Connection> Connect(const ConnectionFlags& flags, Clock& clock);

// Lists WorkloadDependencies in `ns` ("" = all namespaces), with a clear message when the CRD
// is not installed.
Result<std::vector<kube::Json>> ListWorkloadDependencies(kube::Client& client,
                                                         const std::string& ns);

void RegisterGraphCommand(CLI::App& app);

}  // namespace tether::cli
