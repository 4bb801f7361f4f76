#include "cli/manifests_command.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <regex>
#include <set>
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

bool IsContentLine(const std::string& line) {
  std::string t = Trim(line);
  return !t.empty() && t[0] != '#';
}

// Splits a YAML stream into documents at "---" lines and finds each one's top-level kind and
// metadata.name (enough for ordering; the text itself is passed through untouched, comments
// included). Comment-only documents are dropped; a document with content but no kind or name
// is an error naming `source` and the document's position.
Result<std::vector<Document>> SplitDocuments(const std::string& yaml, const std::string& source) {
  std::vector<Document> docs(1);
  std::vector<bool> has_content(1, false);
  std::istringstream in(yaml);
  std::string line;
  bool in_metadata = false;
  while (std::getline(in, line)) {
    if (line == "---" || line.rfind("--- ", 0) == 0) {
      docs.emplace_back();
      has_content.push_back(false);
      in_metadata = false;
      continue;
    }
    Document& d = docs.back();
    d.text += line + "\n";
    if (IsContentLine(line)) has_content.back() = true;
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
  std::vector<Document> out;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (!has_content[i]) continue;
    if (docs[i].kind.empty() || docs[i].name.empty()) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: document {} has no top-level {}; every install manifest "
                              "needs apiVersion, kind and metadata.name",
                              source, i + 1, docs[i].kind.empty() ? "kind" : "metadata.name"));
    }
    out.push_back(std::move(docs[i]));
  }
  return out;
}

int KindOrder(const std::string& kind) {
  // As kustomize orders a build: what others reference comes first.
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

// "deploy/./controller/../rbac/x.yaml" → "deploy/rbac/x.yaml"; nullopt when it leaves the root.
std::optional<std::string> NormalizePath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

std::string Dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

const ManifestFile* FindFile(const std::vector<ManifestFile>& files, const std::string& path) {
  for (const auto& f : files) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

Result<void> Resolve(const std::vector<ManifestFile>& files, const std::string& path,
                     std::vector<std::string>& stack, Kustomization& out) {
  if (std::find(stack.begin(), stack.end(), path) != stack.end()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{} includes itself through its resources; remove the cycle", path));
  }
  const ManifestFile* file = FindFile(files, path);
  if (file == nullptr) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("{} is not among the embedded deploy/ files", path));
  }
  YAML::Node root;
  try {
    root = YAML::Load(file->content);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: invalid YAML: {}", path, e.what()));
  }
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: expected a Kustomization mapping", path));
  }
  static const std::set<std::string> kSupported = {"apiVersion", "kind", "resources", "images"};
  for (const auto& entry : root) {
    std::string key = entry.first.as<std::string>("");
    if (!kSupported.count(key)) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: field '{}' is not supported by tether manifests (only "
                              "resources and images are); put it in an overlay of your own, or "
                              "teach src/cli/manifests_command.cc the same transformation",
                              path, key));
    }
  }
  stack.push_back(path);
  const std::string dir = Dir(path);
  YAML::Node resources = root["resources"];
  if (resources && !resources.IsSequence()) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: resources must be a list of paths", path));
  }
  for (std::size_t i = 0; resources && i < resources.size(); ++i) {
    std::string entry = resources[i].IsScalar() ? resources[i].Scalar() : "";
    auto resolved = NormalizePath(dir + "/" + entry);
    if (entry.empty() || entry.find("://") != std::string::npos || !resolved) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("{}: resources[{}] \"{}\" is not a path inside deploy/ (remote and "
                              "empty resources are not supported)",
                              path, i, entry));
    }
    if (FindFile(files, *resolved + "/kustomization.yaml") != nullptr) {
      if (auto nested = Resolve(files, *resolved + "/kustomization.yaml", stack, out); !nested) {
        return nested;
      }
    } else if (FindFile(files, *resolved) != nullptr) {
      if (std::find(out.resource_files.begin(), out.resource_files.end(), *resolved) ==
          out.resource_files.end()) {
        out.resource_files.push_back(*resolved);
      }
    } else {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("{}: resources[{}] \"{}\" ({}) is neither a YAML file nor a "
                              "directory with a kustomization.yaml under deploy/",
                              path, i, entry, *resolved));
    }
  }
  YAML::Node images = root["images"];
  if (images && !images.IsSequence()) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: images must be a list", path));
  }
  for (std::size_t i = 0; images && i < images.size(); ++i) {
    const YAML::Node& img = images[i];
    if (!img.IsMap() || !img["name"]) {
      return Fail(
          ErrorCode::kInvalid,
          fmt::format("{}: images[{}] needs a name (and newName, newTag or digest)", path, i));
    }
    out.images.push_back({img["name"].as<std::string>(""), img["newName"].as<std::string>(""),
                          img["newTag"].as<std::string>(""), img["digest"].as<std::string>("")});
  }
  stack.pop_back();
  return {};
}

struct ImageRef {
  std::string name, tag, digest;
};

