// Process-level tests of `tether controller`: the real tether binary (TETHER_BINARY, the same
// build as this test, ASan included) is spawned against the embedded API server running in this
// test process, and the tests assert what an operator sees: the Lease's holderIdentity on the
// server, /readyz and /healthz bodies, /metrics, exit statuses and log lines.
//
// Every child's stdout+stderr goes to a file, printed when a test fails; children are killed in
// teardown. Nothing sleeps for synchronisation: conditions are polled with a generous deadline.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deps/crd.h"
#include "testing/apiserver.h"
#include "testing/curl_client.h"

extern char** environ;

namespace tether {
namespace {

using Json = nlohmann::json;
using std::chrono::seconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// Environment variable that turns this test binary into a kubeconfig exec credential plugin:
// when set, the binary prints an ExecCredential carrying its value as the token and exits
// before any test runs. tether runs the plugin directly (argv, no shell).
constexpr char kExecPluginTokenEnv[] = "TETHER_PROCESS_TEST_EXEC_TOKEN";

[[maybe_unused]] const bool kRanAsExecPlugin = [] {
  const char* token = std::getenv(kExecPluginTokenEnv);
  if (token == nullptr) return false;
  Json credential = {{"apiVersion", "client.authentication.k8s.io/v1"},
                     {"kind", "ExecCredential"},
                     {"status", {{"token", token}}}};
  std::string out = credential.dump() + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  std::_Exit(0);
}();

// Leader-election timings for the tests (the defaults are 15s / 10s / 2s).
constexpr char kLeaseDuration[] = "3s";
constexpr seconds kLeaseDurationValue{3};
constexpr char kRenewDeadline[] = "2s";
constexpr char kRetryPeriod[] = "500ms";

// Generous: ASan builds on two shared cores are slow; a passing run takes a fraction of it.
constexpr seconds kDeadline{30};

constexpr char kLeaseName[] = "tether-controller";

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition, seconds timeout = kDeadline) {
  const SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One spawned `tether` process whose output goes to `log_path`.
class TetherProcess {
 public:
  TetherProcess(std::string name, std::string log_path)
      : name_(std::move(name)), log_path_(std::move(log_path)) {}
  ~TetherProcess() { Kill(); }
  TetherProcess(const TetherProcess&) = delete;
  TetherProcess& operator=(const TetherProcess&) = delete;

  // Spawns TETHER_BINARY with `args`, without a shell. The environment is inherited minus
  // TETHER_* and KUBECONFIG, so only the arguments configure the process.
  ::testing::AssertionResult Start(const std::vector<std::string>& args) {
    std::vector<std::string> argv_storage = {TETHER_BINARY};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "TETHER_", 7) == 0 || std::strncmp(*e, "KUBECONFIG=", 11) == 0) {
        continue;
      }
      envp.push_back(*e);
    }
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      return ::testing::AssertionFailure()
             << "posix_spawn " << TETHER_BINARY << ": " << std::strerror(rc);
    }
    pid_ = pid;
    return ::testing::AssertionSuccess();
  }

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string Log() const { return ReadFile(log_path_); }

  // Log lines that are JSON objects (tether runs with --log-format json), in order.
  [[nodiscard]] std::vector<Json> LogRecords() const {
    std::vector<Json> out;
    std::istringstream in(Log());
    std::string line;
    while (std::getline(in, line)) {
      Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object()) out.push_back(std::move(j));
    }
    return out;
  }
  // The first record with message `msg`, if logged yet.
  [[nodiscard]] std::optional<Json> Record(const std::string& msg) const {
    for (auto& r : LogRecords()) {
      if (r.value("msg", "") == msg) return r;
    }
    return std::nullopt;
  }
  [[nodiscard]] int CountRecords(const std::string& msg) const {
    int n = 0;
    for (auto& r : LogRecords()) n += r.value("msg", "") == msg ? 1 : 0;
    return n;
  }

  void Signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }
  // Reaps the process if it has exited; true once it has.
  bool Exited() {
    if (status_) return true;
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return status_.has_value();
  }
  [[nodiscard]] std::optional<int> wait_status() const { return status_; }

  void Kill() {
    if (pid_ <= 0 || Exited()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) status_ = status;
  }

 private:
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

