// `tether manifests`: prints the install manifests as one multi-document YAML stream — what
// `kubectl apply -k deploy/` applies. deploy/kustomization.yaml is the single list of what is
// shipped: its `resources` (files, or directories with their own kustomization.yaml) are read
// from the copy of deploy/ embedded at build time (manifests_command.cmake), its `images`
// overrides are applied, and the documents are ordered so that `kubectl apply -f -` succeeds in
// one pass (namespaces, CRDs, service accounts, RBAC, services, workloads, then webhook
// configurations; stable within a kind). The WorkloadDependency CRD comes from its generator
// (deps/crd.h, the single source of truth) and replaces the committed copy under deploy/crds/.
// Kustomize features beyond `resources` and `images` are rejected rather than ignored, so this
// output can never silently differ from `kubectl apply -k`.
//
// Thread-safety: the pure functions are thread-safe; registration happens once at startup.
#pragma once

#include <string>
#include <vector>

#include "cli/flags.h"
#include "common/error.h"

namespace tether::cli {

// The image the shipped workloads run (tagged with the version `tether version` reports).
inline constexpr char kTetherImageName[] = "ghcr.io/tether-dev/tether";
// The root kustomization, relative to the repository root.
inline constexpr char kRootKustomization[] = "deploy/kustomization.yaml";

struct ManifestFile {
  std::string path;  // relative to the repository root, e.g. "deploy/rbac/controller.yaml"
  std::string content;
};

// The YAML files under deploy/ at build time (generated source), sorted by path.
const std::vector<ManifestFile>& EmbeddedDeployFiles();

// One `images:` entry of a kustomization: containers whose image name (without tag or digest)
// is `name` get `new_name`, `new_tag` and/or `digest` (a digest wins over a tag), as kustomize
// does.
struct ImageOverride {
  std::string name;
  std::string new_name;
  std::string new_tag;
  std::string digest;
};

// Parses "registry/repo[:tag][@sha256:...]" into an override of kTetherImageName (the
// `tether manifests --image` flag). Fails on an empty or malformed reference.
Result<ImageOverride> ParseImageFlag(const std::string& reference);

struct ManifestsOptions {
  bool crds_only = false;             // keep only CustomResourceDefinitions
  std::vector<ImageOverride> images;  // applied after the kustomization's own `images`
  std::string kustomization = kRootKustomization;
};

// The resource files `kustomization` lists (transitively through directory entries), in
// kustomization order, and the image overrides it declares. Fails — naming the file, the entry
// and the fix — on a missing or remote resource, a cycle, or a field other than
// apiVersion/kind/resources/images.
struct Kustomization {
  std::vector<std::string> resource_files;  // repository-relative paths
  std::vector<ImageOverride> images;
};
Result<Kustomization> ResolveKustomization(const std::vector<ManifestFile>& files,
                                           const std::string& kustomization);

// The full install stream (see the file comment). Fails on an unresolvable kustomization or a
// document without a kind or metadata.name.
Result<std::string> InstallManifests(const std::string& crd_yaml,
                                     const std::vector<ManifestFile>& deploy_files,
                                     const ManifestsOptions& options = {});

void RegisterManifestsCommand(CLI::App& app);

}  // namespace tether::cli
