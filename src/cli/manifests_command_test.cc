#include "cli/manifests_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli/controller_command.h"
#include "deps/crd.h"
#include "testing/apiserver.h"

namespace tether::cli {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;
using Json = nlohmann::json;

const char kCrd[] =
    "# generated\n---\napiVersion: \"apiextensions.k8s.io/v1\"\nkind: "
    "\"CustomResourceDefinition\"\n"
    "metadata:\n  name: \"workloaddependencies.tether.dev\"\nspec: {}\n";

std::size_t Pos(const std::string& s, const std::string& needle) {
  auto p = s.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  return p;
}

ManifestFile KustomizationFile(const std::string& dir, const std::vector<std::string>& resources,
                               const std::string& extra = "") {
  std::string text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";
  text += "resources:\n";
  for (const auto& r : resources) text += "  - " + r + "\n";
  return {dir + "/kustomization.yaml", text + extra};
}

std::string MustInstall(const std::vector<ManifestFile>& files, ManifestsOptions options = {}) {
  auto out = InstallManifests(kCrd, files, options);
  EXPECT_TRUE(out.has_value()) << out.error().message;
  return out.value_or("");
}

// ---------------------------------------------------------------------------------------------
// InstallManifests on synthetic trees.

TEST(ManifestsTest, OrdersDocumentsForASinglePassApply) {
  std::vector<ManifestFile> files = {
      KustomizationFile("deploy", {"webhook.yaml", "controller.yaml", "namespace.yaml"}),
      {"deploy/webhook.yaml", "kind: ValidatingWebhookConfiguration\nmetadata:\n  name: tether\n"},
      {"deploy/controller.yaml",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tether-controller\n---\n"
       "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: tether-controller\n"},
      {"deploy/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tether\n"},
  };
  std::string out = MustInstall(files);
  std::size_t ns = Pos(out, "kind: Namespace");
  std::size_t crd = Pos(out, "kind: \"CustomResourceDefinition\"");
  std::size_t sa = Pos(out, "kind: ServiceAccount");
  std::size_t deploy = Pos(out, "kind: Deployment");
  std::size_t webhook = Pos(out, "kind: ValidatingWebhookConfiguration");
  EXPECT_LT(ns, crd);
  EXPECT_LT(crd, sa);
  EXPECT_LT(sa, deploy);
  EXPECT_LT(deploy, webhook);
  EXPECT_EQ(out.rfind("# tether install manifests", 0), 0u);
}

TEST(ManifestsTest, GeneratedCrdReplacesTheCommittedCopy) {
  std::vector<ManifestFile> files = {
      KustomizationFile("deploy", {"crds/wd.yaml"}),
      {"deploy/crds/wd.yaml",
       "# stale copy\n---\nkind: CustomResourceDefinition\nmetadata:\n  name: "
       "workloaddependencies.tether.dev\nspec: {stale: true}\n"},
  };
  std::string out = MustInstall(files);
  EXPECT_THAT(out, Not(HasSubstr("stale")));
  EXPECT_THAT(out, HasSubstr("workloaddependencies.tether.dev"));
}

TEST(ManifestsTest, PrintsExactlyWhatTheKustomizationLists) {
  std::vector<ManifestFile> files = {
      KustomizationFile("deploy", {"./rbac.yaml", "controller"}),
      {"deploy/rbac.yaml", "kind: ClusterRole\nmetadata:\n  name: listed-role\n"},
      {"deploy/unlisted.yaml", "kind: ConfigMap\nmetadata:\n  name: not-listed\n"},
      {"deploy/examples/payments.yaml", "kind: WorkloadDependency\nmetadata:\n  name: example\n"},
      // A directory resource is its own kustomization, resolved relative to it.
      KustomizationFile("deploy/controller", {"deployment.yaml", "../shared.yaml"}),
      {"deploy/controller/deployment.yaml", "kind: Deployment\nmetadata:\n  name: nested\n"},
      {"deploy/controller/stray.yaml", "kind: Secret\nmetadata:\n  name: stray\n"},
      {"deploy/shared.yaml", "kind: Service\nmetadata:\n  name: shared-svc\n"},
  };
  std::string out = MustInstall(files);
  EXPECT_THAT(out, HasSubstr("listed-role"));
  EXPECT_THAT(out, HasSubstr("name: nested"));
  EXPECT_THAT(out, HasSubstr("shared-svc"));
  EXPECT_THAT(out, Not(HasSubstr("not-listed")));
  EXPECT_THAT(out, Not(HasSubstr("example")));
  EXPECT_THAT(out, Not(HasSubstr("stray")));
  EXPECT_THAT(out, Not(HasSubstr("Kustomization")));

  auto resolved = ResolveKustomization(files, kRootKustomization);
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_THAT(
      resolved->resource_files,
      ElementsAre("deploy/rbac.yaml", "deploy/controller/deployment.yaml", "deploy/shared.yaml"));
}

TEST(ManifestsTest, AKustomizationItCannotReproduceIsAnErrorNotASilentDifference) {
  auto error_for = [](std::vector<ManifestFile> files) {
    auto out = InstallManifests(kCrd, files, {});
    return out ? std::string("(no error)") : out.error().message;
  };
  EXPECT_THAT(error_for({KustomizationFile("deploy", {"missing.yaml"})}),
              HasSubstr("resources[0] \"missing.yaml\""));
  EXPECT_THAT(error_for({KustomizationFile("deploy", {"https://example.com/x.yaml"})}),
              HasSubstr("not a path inside deploy/"));
  EXPECT_THAT(error_for({KustomizationFile("deploy", {"../../etc/passwd"})}),
              HasSubstr("not a path inside deploy/"));
  EXPECT_THAT(error_for({KustomizationFile("deploy", {}, "namespace: elsewhere\n")}),
              HasSubstr("field 'namespace' is not supported"));
  EXPECT_THAT(
      error_for({KustomizationFile("deploy", {"a"}), KustomizationFile("deploy/a", {".."})}),
      HasSubstr("includes itself"));
  EXPECT_THAT(error_for({}), HasSubstr("deploy/kustomization.yaml is not among"));
  EXPECT_THAT(error_for({KustomizationFile("deploy", {"x.yaml"}),
                         {"deploy/x.yaml", "apiVersion: v1\nmetadata:\n  name: no-kind\n"}}),
              HasSubstr("deploy/x.yaml: document 1 has no top-level kind"));
  EXPECT_THAT(error_for({KustomizationFile("deploy", {"x.yaml"}),
                         {"deploy/x.yaml", "# c\n---\nkind: Service\nmetadata: {}\n"}}),
              HasSubstr("deploy/x.yaml: document 2 has no top-level metadata.name"));
}

TEST(ManifestsTest, CrdsOnly) {
  std::vector<ManifestFile> files = {
      KustomizationFile("deploy", {"rbac.yaml"}),
      {"deploy/rbac.yaml", "kind: ClusterRole\nmetadata:\n  name: tether\n"}};
  ManifestsOptions options;
  options.crds_only = true;
  std::string out = MustInstall(files, options);
  EXPECT_THAT(out, HasSubstr("CustomResourceDefinition"));
  EXPECT_THAT(out, Not(HasSubstr("ClusterRole")));
}

TEST(ManifestsTest, ImagesFromTheKustomizationAndTheImageFlag) {
  const std::string deployment =
      "kind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n"
      "      containers:\n"
      "        - name: tether\n          image: ghcr.io/tether-dev/tether:0.1.0\n"
      "        - image: \"docker.io/library/busybox:1.36\"  # sidecar\n          name: other\n";
  std::vector<ManifestFile> files = {
      KustomizationFile("deploy", {"d.yaml"},
                        "images:\n  - name: ghcr.io/tether-dev/tether\n    newTag: 0.2.0\n"),
      {"deploy/d.yaml", deployment}};
  std::string out = MustInstall(files);
  EXPECT_THAT(out, HasSubstr("image: ghcr.io/tether-dev/tether:0.2.0\n"));
  EXPECT_THAT(out, HasSubstr("- image: \"docker.io/library/busybox:1.36\"  # sidecar\n"));

  auto flag = ParseImageFlag("localhost:5000/team/tether:dev");
  ASSERT_TRUE(flag.has_value()) << flag.error().message;
  ManifestsOptions options;
  options.images = {*flag};
  out = MustInstall(files, options);
  EXPECT_THAT(out, HasSubstr("image: localhost:5000/team/tether:dev\n"));
  EXPECT_THAT(out, HasSubstr("busybox:1.36"));

  const std::string digest(64, 'a');
  flag = ParseImageFlag("mirror.example/tether@sha256:" + digest);
  ASSERT_TRUE(flag.has_value()) << flag.error().message;
  options.images = {*flag};
  out = MustInstall(files, options);
  EXPECT_THAT(out, HasSubstr("image: mirror.example/tether@sha256:" + digest + "\n"));

  flag = ParseImageFlag("mirror.example/tether");
  ASSERT_TRUE(flag.has_value());
  EXPECT_EQ(flag->new_tag, "latest");
  for (const char* bad : {"", "Mirror/Tether:1", "tether:", "tether@sha256:xyz", "a b"}) {
    EXPECT_FALSE(ParseImageFlag(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// The shipped deploy/ tree.

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::filesystem::path& SourceDir() {
  static const std::filesystem::path dir(TETHER_SOURCE_DIR);
  return dir;
}

// YAML → JSON as the API server reads it (quoted scalars stay strings).
Json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) out[kv.first.Scalar()] = ToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      static const std::regex kInt("-?[0-9]+");
      if (std::regex_match(s, kInt)) return std::stoll(s);
      return s;
    }
    default:
      return nullptr;
  }
}

std::vector<Json> ParseStream(const std::string& yaml) {
  std::vector<Json> out;
  for (const YAML::Node& doc : YAML::LoadAll(yaml)) {
    if (doc.IsNull()) continue;
    out.push_back(ToJson(doc));
  }
  return out;
}

std::string Key(const Json& obj) {
  return obj.value("apiVersion", "") + " " + obj.value("kind", "") + " " +
         obj["metadata"].value("namespace", "") + "/" + obj["metadata"].value("name", "");
}

// The test's own reading of deploy/kustomization.yaml from the source tree (independent of
// ResolveKustomization): every file it lists, following directory entries.
void ListedFiles(const std::filesystem::path& kustomization, std::vector<std::string>& out) {
  YAML::Node root = YAML::LoadFile(kustomization.string());
  for (const auto& entry : root["resources"]) {
    auto path = (kustomization.parent_path() / entry.Scalar()).lexically_normal();
    if (std::filesystem::is_directory(path)) {
      ListedFiles(path / "kustomization.yaml", out);
    } else {
      out.push_back(path.lexically_relative(SourceDir()).string());
    }
  }
}

class ShippedManifestsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto out = InstallManifests(deps::WorkloadDependencyCrdYaml(), EmbeddedDeployFiles(), {});
    ASSERT_TRUE(out.has_value()) << out.error().message;
    stream_ = new std::string(*out);
    objects_ = new std::vector<Json>(ParseStream(*out));
  }
  static void TearDownTestSuite() {
    delete stream_;
    delete objects_;
  }

  static const Json& Find(const std::string& kind, const std::string& name) {
    static const Json kNone;
    for (const Json& o : *objects_) {
      if (o["kind"] == kind && o["metadata"]["name"] == name) return o;
    }
    ADD_FAILURE() << kind << "/" << name << " is not in tether manifests";
    return kNone;
  }
  static const Json& Controller() { return Find("Deployment", "tether-controller"); }
  static const Json& ControllerContainer() {
    return Controller()["spec"]["template"]["spec"]["containers"][0];
  }

  static std::string* stream_;
  static std::vector<Json>* objects_;
};
std::string* ShippedManifestsTest::stream_ = nullptr;
std::vector<Json>* ShippedManifestsTest::objects_ = nullptr;