std::string DescribeStatus(std::optional<int> status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exited with status " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return std::string("killed by signal ") + strsignal(WTERMSIG(*status));
  return "status " + std::to_string(*status);
}

class ControllerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tether_procs_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    for (auto& p : processes_) p->Kill();
    if (HasFailure()) {
      for (auto& p : processes_) {
        std::string log = p->Log();
        constexpr std::size_t kTail = 24000;
        if (log.size() > kTail) log = "[...]\n" + log.substr(log.size() - kTail);
        std::cerr << "----- log of " << p->name() << " (" << DescribeStatus(p->wait_status())
                  << ") -----\n"
                  << log << "----- end of " << p->name() << " -----\n";
      }
    }
    processes_.clear();
    server_.reset();
    std::error_code ignored;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ignored);
  }

  void StartServer(bool anonymous_auth = true) {
    testing::ApiServerOptions options;
    options.anonymous_auth = anonymous_auth;
    auto server = testing::ApiServer::Start(options);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    // Installed as on a real cluster (tether manifests), so the controller's caches sync.
    auto crd = server_->Create("apiextensions.k8s.io/v1", "customresourcedefinitions", "",
                               deps::WorkloadDependencyCrd());
    ASSERT_TRUE(crd) << crd.error().message;
  }

  std::string WriteKubeconfig(const std::string& name, const testing::KubeconfigAuth& auth) {
    std::string path = dir_ + "/" + name + ".kubeconfig";
    auto written = server_->WriteKubeconfig(path, auth);
    EXPECT_TRUE(written) << written.error().message;
    return path;
  }

  // Starts `tether controller --leader-elect` with the test timings and ephemeral ports.
  TetherProcess* StartController(const std::string& name, const std::string& kubeconfig,
                                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"controller",
                                     "--kubeconfig",
                                     kubeconfig,
                                     "--leader-elect",
                                     "--leader-election-namespace",
                                     "default",
                                     "--leader-election-lease-duration",
                                     kLeaseDuration,
                                     "--leader-election-renew-deadline",
                                     kRenewDeadline,
                                     "--leader-election-retry-period",
                                     kRetryPeriod,
                                     "--metrics-bind-address",
                                     "127.0.0.1:0",
                                     "--health-probe-bind-address",
                                     "127.0.0.1:0",
                                     "--log-format",
                                     "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Spawn(name, args);
  }

  TetherProcess* Spawn(const std::string& name, const std::vector<std::string>& args) {
    processes_.push_back(std::make_unique<TetherProcess>(name, dir_ + "/" + name + ".log"));
    TetherProcess* p = processes_.back().get();
    EXPECT_TRUE(p->Start(args));
    return p;
  }

  // What a controller tells about itself in its log: identity and the ports it bound.
  struct Endpoints {
    std::string identity;
    int probe_port = 0;
    int metrics_port = 0;
  };
  ::testing::AssertionResult AwaitEndpoints(TetherProcess& p, Endpoints* out) {
    bool ok = Eventually([&] {
      auto election = p.Record("leader election enabled");
      auto serving = p.Record("serving probes and metrics");
      if (!election || !serving) return p.Exited();
      out->identity = election->value("identity", "");
      out->probe_port = serving->value("probe_port", 0);
      out->metrics_port = serving->value("metrics_port", 0);
      return true;
    });
    if (!ok || p.Exited()) {
      return ::testing::AssertionFailure() << p.name() << " never logged its identity and ports ("
                                           << DescribeStatus(p.wait_status()) << ")";
    }
    if (out->identity.empty() || out->probe_port <= 0 || out->metrics_port <= 0) {
      return ::testing::AssertionFailure()
             << p.name() << " logged an empty identity or port 0 for probes/metrics";
    }
    return ::testing::AssertionSuccess();
  }

  // The Lease's spec.holderIdentity as stored on the server ("" when absent or released).
  std::string LeaseHolder() {
    auto lease = server_->Get("coordination.k8s.io/v1", "leases", "default", kLeaseName);
    if (!lease) return "";
    return lease->value("/spec/holderIdentity"_json_pointer, std::string());
  }

  static testing::CurlResponse HttpGet(int port, const std::string& path) {
    testing::CurlOptions options;
    options.timeout_ms = 5000;
    testing::CurlClient client("http://127.0.0.1:" + std::to_string(port), options);
    return client.Get(path);
  }
  static std::string Readyz(const Endpoints& e) {
    auto r = HttpGet(e.probe_port, "/readyz");
    return std::to_string(r.status) + " " + r.body;
  }
  static std::string ReadyAsLeader(const std::string& id) {
    return "200 ok: leader: " + id + " (this replica)\n";
  }
  static std::string ReadyAsStandby(const std::string& leader) {
    return "200 ok: leader: " + leader + "\n";
  }
  // The tether_leader gauge line as /metrics serves it.
  static std::string LeaderGauge(const Endpoints& e) {
    auto r = HttpGet(e.metrics_port, "/metrics");
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("tether_leader{", 0) == 0) return line;
    }
    return "";
  }

  // Waits until /metrics reports tether_leader `value` (0 or 1).
  static ::testing::AssertionResult AwaitLeaderGauge(const Endpoints& e, int value) {
    const std::string want = "tether_leader{lease=\"tether-controller\"} " + std::to_string(value);
    std::string got;
    if (Eventually([&] { return (got = LeaderGauge(e)) == want; })) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "/metrics: \"" << got << "\", want \"" << want << "\"";
  }

  // Waits until `p` (identity e.identity) holds the Lease and its /readyz says so.
  ::testing::AssertionResult AwaitLeader(TetherProcess& p, const Endpoints& e) {
    std::string holder, ready;
    bool ok = Eventually([&] {
      holder = LeaseHolder();
      ready = Readyz(e);
      return (holder == e.identity && ready == ReadyAsLeader(e.identity)) || p.Exited();
    });
    if (ok && !p.Exited()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << p.name() << " (" << e.identity << ") did not become the leader: Lease holder \""
           << holder << "\", /readyz \"" << ready << "\", process "
           << DescribeStatus(p.wait_status());
  }

  ::testing::AssertionResult AwaitExit(TetherProcess& p) {
    if (Eventually([&] { return p.Exited(); })) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << p.name() << " did not exit";
  }

  std::string dir_;
  std::unique_ptr<testing::ApiServer> server_;
  std::vector<std::unique_ptr<TetherProcess>> processes_;
};