ImageRef SplitImage(const std::string& ref) {
  ImageRef out;
  std::string rest = ref;
  if (auto at = rest.find('@'); at != std::string::npos) {
    out.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  auto colon = rest.rfind(':');
  auto slash = rest.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    out.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  out.name = rest;
  return out;
}

std::string ApplyImageOverrides(const std::string& ref, const std::vector<ImageOverride>& all) {
  ImageRef image = SplitImage(ref);
  const std::string original = image.name;
  for (const ImageOverride& o : all) {
    if (o.name != original) continue;
    if (!o.new_name.empty()) image.name = o.new_name;
    if (!o.new_tag.empty()) {
      image.tag = o.new_tag;
      image.digest.clear();
    }
    if (!o.digest.empty()) {
      image.digest = o.digest;
      image.tag.clear();
    }
  }
  std::string out = image.name;
  if (!image.tag.empty()) out += ":" + image.tag;
  if (!image.digest.empty()) out += "@" + image.digest;
  return out;
}

// Rewrites `image:` lines (block style, as deploy/ writes them) in a document's text.
std::string RewriteImages(const std::string& text, const std::vector<ImageOverride>& overrides) {
  if (overrides.empty()) return text;
  static const std::regex kImageLine(R"(^(\s*(?:-\s+)?image:\s*)(["']?)([^"'\s#]+)\2(.*)$)");
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kImageLine)) {
      line = m[1].str() + m[2].str() + ApplyImageOverrides(m[3].str(), overrides) + m[2].str() +
             m[4].str();
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

Result<ImageOverride> ParseImageFlag(const std::string& reference) {
  static const std::regex kReference(
      R"(^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
      R"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$)");
  if (reference.empty() || !std::regex_match(reference, kReference)) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("--image \"{}\" is not an image reference; use e.g. "
                            "\"registry.example.com/tether:0.1.0\" or \"...@sha256:<digest>\"",
                            reference));
  }
  ImageRef ref = SplitImage(reference);
  ImageOverride out{kTetherImageName, ref.name, ref.tag, ref.digest};
  if (out.new_tag.empty() && out.digest.empty()) out.new_tag = "latest";  // as docker reads it
  return out;
}

Result<Kustomization> ResolveKustomization(const std::vector<ManifestFile>& files,
                                           const std::string& kustomization) {
  Kustomization out;
  std::vector<std::string> stack;
  if (auto resolved = Resolve(files, kustomization, stack, out); !resolved) {
    return Fail(resolved.error());
  }
  return out;
}

Result<std::string> InstallManifests(const std::string& crd_yaml,
                                     const std::vector<ManifestFile>& deploy_files,
                                     const ManifestsOptions& options) {
  auto kustomization = ResolveKustomization(deploy_files, options.kustomization);
  if (!kustomization) return Fail(kustomization.error());
  auto generated = SplitDocuments(crd_yaml, "the generated CRD");
  if (!generated) return Fail(generated.error());
  std::vector<Document> docs = *generated;
  for (const std::string& path : kustomization->resource_files) {
    auto split = SplitDocuments(FindFile(deploy_files, path)->content, path);
    if (!split) return Fail(split.error());
    for (Document& d : *split) {
      bool duplicate = std::any_of(generated->begin(), generated->end(), [&](const Document& g) {
        return g.kind == d.kind && g.name == d.name;
      });
      if (!duplicate) docs.push_back(std::move(d));
    }
  }
  if (options.crds_only) {
    std::erase_if(docs, [](const Document& d) { return d.kind != "CustomResourceDefinition"; });
  }
  std::stable_sort(docs.begin(), docs.end(), [](const Document& a, const Document& b) {
    return KindOrder(a.kind) < KindOrder(b.kind);
  });
  std::vector<ImageOverride> images = kustomization->images;
  images.insert(images.end(), options.images.begin(), options.images.end());
  std::string out =
      "# tether install manifests. Apply with: tether manifests | kubectl apply -f -\n";
  for (const Document& d : docs) {
    out += "---\n";
    out += RewriteImages(d.text, images);
    if (!d.text.empty() && d.text.back() != '\n') out += "\n";
  }
  return out;
}

void RegisterManifestsCommand(CLI::App& app) {
  auto crds_only = std::make_shared<bool>(false);
  auto image = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "manifests",
      "Print the install manifests (what kubectl apply -k deploy/ applies) as one YAML stream");
  AddBoolFlag(cmd, "crds-only", *crds_only, "Print only the CustomResourceDefinitions");
  AddFlag(cmd, "image", *image,
          fmt::format("Run this image instead of {}:<version> (e.g. a mirror or a local build)",
                      kTetherImageName));
  cmd->callback([crds_only, image] {
    ManifestsOptions options;
    options.crds_only = *crds_only;
    if (!image->empty()) {
      auto parsed = ParseImageFlag(*image);
      if (!parsed) {
        fmt::print(stderr, "tether: error: {}\n", parsed.error().message);
        std::exit(2);
      }
      options.images.push_back(*parsed);
    }
    auto out = InstallManifests(deps::WorkloadDependencyCrdYaml(), EmbeddedDeployFiles(), options);
    if (!out) {
      fmt::print(stderr, "tether: error: {}\n", out.error().message);
      std::exit(1);
    }
    fmt::print("{}", *out);
  });
}

}  // namespace tether::cli
