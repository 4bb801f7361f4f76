#include "prom/testing_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "prom/client.h"
#include "server/http_server.h"

extern char** environ;

namespace tether::prom {
namespace {

// A port the kernel considers free right now (the tiny race with other processes is handled by
// retrying the launch).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

bool PrometheusServer::Available(const std::string& binary) {
  return access(binary.c_str(), X_OK) == 0;
}

Result<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(PrometheusServerOptions options) {
  if (!Available(options.binary)) {
    return Fail(ErrorCode::kNotFound, options.binary +
                                          " not found or not executable; install the Debian "
                                          "package `prometheus` (scripts/install-deps.sh does)");
  }
  std::unique_ptr<PrometheusServer> s(new PrometheusServer());
  s->target_ = std::make_unique<server::HttpServer>(
      server::HttpServerOptions{.bind_address = "127.0.0.1:0", .name = "prom-target"});
  PrometheusServer* raw = s.get();
  s->target_->Route("GET", "/metrics", [raw](const server::Request&) {
    std::lock_guard lock(raw->mu_);
    server::Response r = server::Response::Text(200, raw->metrics_);
    r.headers.erase("Content-Type");
    r.headers.emplace("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return r;
  });
  if (auto r = s->target_->Start(); !r) return Fail(r.error().Wrap("starting scrape target"));

  char tmpl[] = "/tmp/tether-prometheus-XXXXXX";
  if (!mkdtemp(tmpl)) return Fail(ErrorCode::kInternal, "mkdtemp failed for Prometheus data dir");
  s->dir_ = tmpl;
  Error last(ErrorCode::kUnavailable, "Prometheus did not start");
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = s->Launch(options);
    if (r) return s;
    last = r.error();
  }
  return Fail(last);
}

Result<void> PrometheusServer::Launch(const PrometheusServerOptions& options) {
  port_ = FreePort();
  if (port_ == 0) return Fail(ErrorCode::kInternal, "no free loopback port for Prometheus");
  auto interval = std::to_string(options.scrape_interval.count()) + "ms";
  std::string config = dir_ + "/prometheus.yml";
  {
    std::ofstream f(config);
    f << "global:\n  scrape_interval: " << interval << "\n  evaluation_interval: " << interval
      << "\nscrape_configs:\n  - job_name: target\n    scrape_interval: " << interval
      << "\n    scrape_timeout: " << interval << "\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << target_->port() << "']\n";
  }
  std::vector<std::string> args = {
      options.binary, "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/data",
      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  std::string log = dir_ + "/prometheus.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, options.binary.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    return Fail(ErrorCode::kInternal, "cannot run " + options.binary + ": " + strerror(rc));
  }
  pid_ = pid;
  auto client = Client::Create({.url = url(), .timeout = std::chrono::seconds(2)});
  auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream f(log);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      return Fail(ErrorCode::kUnavailable,
                  "Prometheus exited during startup: " +
                      text.substr(text.size() > 600 ? text.size() - 600 : 0));
    }
    if (auto q = (*client)->Query("vector(1)"); q) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Fail(ErrorCode::kTimeout, "Prometheus not ready within the timeout; see " + log);
}

PrometheusServer::~PrometheusServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (target_) target_->Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PrometheusServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void PrometheusServer::SetMetrics(std::string text) {
  std::lock_guard lock(mu_);
  metrics_ = std::move(text);
}

bool PrometheusServer::WaitForSamples(const std::string& promql, std::size_t samples,
                                      std::chrono::seconds timeout) const {
  auto client = Client::Create({.url = url(), .timeout = std::chrono::seconds(2)});
  if (!client) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = (*client)->Query(promql);
    if (r && r->SampleCount() == samples) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace tether::prom
