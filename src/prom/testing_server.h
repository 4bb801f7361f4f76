// PrometheusServer: a test helper that runs the real Prometheus binary (Debian's
// /usr/bin/prometheus) on a free loopback port with a temporary data directory, scraping one
// static target that the test controls: an in-process HTTP server whose /metrics body the test
// sets with SetMetrics(). Start() waits until Prometheus is ready; the destructor kills it and
// removes the data directory.
//
// Tests should call Available() first and GTEST_SKIP() with a clear message when the binary is
// missing.
//
// Thread-safety: SetMetrics() and the accessors are safe from any thread; Start/destruction are
// not concurrent with anything else.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/error.h"

namespace tether::server {
class HttpServer;
}

namespace tether::prom {

struct PrometheusServerOptions {
  std::string binary = "/usr/bin/prometheus";
  std::chrono::milliseconds scrape_interval{1000};
  std::chrono::seconds ready_timeout{60};
};

class PrometheusServer {
 public:
  // True if the binary exists and is executable.
  static bool Available(const std::string& binary = "/usr/bin/prometheus");

  static Result<std::unique_ptr<PrometheusServer>> Start(PrometheusServerOptions options = {});
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // Prometheus' base URL, e.g. "http://127.0.0.1:41234".
  [[nodiscard]] std::string url() const;
  // Replaces the body the scrape target serves (Prometheus text format).
  void SetMetrics(std::string text);
  // Polls the instant query until it returns exactly `samples` samples (after the next scrapes)
  // or `timeout` passes. Returns whether it did.
  bool WaitForSamples(const std::string& promql, std::size_t samples,
                      std::chrono::seconds timeout = std::chrono::seconds(30)) const;

 private:
  PrometheusServer() = default;
  Result<void> Launch(const PrometheusServerOptions& options);

  std::string dir_;
  int port_ = 0;
  int pid_ = -1;
  std::unique_ptr<server::HttpServer> target_;
  mutable std::mutex mu_;
  std::string metrics_;
};

}  // namespace tether::prom