TEST_F(ControllerProcessTest, RejectsInconsistentLeaderElectionTimingsNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--leader-election-lease-duration", "10s", "--leader-election-renew-deadline", "10s"},
       "--leader-election-renew-deadline (10s) must be shorter than "
       "--leader-election-lease-duration (10s)"},
      {{"--leader-election-retry-period", "10s"},
       "--leader-election-retry-period (10s) must be shorter than "
       "--leader-election-renew-deadline (10s)"},
      {{"--leader-election-lease-duration", "2500ms"},
       "--leader-election-lease-duration \"2500ms\" is not a whole number of seconds"},
      {{"--leader-election-retry-period", "soon"},
       "--leader-election-retry-period \"soon\" is not a positive duration"},
  };
  int i = 0;
  for (const auto& c : cases) {
    std::vector<std::string> args = {"controller", "--kubeconfig", "/nonexistent/kubeconfig"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    TetherProcess* p = Spawn("invalid-" + std::to_string(i++), args);
    ASSERT_TRUE(AwaitExit(*p));
    ASSERT_TRUE(p->wait_status().has_value());
    EXPECT_TRUE(WIFEXITED(*p->wait_status()) && WEXITSTATUS(*p->wait_status()) == 2)
        << DescribeStatus(p->wait_status());
    std::string log = p->Log();
    EXPECT_NE(log.find("tether: error: " + c.expected), std::string::npos) << log;
    // Validated before connecting: the (missing) kubeconfig is never read.
    EXPECT_EQ(log.find("kubeconfig"), std::string::npos) << log;
  }
}

