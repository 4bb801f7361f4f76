#include "kube/config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "kube/exec_credential.h"

namespace tether::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tether-kubeconfig-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    const fs::path p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }

 private:
  std::string path_;
};

// base64 of "CA-PEM", "CERT-PEM", "KEY-PEM".
constexpr char kCaB64[] = "Q0EtUEVN";
constexpr char kCertB64[] = "Q0VSVC1QRU0=";
constexpr char kKeyB64[] = "S0VZLVBFTQ==";

class KubeconfigTest : public ::testing::Test {
 protected:
  LoadOptions Opts(std::map<std::string, std::string> env = {}) {
    LoadOptions o;
    o.getenv = [env = std::move(env)](const std::string& k) -> std::optional<std::string> {
      auto it = env.find(k);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    return o;
  }
  Result<RestConfig> LoadFile(const std::string& file, const std::string& context = "") {
    LoadOptions o = Opts();
    o.kubeconfig = file;
    o.context = context;
    return LoadKubeconfig(o, clock_);
  }
  static std::string TokenOf(const RestConfig& c) {
    if (!c.credentials) return "<none>";
    auto cred = c.credentials->Get();
    return cred ? cred->token : "<error: " + cred.error().message + ">";
  }

  FakeClock clock_;
  TempDir dir_;
};

TEST_F(KubeconfigTest, ResolvesCurrentContextWithInlineData) {
  const std::string k = dir_.Write("config", fmt::format(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: {}
    tls-server-name: api.internal
    proxy-url: http://proxy:3128
users:
- name: alice
  user:
    client-certificate-data: {}
    client-key-data: {}
    token: " abc123 "
contexts:
- name: dev
  context: {{cluster: c1, user: alice, namespace: team-a}}
)",
                                                         kCaB64, kCertB64, kKeyB64));
  auto cfg = LoadFile(k);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_EQ(cfg->client_cert_pem, "CERT-PEM");
  EXPECT_EQ(cfg->client_key_pem, "KEY-PEM");
  EXPECT_EQ(cfg->tls_server_name, "api.internal");
  EXPECT_EQ(cfg->proxy_url, "http://proxy:3128");
  EXPECT_EQ(cfg->default_namespace, "team-a");
  EXPECT_EQ(cfg->context_name, "dev");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(TokenOf(*cfg), "abc123");
}

TEST_F(KubeconfigTest, FilesAreRelativeToTheKubeconfigThatNamesThem) {
  dir_.Write("sub/ca.crt", "FILE-CA");
  dir_.Write("sub/certs/me.crt", "FILE-CERT");
  dir_.Write("sub/certs/me.key", "FILE-KEY");
  dir_.Write("sub/token", "file-token\n");
  const std::string k = dir_.Write("sub/config", R"(
current-context: x
clusters:
- name: c
  cluster: {server: "https://h:1", certificate-authority: ca.crt, insecure-skip-tls-verify: yes}
users:
- name: u
  user: {client-certificate: certs/me.crt, client-key: certs/me.key, tokenFile: token}
contexts:
- name: x
  context: {cluster: c, user: u}
)");
  auto cfg = LoadFile(k);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->ca_pem, "FILE-CA");
  EXPECT_EQ(cfg->client_cert_pem, "FILE-CERT");
  EXPECT_EQ(cfg->client_key_pem, "FILE-KEY");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);  // YAML 1.1 "yes"
  EXPECT_EQ(cfg->default_namespace, "default");
  EXPECT_EQ(TokenOf(*cfg), "file-token");
}

