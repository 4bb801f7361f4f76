#include "cli/manifests_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <sstream>

#include "deps/crd.h"

namespace tether::cli {
namespace {

struct Document {
  std::string kind;
  std::string name;
  std::string text;  // without the leading "---"
};

std::string Trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string Unquote(std::string s) {
  s = Trim(std::move(s));
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// Splits a YAML stream into documents at "---" lines and finds each one's top-level kind and
// metadata.name (enough for ordering; the text itself is passed through untouched).
std::vector<Document> SplitDocuments(const std::string& yaml) {
  std::vector<Document> docs(1);
  std::istringstream in(yaml);
  std::string line;
  bool in_metadata = false;
  while (std::getline(in, line)) {
    if (line == "---" || line.rfind("--- ", 0) == 0) {
      docs.emplace_back();
      in_metadata = false;
      continue;
    }
    Document& d = docs.back();
    d.text += line + "\n";
    if (line.rfind("kind:", 0) == 0) d.kind = Unquote(line.substr(5));
    if (line.rfind("metadata:", 0) == 0) {
      in_metadata = true;
    } else if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_metadata = false;
    }
    if (in_metadata && line.rfind("  name:", 0) == 0 && d.name.empty()) {
      d.name = Unquote(line.substr(7));
    }
  }
  std::erase_if(docs, [](const Document& d) { return d.kind.empty(); });  // comments only
  return docs;
}

int KindOrder(const std::string& kind) {
  static const std::vector<std::string> kOrder = {
      "Namespace",
      "CustomResourceDefinition",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "ConfigMap",
      "Secret",
      "Service",
      "PodDisruptionBudget",
      "Deployment",
  };
  if (kind == "ValidatingWebhookConfiguration" || kind == "MutatingWebhookConfiguration") {
    return 100;  // last: their Service and Deployment must exist first
  }
  auto it = std::find(kOrder.begin(), kOrder.end(), kind);
  return it == kOrder.end() ? 50 : static_cast<int>(it - kOrder.begin());
}

bool IsInstallFile(const std::string& path) {
  if (path.find("/examples/") != std::string::npos) return false;
  std::string base = path.substr(path.rfind('/') + 1);
  return base != "kustomization.yaml" && base != "kustomization.yml";
}

}  // namespace

std::string InstallManifests(const std::string& crd_yaml,
                             const std::vector<ManifestFile>& deploy_files, bool crds_only) {
  std::vector<Document> generated = SplitDocuments(crd_yaml);
  std::vector<Document> docs = generated;
  for (const ManifestFile& f : deploy_files) {
    if (!IsInstallFile(f.path)) continue;
    for (Document& d : SplitDocuments(f.content)) {
      if (d.kind == "Kustomization") continue;
      bool duplicate = std::any_of(generated.begin(), generated.end(), [&](const Document& g) {
        return g.kind == d.kind && g.name == d.name;
      });
      if (!duplicate) docs.push_back(std::move(d));
    }
  }
  if (crds_only) {
    std::erase_if(docs, [](const Document& d) { return d.kind != "CustomResourceDefinition"; });
  }
  std::stable_sort(docs.begin(), docs.end(), [](const Document& a, const Document& b) {
    return KindOrder(a.kind) < KindOrder(b.kind);
  });
  std::string out =
      "# tether install manifests. Apply with: tether manifests | kubectl apply -f -\n";
  for (const Document& d : docs) {
    out += "---\n";
    out += d.text;
    if (!d.text.empty() && d.text.back() != '\n') out += "\n";
  }
  return out;
}

void RegisterManifestsCommand(CLI::App& app) {
  auto crds_only = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "manifests",
      "Print the install manifests (CRDs, RBAC, Deployments, webhook configurations) as YAML");
  AddBoolFlag(cmd, "crds-only", *crds_only, "Print only the CustomResourceDefinitions");
  cmd->callback([crds_only] {
    fmt::print("{}", InstallManifests(deps::WorkloadDependencyCrdYaml(), EmbeddedDeployFiles(),
                                      *crds_only));
  });
}

}  // namespace tether::cli