TEST_F(ControllerProcessTest, TwoReplicasElectOneLeaderAndSigtermHandsOver) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string kubeconfig = WriteKubeconfig("admin", testing::KubeconfigAuth::ClientCert());
  TetherProcess* a = StartController("replica-a", kubeconfig);
  TetherProcess* b = StartController("replica-b", kubeconfig);
  Endpoints ea, eb;
  ASSERT_TRUE(AwaitEndpoints(*a, &ea));
  ASSERT_TRUE(AwaitEndpoints(*b, &eb));
  ASSERT_NE(ea.identity, eb.identity);
  // Lease requests are bounded by half the margin between lease duration and renew deadline
  // (whole seconds, at least 1s), so a hanging API server cannot stretch a leader's term.
  EXPECT_EQ(a->Record("leader election enabled")->value("request_timeout", ""), "1s");

  // Exactly one holds the Lease; it says "(this replica)", the other names it.
  std::string ready_a, ready_b, holder;
  ASSERT_TRUE(Eventually([&] {
    holder = LeaseHolder();
    ready_a = Readyz(ea);
    ready_b = Readyz(eb);
    return (holder == ea.identity && ready_a == ReadyAsLeader(ea.identity) &&
            ready_b == ReadyAsStandby(ea.identity)) ||
           (holder == eb.identity && ready_b == ReadyAsLeader(eb.identity) &&
            ready_a == ReadyAsStandby(eb.identity));
  })) << "Lease holder \""
      << holder << "\"; /readyz a: \"" << ready_a << "\"; b: \"" << ready_b << "\"";
  const bool a_leads = holder == ea.identity;
  TetherProcess& leader = a_leads ? *a : *b;
  TetherProcess& standby = a_leads ? *b : *a;
  const Endpoints& el = a_leads ? ea : eb;
  const Endpoints& es = a_leads ? eb : ea;
  EXPECT_TRUE(AwaitLeaderGauge(el, 1));
  EXPECT_EQ(LeaderGauge(es), "tether_leader{lease=\"tether-controller\"} 0");
  EXPECT_EQ(standby.CountRecords("started leading"), 0);

  // SIGTERM: the leader releases the Lease and exits 0; the standby takes over.
  leader.Signal(SIGTERM);
  ASSERT_TRUE(AwaitExit(leader));
  EXPECT_TRUE(WIFEXITED(*leader.wait_status()) && WEXITSTATUS(*leader.wait_status()) == 0)
      << leader.name() << " " << DescribeStatus(leader.wait_status());
  EXPECT_TRUE(leader.Record("released the Lease").has_value()) << leader.Log();
  ASSERT_TRUE(AwaitLeader(standby, es));
  EXPECT_TRUE(AwaitLeaderGauge(es, 1));
  EXPECT_FALSE(standby.Exited());
}

TEST_F(ControllerProcessTest, SigkilledLeaderIsReplacedAfterTheLeaseExpires) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string kubeconfig = WriteKubeconfig("admin", testing::KubeconfigAuth::ClientCert());
  TetherProcess* first = StartController("first", kubeconfig);
  Endpoints e1;
  ASSERT_TRUE(AwaitEndpoints(*first, &e1));
  ASSERT_TRUE(AwaitLeader(*first, e1));
  TetherProcess* second = StartController("second", kubeconfig);
  Endpoints e2;
  ASSERT_TRUE(AwaitEndpoints(*second, &e2));
  ASSERT_TRUE(Eventually([&] { return Readyz(e2) == ReadyAsStandby(e1.identity); })) << Readyz(e2);

  // No release: the Lease still names the dead leader until it expires.
  first->Kill();
  ASSERT_TRUE(first->wait_status().has_value());
  EXPECT_TRUE(WIFSIGNALED(*first->wait_status()));
  ASSERT_TRUE(AwaitLeader(*second, e2));
  auto lease = server_->Get("coordination.k8s.io/v1", "leases", "default", kLeaseName);
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ(lease->value("/spec/leaseTransitions"_json_pointer, -1), 1) << lease->dump();
  EXPECT_EQ(lease->value("/spec/leaseDurationSeconds"_json_pointer, -1),
            kLeaseDurationValue.count());
}