TEST_F(ShippedManifestsTest, EveryDocumentIsAnObjectAndTheSetIsWhatTheKustomizationLists) {
  std::multiset<std::string> printed;
  for (const Json& o : *objects_) {
    SCOPED_TRACE(o.dump().substr(0, 200));
    ASSERT_TRUE(o.is_object());
    EXPECT_FALSE(o.value("apiVersion", "").empty());
    EXPECT_FALSE(o.value("kind", "").empty());
    ASSERT_TRUE(o.contains("metadata"));
    EXPECT_FALSE(o["metadata"].value("name", "").empty());
    printed.insert(Key(o));
  }
  std::vector<std::string> files;
  ListedFiles(SourceDir() / "deploy" / "kustomization.yaml", files);
  std::multiset<std::string> listed;
  for (const auto& f : files) {
    for (const Json& o : ParseStream(ReadFile(SourceDir() / f))) listed.insert(Key(o));
  }
  EXPECT_EQ(printed, listed);
  EXPECT_EQ(std::set<std::string>(printed.begin(), printed.end()).size(), printed.size())
      << "an object is printed twice";
  for (const char* kind : {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                           "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service",
                           "PodDisruptionBudget"}) {
    EXPECT_TRUE(std::any_of(objects_->begin(), objects_->end(),
                            [&](const Json& o) { return o["kind"] == kind; }))
        << "no " << kind << " is shipped";
  }
}

