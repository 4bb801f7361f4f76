#include "cli/ops_server.h"

namespace tether::cli {
namespace {

bool Disabled(const std::string& address) { return address.empty() || address == "0"; }

}  // namespace

OpsServers::~OpsServers() { Stop(); }

Result<void> OpsServers::Start(const std::string& metrics_address, const std::string& probe_address,
                               metrics::Registry& registry, std::function<Readiness()> readiness) {
  auto make = [this](const std::string& address, const std::string& name) {
    server::HttpServerOptions opts;
    opts.bind_address = address;
    opts.name = name;
    servers_.push_back(std::make_unique<server::HttpServer>(opts));
    return servers_.back().get();
  };
  if (!Disabled(metrics_address)) metrics_ = make(metrics_address, "metrics");
  if (!Disabled(probe_address)) {
    probes_ =
        probe_address == metrics_address && metrics_ ? metrics_ : make(probe_address, "probes");
  }
  if (metrics_) {
    metrics_->Route("GET", "/metrics", [&registry](const server::Request&) {
      server::Response r = server::Response::Text(200, registry.Serialize());
      r.headers.erase("Content-Type");
      r.headers.emplace("Content-Type", std::string(metrics::kTextContentType));
      return r;
    });
  }
  if (probes_) {
    probes_->Route("GET", "/healthz",
                   [](const server::Request&) { return server::Response::Text(200, "ok\n"); });
    probes_->Route("GET", "/readyz", [readiness](const server::Request&) {
      Readiness r = readiness ? readiness() : Readiness{true, ""};
      std::string body = r.ready ? "ok" : "not ready";
      if (!r.detail.empty()) body += ": " + r.detail;
      return server::Response::Text(r.ready ? 200 : 503, body + "\n");
    });
  }
  for (auto& s : servers_) {
    if (auto started = s->Start(); !started) {
      Stop();
      return started;
    }
  }
  return {};
}

void OpsServers::Stop() {
  for (auto& s : servers_) s->Stop();
}

int OpsServers::metrics_port() const { return metrics_ ? metrics_->port() : 0; }
int OpsServers::probe_port() const { return probes_ ? probes_->port() : 0; }

}  // namespace tether::cli
