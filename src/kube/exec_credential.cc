#include "kube/exec_credential.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/log.h"

extern char** environ;  // NOLINT: POSIX

namespace tether::kube {
namespace {

std::string Base64Encode(std::string_view in) {
  if (in.empty()) return {};
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// First non-empty line of a plugin's stderr, trimmed and capped: enough to act on, no dumps.
std::string FirstLine(std::string_view s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == '\r' || s.front() == ' ')) {
    s.remove_prefix(1);
  }
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  if (s.size() > 300) return std::string(s.substr(0, 300)) + "...";
  return std::string(s);
}

class FdCloser {
 public:
  explicit FdCloser(int* fds, int n) : fds_(fds), n_(n) {}
  ~FdCloser() {
    for (int i = 0; i < n_; ++i) {
      if (fds_[i] >= 0) ::close(fds_[i]);
    }
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int* fds_;
  int n_;
};

}  // namespace

Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::pair<std::string, std::string>>& extra_env,
                                 std::chrono::milliseconds timeout, std::size_t max_output) {
  if (argv.empty() || argv[0].empty()) return Fail(ErrorCode::kInvalid, "no command given");

  // Environment: ours, with extra_env overriding by name.
  std::map<std::string, std::string> overrides(extra_env.begin(), extra_env.end());
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (overrides.count(name) == 0) env_storage.emplace_back(entry);
  }
  for (const auto& [k, v] : overrides) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage(argv);
  std::vector<char*> argvp;
  for (auto& s : argv_storage) argvp.push_back(s.data());
  argvp.push_back(nullptr);

  int fds[4] = {-1, -1, -1, -1};  // out_r, out_w, err_r, err_w
  FdCloser closer(fds, 4);
  if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(fds + 2, O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kInternal, fmt::format("cannot create pipes: {}", std::strerror(errno)));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[3], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Start the plugin with default signal handling whatever our process does with signals.
  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = -1;
  const bool has_slash = argv[0].find('/') != std::string::npos;
  const int rc = has_slash
                     ? ::posix_spawn(&pid, argvp[0], &actions, &attr, argvp.data(), envp.data())
                     : ::posix_spawnp(&pid, argvp[0], &actions, &attr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Fail(rc == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal,
                fmt::format("cannot start {}: {}", argv[0], std::strerror(rc)));
  }
  ::close(fds[1]);
  fds[1] = -1;
  ::close(fds[3]);
  fds[3] = -1;

  ProcessOutput out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true;
  bool err_open = true;
  char buf[16384];
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      break;
    }
    pollfd pfds[2];
    int n = 0;
    if (out_open) pfds[n++] = {fds[0], POLLIN, 0};
    if (err_open) pfds[n++] = {fds[2], POLLIN, 0};
    const int pr = ::poll(pfds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const bool is_out = pfds[i].fd == fds[0];
      const ssize_t got = ::read(pfds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        (is_out ? out_open : err_open) = false;
        continue;
      }
      std::string& dst = is_out ? out.stdout_data : out.stderr_data;
      const std::size_t room = max_output > dst.size() ? max_output - dst.size() : 0;
      dst.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(got)));
    }
  }
  if (out.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.exit_code = 128 + WTERMSIG(status);
  }
  return out;
}

std::string BuildExecInfo(const ExecConfig& exec, const ExecClusterInfo* cluster) {
  nlohmann::json info = {{"apiVersion", exec.api_version},
                         {"kind", "ExecCredential"},
                         {"spec", {{"interactive", false}}}};
  if (cluster != nullptr) {
    nlohmann::json c = {{"server", cluster->server}};
    if (!cluster->tls_server_name.empty()) c["tls-server-name"] = cluster->tls_server_name;
    if (cluster->insecure_skip_tls_verify) c["insecure-skip-tls-verify"] = true;
    if (!cluster->ca_pem.empty()) c["certificate-authority-data"] = Base64Encode(cluster->ca_pem);
    if (!cluster->proxy_url.empty()) c["proxy-url"] = cluster->proxy_url;
    if (!cluster->config.is_null()) c["config"] = cluster->config;
    info["spec"]["cluster"] = std::move(c);
  }
  return info.dump();
}

