#include "kube/exec_credential.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tether::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ExecCredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tether-exec-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes an executable /bin/sh script; every run appends a line to <dir>/runs.
  std::string Plugin(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\necho run >> '" << dir_ << "/runs'\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }
  // A plugin printing a v1 ExecCredential with `token`, expiring at `expiry` ("" = never).
  std::string TokenPlugin(const std::string& token, const std::string& expiry,
                          std::string_view api = kExecApiV1) {
    const std::string exp =
        expiry.empty() ? "" : fmt::format(R"(,"expirationTimestamp":"{}")", expiry);
    return Plugin("plugin", fmt::format(R"(cat <<'EOF'
{{"apiVersion":"{}","kind":"ExecCredential","status":{{"token":"{}"{}}}}}
EOF)",
                                        api, token, exp));
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int Runs() const {
    const std::string s = Read("runs");
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  ExecCredentialProvider::Options Options(const std::string& command,
                                          std::string_view api = kExecApiV1) {
    ExecCredentialProvider::Options o;
    o.exec.api_version = std::string(api);
    o.exec.command = command;
    o.exec.interactive_mode = "Never";
    o.kubeconfig_path = "/home/u/.kube/config";
    o.user_name = "alice";
    o.timeout = std::chrono::seconds(30);
    return o;
  }

  FakeClock clock_;
  std::string dir_;
};

TEST_F(ExecCredentialTest, CachesTokenUntilExpiryThenReruns) {
  const std::string exp = FormatRfc3339(clock_.Now() + std::chrono::minutes(10));
  ExecCredentialProvider p(Options(TokenPlugin("tok-1", exp)), clock_);
  auto c = p.Get();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->token, "tok-1");
  ASSERT_TRUE(c->expiry.has_value());
  EXPECT_EQ(*c->expiry, clock_.Now() + std::chrono::minutes(10));
  ASSERT_TRUE(p.Get().has_value());
  EXPECT_EQ(Runs(), 1);
  clock_.Advance(std::chrono::minutes(9));
  ASSERT_TRUE(p.Get().has_value());
  EXPECT_EQ(Runs(), 1);
  clock_.Advance(std::chrono::minutes(1));  // now == expiry: expired
  ASSERT_TRUE(p.Get().has_value());
  EXPECT_EQ(Runs(), 2);
  EXPECT_EQ(p.runs(), 2);
}

TEST_F(ExecCredentialTest, WithoutExpiryCachedUntilInvalidated) {
  ExecCredentialProvider p(Options(TokenPlugin("forever", "", kExecApiV1Beta1), kExecApiV1Beta1),
                           clock_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.Get().has_value());
  clock_.Advance(std::chrono::hours(24 * 365));
  ASSERT_TRUE(p.Get().has_value());
  EXPECT_EQ(Runs(), 1);
  p.Invalidate();  // what the client does after a 401
  auto c = p.Get();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->token, "forever");
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecCredentialTest, RunsWithoutShellWithArgsEnvAndExecInfo) {
  const std::string plugin = Plugin("plugin", R"(
printf '%s\n' "$@" > "$(dirname "$0")/args"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/info"
printf '%s' "$FOO" > "$(dirname "$0")/foo"
if [ -t 0 ]; then echo tty > "$(dirname "$0")/stdin"; else cat > "$(dirname "$0")/stdin"; fi
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}}'
)");
  auto o = Options(plugin);
  o.exec.args = {"a b; echo pwned", "$HOME", "--flag"};
  o.exec.env = {{"FOO", "bar baz"}};
  o.cluster = ExecClusterInfo{"https://k:6443", "api.k", false, "CA", "", nullptr};
  ExecCredentialProvider p(o, clock_);
  auto c = p.Get();
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_TRUE(c->token.empty());
  EXPECT_EQ(Read("args"), "a b; echo pwned\n$HOME\n--flag\n");  // literal: no shell expansion
  EXPECT_EQ(Read("foo"), "bar baz");
  EXPECT_EQ(Read("stdin"), "");  // /dev/null, not a terminal
  const auto info = nlohmann::json::parse(Read("info"));
  EXPECT_EQ(info["apiVersion"], "client.authentication.k8s.io/v1");
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://k:6443");
  EXPECT_EQ(info["spec"]["cluster"]["tls-server-name"], "api.k");
  EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], "Q0E=");
}

TEST_F(ExecCredentialTest, FailingPluginReportsExitCodeAndStderr) {
  ExecCredentialProvider p(
      Options(Plugin("plugin", "echo 'error: refresh token expired' >&2\nexit 3")), clock_);
  auto c = p.Get();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(c.error().message,
            "kubeconfig /home/u/.kube/config: user \"alice\": exec plugin \"" + dir_ +
                "/plugin\": failed with exit code 3: error: refresh token expired");
}

TEST_F(ExecCredentialTest, GarbageAndWrongApiVersionAreRejected) {
  {
    ExecCredentialProvider p(Options(Plugin("plugin", "echo 'Please log in at https://x'")),
                             clock_);
    auto c = p.Get();
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message, HasSubstr("printed output that is not an ExecCredential"));
  }
  {
    ExecCredentialProvider p(Options(TokenPlugin("t", "", kExecApiV1Beta1)), clock_);
    auto c = p.Get();
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message,
                HasSubstr("returned apiVersion \"client.authentication.k8s.io/v1beta1\", expected "
                          "\"client.authentication.k8s.io/v1\""));
  }
}

TEST_F(ExecCredentialTest, MissingCommandShowsInstallHint) {
  auto o = Options("tether-no-such-plugin-xyz");
  o.exec.install_hint = "install it with: brew install no-such-plugin\nmore text";
  ExecCredentialProvider p(o, clock_);
  auto c = p.Get();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("cannot start tether-no-such-plugin-xyz"));
  EXPECT_THAT(c.error().message, HasSubstr("; install it with: brew install no-such-plugin"));
  EXPECT_EQ(c.error().message.find('\n'), std::string::npos);
}

TEST_F(ExecCredentialTest, HungPluginIsKilledAtTheTimeout) {
  auto o = Options(Plugin("plugin", "exec sleep 600"));
  o.timeout = std::chrono::milliseconds(200);
  ExecCredentialProvider p(o, clock_);
  auto c = p.Get();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("did not finish within 200ms and was killed"));
}

TEST_F(ExecCredentialTest, InteractiveAlwaysIsRefused) {
  auto o = Options(TokenPlugin("t", ""));
  o.exec.interactive_mode = "Always";
  ExecCredentialProvider p(o, clock_);
  auto c = p.Get();
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("interactiveMode is Always"));
  EXPECT_EQ(Runs(), 0);
}

TEST(ParseExecCredentialTest, ValidatesFields) {
  const std::string api(kExecApiV1);
  auto parse = [&](const std::string& status) {
    return ParseExecCredential(
        R"({"apiVersion":")" + api + R"(","kind":"ExecCredential","status":)" + status + "}", api);
  };
  EXPECT_TRUE(parse(R"({"token":"x"})").has_value());
  EXPECT_FALSE(parse(R"({})").has_value());
  EXPECT_FALSE(parse(R"({"clientCertificateData":"c"})").has_value());
  EXPECT_FALSE(parse(R"({"token":5})").has_value());
  EXPECT_FALSE(parse(R"({"token":"x","expirationTimestamp":"tomorrow"})").has_value());
  EXPECT_FALSE(ParseExecCredential("", api).has_value());
  EXPECT_FALSE(
      ParseExecCredential(R"({"apiVersion":")" + api + R"(","kind":"Pod","status":{}})", api)
          .has_value());
}

}  // namespace
}  // namespace tether::kube