TEST_F(ShippedManifestsTest, EveryInstallFileUnderDeployIsListedInTheKustomization) {
  std::vector<std::string> files;
  ListedFiles(SourceDir() / "deploy" / "kustomization.yaml", files);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SourceDir() / "deploy")) {
    auto rel = entry.path().lexically_relative(SourceDir()).string();
    auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
    if (rel.rfind("deploy/examples/", 0) == 0) continue;
    if (entry.path().filename() == "kustomization.yaml") continue;
    EXPECT_THAT(files, Contains(rel))
        << rel << " is under deploy/ but not in deploy/kustomization.yaml: kubectl apply -k and "
        << "tether manifests would both skip it";
  }
}

TEST_F(ShippedManifestsTest, EmbeddedCopyMatchesTheSourceTree) {
  for (const ManifestFile& f : EmbeddedDeployFiles()) {
    EXPECT_EQ(f.content, ReadFile(SourceDir() / f.path)) << f.path << " (rebuild tether)";
  }
}

// Expands $(VAR) references in a container argument as the kubelet does, from the container's
// env (fieldRef metadata.namespace/metadata.name resolved for a pod of `deployment`).
std::string ExpandArg(const std::string& arg, const Json& container, const Json& deployment) {
  std::map<std::string, std::string> env;
  for (const Json& e : container.value("env", Json::array())) {
    std::string value = e.value("value", "");
    if (e.contains("valueFrom")) {
      std::string field = e["valueFrom"]["fieldRef"].value("fieldPath", "");
      if (field == "metadata.namespace") {
        value = deployment["metadata"]["namespace"];
      } else if (field == "metadata.name") {
        value = deployment["metadata"]["name"].get<std::string>() + "-5d9c7b-x2x7q";
      } else {
        ADD_FAILURE() << "env " << e.dump() << ": the test does not know this source";
      }
    }
    env[e["name"].get<std::string>()] = value;
  }
  std::string out;
  for (std::size_t i = 0; i < arg.size(); ++i) {
    if (arg.compare(i, 3, "$$(") == 0) {
      out += "$(";
      i += 2;
    } else if (arg.compare(i, 2, "$(") == 0) {
      auto close = arg.find(')', i);
      std::string var = arg.substr(i + 2, close - i - 2);
      EXPECT_TRUE(close != std::string::npos && env.count(var))
          << "argument " << arg << " refers to $(" << var << "), which the container's env "
          << "does not define: Kubernetes would pass it through literally";
      out += env.count(var) ? env[var] : arg.substr(i, close - i + 1);
      i = close;
    } else {
      out += arg[i];
    }
  }
  return out;
}