TEST_F(KubeconfigTest, TokenFileIsReReadAfterTheRefreshPeriod) {
  const std::string token = dir_.Write("token", "first");
  const std::string k = dir_.Write("config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto cfg = LoadFile(k);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(TokenOf(*cfg), "first");
  dir_.Write("token", "rotated");
  EXPECT_EQ(TokenOf(*cfg), "first");  // cached within the minute
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(TokenOf(*cfg), "rotated");
  // A vanished file keeps the last good token rather than failing every request.
  fs::remove(token);
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(TokenOf(*cfg), "rotated");
}

TEST_F(KubeconfigTest, MergesKubeconfigListFirstFileWins) {
  const std::string a = dir_.Write("a/config", R"(
current-context: ctx-a
users: [{name: shared, user: {token: from-a}}]
contexts:
- {name: ctx-a, context: {cluster: only-in-b, user: shared}}
- {name: ctx-dup, context: {cluster: only-in-b, user: shared, namespace: from-a}}
)");
  const std::string b = dir_.Write("b/config", R"(
current-context: ctx-b
clusters: [{name: only-in-b, cluster: {server: "https://b:443", certificate-authority: ca.pem}}]
users: [{name: shared, user: {token: from-b}}]
contexts:
- {name: ctx-b, context: {cluster: only-in-b, user: shared}}
- {name: ctx-dup, context: {cluster: only-in-b, user: shared, namespace: from-b}}
)");
  dir_.Write("b/ca.pem", "B-CA");
  LoadOptions o = Opts({{"KUBECONFIG", a + "::" + dir_.path() + "/missing:" + b}});
  auto cfg = LoadKubeconfig(o, clock_);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->context_name, "ctx-a");    // current-context from the first file setting it
  EXPECT_EQ(cfg->server, "https://b:443");  // cluster only defined in the second file
  EXPECT_EQ(cfg->ca_pem, "B-CA");           // relative to b/, the file that names it
  EXPECT_EQ(TokenOf(*cfg), "from-a");       // first definition of "shared" wins
  o.context = "ctx-dup";
  cfg = LoadKubeconfig(o, clock_);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->default_namespace, "from-a");
  o.context = "ctx-b";
  cfg = LoadKubeconfig(o, clock_);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->context_name, "ctx-b");
}

TEST_F(KubeconfigTest, ExplicitKubeconfigBeatsTheEnvironment) {
  const std::string a = dir_.Write("a", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://explicit:1"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  const std::string b = dir_.Write("b", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://env:1"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  LoadOptions o = Opts({{"KUBECONFIG", b}});
  o.kubeconfig = a;
  auto cfg = LoadConfig(o, clock_);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://explicit:1");
  EXPECT_EQ(cfg->credentials, nullptr);  // no user: anonymous
}

TEST_F(KubeconfigTest, FallsBackToHomeKubeConfig) {
  dir_.Write("home/.kube/config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "home:6443"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  auto cfg = LoadKubeconfig(Opts({{"HOME", dir_.path() + "/home"}}), clock_);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://home:6443");
  auto none = LoadKubeconfig(Opts({{"HOME", dir_.path() + "/nohome"}}), clock_);
  ASSERT_FALSE(none.has_value());
  EXPECT_THAT(none.error().message, HasSubstr("no kubeconfig found"));
}

struct BadCase {
  std::string name;
  std::string yaml;
  std::string context;
  std::string expected;  // message after "kubeconfig <file>: "
};

class KubeconfigErrorTest : public KubeconfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(KubeconfigErrorTest, OneClearLineNamingFileEntryAndProblem) {
  const BadCase& c = GetParam();
  const std::string k = dir_.Write("k", c.yaml);
  auto cfg = LoadFile(k, c.context);
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error().message, "kubeconfig " + k + ": " + c.expected);
  EXPECT_EQ(cfg.error().message.find('\n'), std::string::npos);
}

constexpr char kGoodHead[] = R"(
clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: x, context: {cluster: c, user: alice}}]
current-context: x
)";

INSTANTIATE_TEST_SUITE_P(
    Cases, KubeconfigErrorTest,
    ::testing::Values(
        BadCase{"MissingContext", std::string(kGoodHead) + "users: [{name: alice, user: {}}]\n",
                "prod", "context \"prod\" not found (available: x)"},
        BadCase{"NoCurrentContext",
                "clusters: [{name: c, cluster: {server: a}}]\ncontexts: [{name: x, context: "
                "{cluster: c}}]\n",
                "", "no current-context is set; pass --context (available: x)"},
        BadCase{"MissingCluster",
                "current-context: x\ncontexts: [{name: x, context: {cluster: nope}}]\n", "",
                "context \"x\": cluster \"nope\" not found (available: none)"},
        BadCase{"MissingUser", kGoodHead, "",
                "context \"x\": user \"alice\" not found (available: none)"},
        BadCase{"BadBase64",
                std::string(kGoodHead) +
                    "users: [{name: alice, user: {client-certificate-data: '!!notb64', "
                    "client-key-data: S0VZ}}]\n",
                "", "user \"alice\": client-certificate-data is not valid base64"},
        BadCase{"CertWithoutKey",
                std::string(kGoodHead) +
                    "users: [{name: alice, user: {client-certificate-data: Q0VSVA==}}]\n",
                "",
                "user \"alice\": client-certificate is set without client-key; set both or "
                "neither"},
        BadCase{
            "BasicAuth",
            std::string(kGoodHead) + "users: [{name: alice, user: {username: a, password: b}}]\n",
            "",
            "user \"alice\": basic authentication (username/password) is not supported "
            "(Kubernetes removed it); use a token, client certificate or exec plugin"},
        BadCase{"NoServer",
                "current-context: x\nclusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, "
                "context: {cluster: c}}]\n",
                "", "cluster \"c\": server is not set"},
        BadCase{"ExecBadApiVersion",
                std::string(kGoodHead) + "users: [{name: alice, user: {exec: {apiVersion: "
                                         "client.authentication.k8s.io/v1alpha1, command: x}}}]\n",
                "",
                "user \"alice\": exec.apiVersion \"client.authentication.k8s.io/v1alpha1\" is "
                "not supported (use client.authentication.k8s.io/v1 or "
                "client.authentication.k8s.io/v1beta1)"},
        BadCase{"ClustersNotAList", "clusters: {a: b}\n", "", "clusters must be a list"},
        BadCase{"YamlSyntax", "clusters:\n  - name: [unclosed\n", "",
                "YAML syntax error at line 3, column 1: end of sequence flow not found"}),
    [](const auto& info) { return info.param.name; });