// Acceptance 3 asks for a 30 s API-server outage against a real cluster with the default
// 15 s lease, i.e. an outage of twice the lease duration. Here the lease is 3 s, so the server is
// stopped for 2 x 3 s = 6 s: long enough for the leader to miss its renew deadline (2 s) and for
// the Lease to expire, short enough to keep the test around 10 s.
TEST_F(ControllerProcessTest, SurvivesApiServerOutageLongerThanTheLeaseAndReacquires) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::string kubeconfig = WriteKubeconfig("admin", testing::KubeconfigAuth::ClientCert());
  TetherProcess* p = StartController("controller", kubeconfig);
  Endpoints e;
  ASSERT_TRUE(AwaitEndpoints(*p, &e));
  ASSERT_TRUE(AwaitLeader(*p, e));

  server_->Stop();
  const SteadyTime stopped_at = std::chrono::steady_clock::now();
  const auto outage = 2 * kLeaseDurationValue;
  int healthz_checks = 0;
  // The outage is a scenario parameter, not a synchronisation wait: throughout it, /healthz
  // answers, and the leader notices it can no longer renew.
  while (std::chrono::steady_clock::now() - stopped_at < outage ||
         !p->Record("reconcilers stopped: leadership lost; standing by for re-election")) {
    ASSERT_FALSE(p->Exited()) << "exited during the outage: " << DescribeStatus(p->wait_status());
    auto health = HttpGet(e.probe_port, "/healthz");
    ASSERT_EQ(health.status, 200) << health.error << health.body;
    ++healthz_checks;
    ASSERT_LT(std::chrono::steady_clock::now() - stopped_at, outage + kDeadline)
        << "the leader never reported losing the Lease";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(healthz_checks, 0);
  // Not leading without the API server: /readyz and /metrics say so.
  EXPECT_NE(Readyz(e), ReadyAsLeader(e.identity));
  EXPECT_TRUE(AwaitLeaderGauge(e, 0));
  // The log tells what happened: connection errors, then the lost leadership.
  EXPECT_TRUE(p->Record("leader election: reading the Lease failed").has_value());
  EXPECT_TRUE(p->Record("leader election: could not renew the Lease within the renew deadline; "
                        "stopping all leader work")
                  .has_value());

  auto restarted = server_->Restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  ASSERT_TRUE(AwaitLeader(*p, e));
  EXPECT_TRUE(AwaitLeaderGauge(e, 1));
  EXPECT_GE(p->CountRecords("started leading"), 2);
  EXPECT_GE(p->CountRecords("stopped leading"), 1);
  EXPECT_FALSE(p->Exited());
}

// Each kubeconfig auth kind the issue names acquires the Lease default/tether-controller.
class ControllerAuthTest : public ControllerProcessTest {
 protected:
  void SetUp() override {
    ControllerProcessTest::SetUp();
    // Without anonymous access a credential the server does not accept fails loudly (401).
    ASSERT_NO_FATAL_FAILURE(StartServer(/*anonymous_auth=*/false));
  }
  void ExpectAcquiresLease(const testing::KubeconfigAuth& auth) {
    std::string kubeconfig = WriteKubeconfig("auth", auth);
    TetherProcess* p = StartController("controller", kubeconfig);
    Endpoints e;
    ASSERT_TRUE(AwaitEndpoints(*p, &e));
    ASSERT_TRUE(AwaitLeader(*p, e));
    auto health = HttpGet(e.probe_port, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_TRUE(AwaitLeaderGauge(e, 1));
  }
};

TEST_F(ControllerAuthTest, ClientCertificate) {
  ExpectAcquiresLease(testing::KubeconfigAuth::ClientCert("tether", {"system:masters"}));
}

TEST_F(ControllerAuthTest, BearerToken) {
  ExpectAcquiresLease(testing::KubeconfigAuth::Token("process-test-token-1f9c", "tether"));
}

TEST_F(ControllerAuthTest, ExecPlugin) {
  const std::string token = "process-test-exec-token-7b2e";
  server_->AddToken(token, "tether");
  // This test binary, re-invoked with the token in its environment, is the plugin.
  testing::KubeconfigAuth auth =
      testing::KubeconfigAuth::Exec(std::filesystem::read_symlink("/proc/self/exe").string());
  auth.exec_env = {{kExecPluginTokenEnv, token}};
  ExpectAcquiresLease(auth);
}

}  // namespace
}  // namespace tether