// Parses `args` (starting with the subcommand name) with `tether controller`'s real flag
// definitions, stopping before the controller would run. Returns the parsed subcommand, or an
// error message.
struct ParsedController {
  std::unique_ptr<CLI::App> app;
  CLI::App* cmd = nullptr;
  std::string error;
};
struct ParsedOnly {};  // thrown once every flag has been parsed and validated
ParsedController ParseControllerArgs(const std::vector<std::string>& args) {
  ParsedController out;
  out.app = std::make_unique<CLI::App>("tether");
  RegisterControllerCommand(*out.app);
  out.cmd = out.app->get_subcommand("controller");
  // The top-level parse-complete callback runs after all flags are parsed and checked and before
  // any subcommand's callback (which would connect and run the controller). The subcommand's own
  // callback stays in place: it owns the storage its flags are bound to.
  out.app->parse_complete_callback([] { throw ParsedOnly{}; });
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    out.app->parse(reversed);
    out.error = "the parser returned without reaching the parse-complete callback";
  } catch (const ParsedOnly&) {
  } catch (const CLI::ParseError& e) {
    out.error = e.get_name() + ": " + e.what();
  }
  return out;
}

TEST(ControllerArgsCheckTest, RejectsWhatTetherControllerRejects) {
  EXPECT_EQ(ParseControllerArgs({"controller", "--leader-elect"}).error, "");
  EXPECT_NE(ParseControllerArgs({"controller", "--no-such-flag"}).error, "");
  EXPECT_NE(ParseControllerArgs({"controller", "--gate-reference-policy=everyone"}).error, "");
  EXPECT_NE(ParseControllerArgs({"controller", "--workers=0"}).error, "");
  EXPECT_NE(ParseControllerArgs({"controller", "--log-format=xml"}).error, "");
}