TEST_F(KubeconfigTest, UnreadableCertificateFileNamesTheEntryAndPath) {
  const std::string k = dir_.Write("k", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: /nonexistent/ca.crt}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  auto cfg = LoadFile(k);
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error().message,
            "kubeconfig " + k +
                ": cluster \"c\": certificate-authority: cannot read /nonexistent/ca.crt: No such "
                "file or directory");
}

TEST_F(KubeconfigTest, MissingExplicitFileIsAnError) {
  auto cfg = LoadFile(dir_.path() + "/nope");
  ASSERT_FALSE(cfg.has_value());
  EXPECT_THAT(cfg.error().message, HasSubstr("kubeconfig " + dir_.path() + "/nope: cannot read"));
}

TEST_F(KubeconfigTest, ExecUserGetsAnExecProviderWithResolvedCommand) {
  const std::string k = dir_.Write("k", std::string(kGoodHead) + R"(
users:
- name: alice
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/plugin
      args: [get-token, --cluster, c]
      env: [{name: FOO, value: bar}]
      interactiveMode: Never
      provideClusterInfo: true
)");
  auto cfg = LoadFile(k);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  ASSERT_NE(cfg->credentials, nullptr);
  auto* exec = dynamic_cast<ExecCredentialProvider*>(cfg->credentials.get());
  ASSERT_NE(exec, nullptr);
  auto cred = exec->Get();
  ASSERT_FALSE(cred.has_value());  // the plugin does not exist
  EXPECT_THAT(cred.error().message,
              HasSubstr("kubeconfig " + k + ": user \"alice\": exec plugin \"" + dir_.path() +
                        "/bin/plugin\""));
}

TEST_F(KubeconfigTest, ParseKubeconfigNeverThrowsOnOddInput) {
  for (const char* doc :
       {"", "[]", "42", "clusters: [1, 2]", "users: [{name: {a: b}}]", "current-context: [a]",
        "contexts: [{name: x, context: 7}]", "\t\x01\x02", "a: &x [*x]", "{{{{"}) {
    auto r = ParseKubeconfig(doc, "/mem", "", clock_);
    EXPECT_FALSE(r.has_value()) << doc;
  }
}

class InClusterTest : public KubeconfigTest {
 protected:
  void SetUp() override {
    ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  }
  void TearDown() override {
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
  }
};

TEST_F(InClusterTest, ReadsServiceAccountAndRereadsRotatedToken) {
  dir_.Write("sa/token", "bound-1");
  dir_.Write("sa/ca.crt", "SA-CA");
  dir_.Write("sa/namespace", "tether-system\n");
  auto cfg = InClusterConfig(clock_, dir_.path() + "/sa");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_pem, "SA-CA");
  EXPECT_EQ(cfg->default_namespace, "tether-system");
  EXPECT_EQ(TokenOf(*cfg), "bound-1");
  dir_.Write("sa/token", "bound-2");
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(TokenOf(*cfg), "bound-2");
}

TEST_F(InClusterTest, MissingTokenIsAClearError) {
  auto cfg = InClusterConfig(clock_, dir_.path() + "/none");
  ASSERT_FALSE(cfg.has_value());
  EXPECT_THAT(cfg.error().message, HasSubstr("in-cluster config: service-account token"));
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  auto outside = InClusterConfig(clock_, dir_.path());
  ASSERT_FALSE(outside.has_value());
  EXPECT_THAT(outside.error().message, HasSubstr("not running in a cluster"));
}

}  // namespace
}  // namespace tether::kube
