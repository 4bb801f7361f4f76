// `tether manifests`: prints the install manifests as one multi-document YAML stream — the
// WorkloadDependency CRD from its generator (deps/crd.h, the single source of truth) followed by
// the manifests under deploy/ (embedded at build time by manifests_command.cmake), ordered so
// that `kubectl apply -f -` succeeds in one pass (namespaces, CRDs, RBAC, workloads, then
// webhook configurations). Examples and kustomization files are not install manifests and are
// left out; the committed copy of the generated CRD is replaced by the generator's output.
//
// Thread-safety: the pure functions are thread-safe; registration happens once at startup.
#pragma once

#include <string>
#include <vector>

#include "cli/flags.h"

namespace tether::cli {

struct ManifestFile {
  std::string path;  // relative to the repository root, e.g. "deploy/rbac/controller.yaml"
  std::string content;
};

// The YAML files under deploy/ at build time (generated source).
const std::vector<ManifestFile>& EmbeddedDeployFiles();

// The full stream: `crd_yaml` first among the CRDs, then every document of `deploy_files` that
// is an install manifest, in apply order (stable within a kind). `crds_only` keeps only CRDs.
std::string InstallManifests(const std::string& crd_yaml,
                             const std::vector<ManifestFile>& deploy_files, bool crds_only);

void RegisterManifestsCommand(CLI::App& app);

}  // namespace tether::cli
