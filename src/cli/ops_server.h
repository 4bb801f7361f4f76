// OpsServers: the operational HTTP endpoints every long-running tether process serves:
// /metrics (Prometheus text format from a metrics::Registry) on the metrics address, and
// /healthz (process alive) and /readyz (caller-defined readiness, e.g. caches synced and leader
// known) on the health-probe address. The two addresses may be equal (one server) or empty
// (endpoint disabled; "0" also disables, like controller-runtime).
//
// Thread-safety: the readiness callback runs on server threads and must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "metrics/metrics.h"
#include "server/http_server.h"

namespace tether::cli {

struct Readiness {
  bool ready = false;
  std::string detail;  // human-readable, e.g. "informers synced; leader: tether-abc"
};

class OpsServers {
 public:
  OpsServers() = default;
  ~OpsServers();
  OpsServers(const OpsServers&) = delete;
  OpsServers& operator=(const OpsServers&) = delete;

  Result<void> Start(const std::string& metrics_address, const std::string& probe_address,
                     metrics::Registry& registry, std::function<Readiness()> readiness);
  void Stop();

  // Actual ports (useful when binding port 0); 0 when disabled.
  [[nodiscard]] int metrics_port() const;
  [[nodiscard]] int probe_port() const;

 private:
  server::HttpServer* metrics_ = nullptr;
  server::HttpServer* probes_ = nullptr;
  std::vector<std::unique_ptr<server::HttpServer>> servers_;
};

}  // namespace tether::cli