Result<Credential> ParseExecCredential(std::string_view output, std::string_view api_version) {
  nlohmann::json doc = nlohmann::json::parse(output, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kInvalid, "printed output that is not an ExecCredential JSON object");
  }
  const auto api = doc.find("apiVersion");
  if (api == doc.end() || !api->is_string()) {
    return Fail(ErrorCode::kInvalid, "printed an ExecCredential without apiVersion");
  }
  if (api->get<std::string>() != api_version) {
    return Fail(ErrorCode::kInvalid, fmt::format("returned apiVersion \"{}\", expected \"{}\"",
                                                 api->get<std::string>(), api_version));
  }
  const auto kind = doc.find("kind");
  if (kind == doc.end() || !kind->is_string() || kind->get<std::string>() != "ExecCredential") {
    return Fail(ErrorCode::kInvalid, "printed an object whose kind is not ExecCredential");
  }
  const auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) {
    return Fail(ErrorCode::kInvalid, "printed an ExecCredential without status");
  }
  Credential cred;
  auto str = [&](const char* key) -> Result<std::string> {
    const auto it = status->find(key);
    if (it == status->end() || it->is_null()) return std::string();
    if (!it->is_string()) {
      return Fail(ErrorCode::kInvalid, fmt::format("status.{} is not a string", key));
    }
    return it->get<std::string>();
  };
  auto token = str("token");
  if (!token) return Fail(token.error());
  auto cert = str("clientCertificateData");
  if (!cert) return Fail(cert.error());
  auto key = str("clientKeyData");
  if (!key) return Fail(key.error());
  auto expiry = str("expirationTimestamp");
  if (!expiry) return Fail(expiry.error());
  cred.token = std::move(*token);
  cred.client_cert_pem = std::move(*cert);
  cred.client_key_pem = std::move(*key);
  if (cred.client_cert_pem.empty() != cred.client_key_pem.empty()) {
    return Fail(ErrorCode::kInvalid,
                "returned only one of status.clientCertificateData and status.clientKeyData");
  }
  if (cred.token.empty() && cred.client_cert_pem.empty()) {
    return Fail(ErrorCode::kInvalid,
                "returned neither status.token nor status.clientCertificateData/clientKeyData");
  }
  if (!expiry->empty()) {
    TimePoint t;
    if (!ParseRfc3339(*expiry, &t)) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("status.expirationTimestamp \"{}\" is not RFC 3339", *expiry));
    }
    cred.expiry = t;
  }
  return cred;
}

ExecCredentialProvider::ExecCredentialProvider(Options options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

std::string ExecCredentialProvider::Where() const {
  return fmt::format("kubeconfig {}: user \"{}\": exec plugin \"{}\"", options_.kubeconfig_path,
                     options_.user_name, options_.exec.command);
}

Result<Credential> ExecCredentialProvider::Get() {
  std::lock_guard lock(mu_);
  if (cached_ && (!cached_->expiry || clock_.Now() < *cached_->expiry)) return *cached_;
  cached_.reset();
  auto cred = Run();
  if (!cred) return cred;
  cached_ = *cred;
  return cred;
}

void ExecCredentialProvider::Invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
}

int ExecCredentialProvider::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

Result<Credential> ExecCredentialProvider::Run() {
  const ExecConfig& exec = options_.exec;
  if (exec.api_version != kExecApiV1 && exec.api_version != kExecApiV1Beta1) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: apiVersion \"{}\" is not supported (use {} or {})", Where(),
                            exec.api_version, kExecApiV1, kExecApiV1Beta1));
  }
  if (exec.interactive_mode == "Always") {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: interactiveMode is Always but tether runs without a terminal; "
                            "set interactiveMode to Never or IfAvailable",
                            Where()));
  }
  std::vector<std::string> argv;
  argv.push_back(exec.command);
  argv.insert(argv.end(), exec.args.begin(), exec.args.end());
  auto env = exec.env;
  env.emplace_back("KUBERNETES_EXEC_INFO",
                   BuildExecInfo(exec, options_.cluster ? &*options_.cluster : nullptr));
  ++runs_;
  log::Debug("running exec credential plugin",
             {{"command", exec.command}, {"user", options_.user_name}});
  auto out = RunProcess(argv, env, options_.timeout);
  if (!out) {
    std::string hint = exec.install_hint.empty() ? "" : "; " + FirstLine(exec.install_hint);
    return Fail(ErrorCode::kUnauthorized,
                fmt::format("{}: {}{}", Where(), out.error().message, hint));
  }
  if (out->timed_out) {
    return Fail(ErrorCode::kUnauthorized, fmt::format("{}: did not finish within {} and was killed",
                                                      Where(), FormatDuration(options_.timeout)));
  }
  if (out->exit_code != 0) {
    const std::string err = FirstLine(out->stderr_data);
    return Fail(ErrorCode::kUnauthorized,
                fmt::format("{}: failed with exit code {}{}{}", Where(), out->exit_code,
                            err.empty() ? "" : ": ", err));
  }
  auto cred = ParseExecCredential(out->stdout_data, exec.api_version);
  if (!cred) {
    return Fail(ErrorCode::kUnauthorized, fmt::format("{}: {}", Where(), cred.error().message));
  }
  return cred;
}

}  // namespace tether::kube