TEST_F(ShippedManifestsTest, ControllerArgsAreAcceptedByTetherController) {
  const Json& container = ControllerContainer();
  std::vector<std::string> args;
  for (const Json& a : container["args"])
    args.push_back(ExpandArg(a.get<std::string>(), container, Controller()));
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "controller") << "the image's ENTRYPOINT is tether; args start with the "
                                      "subcommand";
  EXPECT_FALSE(container.contains("command")) << "keep the image's ENTRYPOINT";
  ParsedController parsed = ParseControllerArgs(args);
  ASSERT_EQ(parsed.error, "") << "tether controller rejects the Deployment's args";
  EXPECT_TRUE(parsed.cmd->get_option("--leader-elect")->as<bool>());
  EXPECT_EQ(parsed.cmd->get_option("--leader-election-namespace")->as<std::string>(),
            "tether-system");
  EXPECT_EQ(parsed.cmd->get_option("--metrics-bind-address")->as<std::string>(), ":8080");
  EXPECT_EQ(parsed.cmd->get_option("--health-probe-bind-address")->as<std::string>(), ":8081");
  for (const Json& e : container.value("env", Json::array())) {
    std::string name = e["name"];
    if (name.rfind("TETHER_", 0) == 0) {
      std::string flag = name.substr(7);
      std::transform(flag.begin(), flag.end(), flag.begin(),
                     [](char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
      EXPECT_NE(parsed.cmd->get_option_no_throw("--" + flag), nullptr)
          << "env " << name << " is no tether controller flag's fallback";
    }
  }
}

int PortOf(const std::string& bind_address) {
  return std::stoi(bind_address.substr(bind_address.rfind(':') + 1));
}

bool Selects(const Json& match_labels, const Json& labels) {
  if (!match_labels.is_object() || match_labels.empty()) return false;
  for (const auto& [k, v] : match_labels.items()) {
    if (!labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

TEST_F(ShippedManifestsTest, ControllerDeploymentIsHighlyAvailableAndProbed) {
  const Json& spec = Controller()["spec"];
  const Json& pod_labels = spec["template"]["metadata"]["labels"];
  const Json& container = ControllerContainer();
  EXPECT_GE(spec["replicas"].get<int>(), 2);
  EXPECT_EQ(Controller()["metadata"]["namespace"], "tether-system");

  std::map<std::string, int> ports;
  for (const Json& p : container["ports"])
    ports[p["name"].get<std::string>()] = p["containerPort"].get<int>();
  std::vector<std::string> args;
  for (const Json& a : container["args"])
    args.push_back(ExpandArg(a.get<std::string>(), container, Controller()));
  ParsedController parsed = ParseControllerArgs(args);
  ASSERT_EQ(parsed.error, "");
  int health = PortOf(parsed.cmd->get_option("--health-probe-bind-address")->as<std::string>());
  int metrics = PortOf(parsed.cmd->get_option("--metrics-bind-address")->as<std::string>());
  EXPECT_EQ(ports["health"], health);
  EXPECT_EQ(ports["metrics"], metrics);
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["port"], "health");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["port"], "health");
  for (const char* r : {"requests", "limits"}) {
    EXPECT_TRUE(container["resources"][r].contains("cpu")) << r;
    EXPECT_TRUE(container["resources"][r].contains("memory")) << r;
  }

  // Image: the version `tether version` reports.
  EXPECT_EQ(container["image"], std::string(kTetherImageName) + ":" + TETHER_VERSION);

  // Spread over nodes.
  bool spread = false;
  for (const Json& c : spec["template"]["spec"].value("topologySpreadConstraints", Json())) {
    spread |= c["topologyKey"] == "kubernetes.io/hostname" &&
              Selects(c["labelSelector"]["matchLabels"], pod_labels);
  }
  EXPECT_TRUE(spread) << "no topology spread over kubernetes.io/hostname for the controller pods";

  EXPECT_TRUE(Selects(spec["selector"]["matchLabels"], pod_labels));
  const Json& service = Find("Service", "tether-controller-metrics");
  EXPECT_EQ(service["metadata"]["namespace"], Controller()["metadata"]["namespace"]);
  EXPECT_TRUE(Selects(service["spec"]["selector"], pod_labels));
  ASSERT_EQ(service["spec"]["ports"].size(), 1u);
  EXPECT_EQ(service["spec"]["ports"][0]["targetPort"], "metrics");

  const Json& pdb = Find("PodDisruptionBudget", "tether-controller");
  EXPECT_EQ(pdb["metadata"]["namespace"], Controller()["metadata"]["namespace"]);
  EXPECT_TRUE(Selects(pdb["spec"]["selector"]["matchLabels"], pod_labels));
  EXPECT_LT(pdb["spec"]["minAvailable"].get<int>(), spec["replicas"].get<int>())
      << "the budget must allow draining a node";
}

TEST_F(ShippedManifestsTest, ControllerPodMeetsRestrictedPodSecurity) {
  const Json& pod = Controller()["spec"]["template"]["spec"];
  const Json& psc = pod.value("securityContext", Json::object());
  EXPECT_FALSE(pod.value("hostNetwork", false));
  EXPECT_FALSE(pod.value("hostPID", false));
  EXPECT_FALSE(pod.value("hostIPC", false));
  for (const Json& v : pod.value("volumes", Json::array())) EXPECT_FALSE(v.contains("hostPath"));
  for (const Json& c : pod["containers"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const Json& sc = c.value("securityContext", Json::object());
    EXPECT_TRUE(sc.value("runAsNonRoot", psc.value("runAsNonRoot", false)));
    EXPECT_NE(sc.value("runAsUser", psc.value("runAsUser", 0)), 0);
    EXPECT_FALSE(sc.value("allowPrivilegeEscalation", true));
    EXPECT_FALSE(sc.value("privileged", false));
    EXPECT_TRUE(sc.value("readOnlyRootFilesystem", false));
    EXPECT_THAT(sc["capabilities"].value("drop", Json::array()), Contains("ALL"));
    EXPECT_FALSE(sc["capabilities"].contains("add"));
    Json seccomp = sc.value("seccompProfile", psc.value("seccompProfile", Json::object()));
    EXPECT_EQ(seccomp.value("type", ""), "RuntimeDefault");
  }
  const Json& ns = Find("Namespace", Controller()["metadata"]["namespace"].get<std::string>());
  EXPECT_EQ(ns["metadata"]["labels"].value("pod-security.kubernetes.io/enforce", ""), "restricted");
}

// Rules of `role_kind`/`role_name` that grant `verb` on `resource` in `group`.
bool Grants(const Json& role, const std::string& group, const std::string& resource,
            const std::string& verb) {
  for (const Json& rule : role.value("rules", Json::array())) {
    auto has = [&](const char* field, const std::string& v) {
      for (const Json& x : rule.value(field, Json::array())) {
        if (x == v || x == "*") return true;
      }
      return false;
    };
    if (has("apiGroups", group) && has("resources", resource) && has("verbs", verb)) return true;
  }
  return false;
}

TEST_F(ShippedManifestsTest, ControllerServiceAccountIsTheOneTheControllerRbacBinds) {
  const std::string ns = Controller()["metadata"]["namespace"];
  const std::string sa = Controller()["spec"]["template"]["spec"].value("serviceAccountName", "");
  ASSERT_FALSE(sa.empty()) << "the controller would run as the namespace's default account";
  const Json& account = Find("ServiceAccount", sa);
  ASSERT_FALSE(account.is_null());
  EXPECT_EQ(account["metadata"]["namespace"], ns);

  // What each binding of this account grants, by role.
  auto subject_is_sa = [&](const Json& binding) {
    for (const Json& s : binding.value("subjects", Json::array())) {
      if (s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns) return true;
    }
    return false;
  };
  bool reconcile = false, scale = false, lease = false;
  for (const Json& b : *objects_) {
    if ((b["kind"] != "ClusterRoleBinding" && b["kind"] != "RoleBinding") || !subject_is_sa(b)) {
      continue;
    }
    const Json& role =
        Find(b["roleRef"]["kind"].get<std::string>(), b["roleRef"]["name"].get<std::string>());
    if (b["roleRef"]["kind"] == "Role") {
      EXPECT_EQ(role["metadata"]["namespace"], b["metadata"]["namespace"]);
    }
    if (b["kind"] == "ClusterRoleBinding") {
      reconcile |= Grants(role, "tether.dev", "workloaddependencies", "watch") &&
                   Grants(role, "tether.dev", "workloaddependencies/status", "update");
      scale |= Grants(role, "apps", "deployments/scale", "update");
    }
    // Leader election happens in --leader-election-namespace, i.e. the pod's namespace.
    if (b["kind"] == "RoleBinding" && b["metadata"]["namespace"] == ns) {
      lease |= Grants(role, "coordination.k8s.io", "leases", "get") &&
               Grants(role, "coordination.k8s.io", "leases", "create") &&
               Grants(role, "coordination.k8s.io", "leases", "update");
    }
  }
  EXPECT_TRUE(reconcile) << sa << " may not reconcile WorkloadDependencies";
  EXPECT_TRUE(scale) << sa << " may not scale Deployments";
  EXPECT_TRUE(lease) << sa << " may not hold the leader-election Lease in " << ns;
}

// Creates `obj` as kubectl would: kind → resource through discovery, then POST.
Result<Json> CreateLikeKubectl(testing::ApiServer& server, const Json& obj) {
  std::string api_version = obj["apiVersion"];
  std::string group = api_version.find('/') == std::string::npos
                          ? ""
                          : api_version.substr(0, api_version.find('/'));
  auto type = server.registry().FindKind(group, obj["kind"].get<std::string>());
  if (!type) {
    return Fail(ErrorCode::kNotFound,
                "the server does not serve " + obj["kind"].dump() + " in group \"" + group + "\"");
  }
  std::string ns = type->namespaced ? obj["metadata"].value("namespace", "default") : "";
  return server.Create(api_version, type->resource, ns, obj);
}

TEST_F(ShippedManifestsTest, AppliesToTheApiServerAndTheExamplesAreAccepted) {
  auto server = testing::ApiServer::Start();
  ASSERT_TRUE(server.has_value()) << server.error().message;
  for (const Json& obj : *objects_) {  // in the printed order: one pass must succeed
    auto created = CreateLikeKubectl(**server, obj);
    EXPECT_TRUE(created.has_value()) << Key(obj) << ": " << created.error().message;
  }
  auto crd = (*server)->Get("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                            "workloaddependencies.tether.dev");
  ASSERT_TRUE(crd.has_value());

  int examples = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(SourceDir() / "deploy" / "examples")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const Json& obj : ParseStream(ReadFile(entry.path()))) {
      SCOPED_TRACE(entry.path().filename().string());
      ++examples;
      std::string ns = obj["metadata"].value("namespace", "default");
      (void)(*server)->Create("v1", "namespaces", "",
                              {{"apiVersion", "v1"},
                               {"kind", "Namespace"},
                               {"metadata", {{"name", ns}}}});  // may exist already
      auto created = CreateLikeKubectl(**server, obj);
      EXPECT_TRUE(created.has_value()) << Key(obj) << ": " << created.error().message;
    }
  }
  EXPECT_GE(examples, 5);
}

}  // namespace
}  // namespace tether::cli
