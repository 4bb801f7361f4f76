#include "cli/controller_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "cli/flags.h"
#include "cli/ops_server.h"
#include "cli/signals.h"
#include "common/clock.h"
#include "common/log.h"
#include "deps/controller.h"
#include "gates/condition.h"
#include "gates/controller.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "metrics/metrics.h"

namespace tether::cli {
namespace {

struct ControllerFlags {
  ConnectionFlags connection;
  LogFlags log;
  bool leader_elect = false;
  std::string leader_election_namespace;
  std::string leader_election_id = "tether-controller";
  std::string leader_election_lease_duration = "15s";
  std::string leader_election_renew_deadline = "10s";
  std::string leader_election_retry_period = "2s";
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  // WorkloadDependency controller.
  std::vector<std::string> namespaces;
  std::vector<std::string> exclude_namespaces;
  std::string selector;
  int workers = 2;
  std::string resync_period = "10m";
  std::string prometheus_url;
  std::string prometheus_interval = "15s";
  // Scheduling-gate controller.
  std::string gate_prefixes = "gate.tether.dev/";
  std::string gate_reference_policy = "same-namespace";
  std::string gate_time_resync = "1s";
};

// Parses a duration flag; prints one clear error line on failure.
bool DurationFlag(const std::string& name, const std::string& value, Duration* out) {
  if (ParseDuration(value, out) && *out > Duration(0)) return true;
  fmt::print(stderr,
             "tether: error: --{} \"{}\" is not a positive duration; use e.g. \"15s\", \"10m\"\n",
             name, value);
  return false;
}

// Parses and cross-checks the leader-election timings into `le`; prints one error line naming
// the offending flag on failure. The Lease stores whole seconds (leaseDurationSeconds), and a
// leader must give up (renew deadline) before a standby may take over (lease duration), having
// had several renewal attempts (retry period) first, or two replicas could lead at once.
bool LeaderElectionTimings(const ControllerFlags& flags, kube::LeaderElectionConfig* le) {
  if (!DurationFlag("leader-election-lease-duration", flags.leader_election_lease_duration,
                    &le->lease_duration) ||
      !DurationFlag("leader-election-renew-deadline", flags.leader_election_renew_deadline,
                    &le->renew_deadline) ||
      !DurationFlag("leader-election-retry-period", flags.leader_election_retry_period,
                    &le->retry_period)) {
    return false;
  }
  if (le->lease_duration % std::chrono::seconds(1) != Duration::zero()) {
    fmt::print(stderr,
               "tether: error: --leader-election-lease-duration \"{}\" is not a whole number of "
               "seconds (the Lease records leaseDurationSeconds); use e.g. \"15s\"\n",
               flags.leader_election_lease_duration);
    return false;
  }
  if (le->renew_deadline >= le->lease_duration) {
    fmt::print(stderr,
               "tether: error: --leader-election-renew-deadline ({}) must be shorter than "
               "--leader-election-lease-duration ({}): a leader that cannot renew must stop "
               "before a standby may take over\n",
               FormatDuration(le->renew_deadline), FormatDuration(le->lease_duration));
    return false;
  }
  if (le->retry_period >= le->renew_deadline) {
    fmt::print(stderr,
               "tether: error: --leader-election-retry-period ({}) must be shorter than "
               "--leader-election-renew-deadline ({}): the leader needs several renewal attempts "
               "before it gives up\n",
               FormatDuration(le->retry_period), FormatDuration(le->renew_deadline));
    return false;
  }
  return true;
}

// One leadership term's controller of type C (WorkloadDependency or gate controller). A fresh
// instance is made for every term, its caches warm from the start so a standby takes over
// quickly; losing leadership stops it. `warm` starts caches only (DependencyController) or is
// empty when the controller has no standby mode (GateController starts everything in Start()).
template <typename C, typename Options>
class ControllerSlot {
 public:
  ControllerSlot(Options options, std::function<void(C&)> warm, std::function<bool(C&)> synced)
      : options_(std::move(options)), warm_(std::move(warm)), synced_(std::move(synced)) {}

  Result<void> Prepare() {
    std::lock_guard lock(mu_);
    auto created = C::Create(options_);
    if (!created) return tl::unexpected(created.error());
    current_ = std::move(*created);
    if (warm_) warm_(*current_);
    return {};
  }
  void Act() {
    std::lock_guard lock(mu_);
    if (current_) current_->Start();
  }
  // Stops acting; with `prepare_next`, warms a fresh instance for the next leadership term.
  void StandDown(bool prepare_next) {
    std::unique_ptr<C> old;
    {
      std::lock_guard lock(mu_);
      old = std::move(current_);
    }
    old.reset();  // Stop() in the destructor
    if (!prepare_next) return;
    if (auto prepared = Prepare(); !prepared) {
      log::Error("cannot prepare a controller for the next leadership term",
                 {{"error", prepared.error().message}});
    }
  }
  bool HasSynced() {
    std::lock_guard lock(mu_);
    return current_ && (!synced_ || synced_(*current_));
  }

 private:
  Options options_;
  std::function<void(C&)> warm_;
  std::function<bool(C&)> synced_;
  std::mutex mu_;
  std::unique_ptr<C> current_;
};

// Per-request timeout of the leader-election client. A failed renewal attempt (GET + PUT) must
// end within lease duration - renew deadline, so that a leader facing a hanging API server stops
// leading (its deadline is checked when the attempt ends) before a standby may take over. The
// client takes whole seconds, at least 1; never more than the regular request timeout.
std::chrono::seconds LeaseRequestTimeout(const kube::LeaderElectionConfig& le,
                                         std::chrono::seconds regular) {
  auto half_margin =
      std::chrono::duration_cast<std::chrono::seconds>((le.lease_duration - le.renew_deadline) / 2);
  return std::clamp(half_margin, std::chrono::seconds(1),
                    std::max(regular, std::chrono::seconds(1)));
}

std::string InClusterNamespace() {
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns;
  if (in && std::getline(in, ns) && !ns.empty()) return ns;
  return "default";
}

std::string Identity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::random_device rd;
  return fmt::format("{}_{:08x}", host, rd());
}

int Run(const ControllerFlags& flags) {
  if (!ApplyLogFlags(flags.log)) return 2;
  kube::LeaderElectionConfig le;
  if (!LeaderElectionTimings(flags, &le)) return 2;
  // Before any thread starts, so every thread inherits the blocked signal mask.
  std::stop_source stop;
  StopOnSignals(stop);
  Clock& clock = RealClock::Instance();
  kube::LoadOptions load;
  load.kubeconfig = flags.connection.kubeconfig;
  load.context = flags.connection.context;
  auto config = kube::LoadConfig(load, clock);
  if (!config) {
    fmt::print(stderr, "tether: error: {}\n", config.error().message);
    return 1;
  }
  auto client = kube::Client::Create(
      *config, clock, {flags.connection.kube_api_qps, flags.connection.kube_api_burst});
  if (!client) {
    fmt::print(stderr, "tether: error: {}\n", client.error().message);
    return 1;
  }
  metrics::Registry& registry = metrics::Registry::Default();
  kube::ObserveApiRequests(**client, &registry);

  deps::ControllerOptions dep_options;
  dep_options.clock = &clock;
  dep_options.client = client->get();
  dep_options.registry = &registry;
  dep_options.namespaces = flags.namespaces;
  dep_options.exclude_namespaces = flags.exclude_namespaces;
  dep_options.label_selector = flags.selector;
  dep_options.workers = flags.workers;
  dep_options.prometheus_url = flags.prometheus_url;
  if (!DurationFlag("resync-period", flags.resync_period, &dep_options.resync_period) ||
      !DurationFlag("prometheus-interval", flags.prometheus_interval,
                    &dep_options.prometheus_interval)) {
    return 2;
  }
  ControllerSlot<deps::DependencyController, deps::ControllerOptions> dependencies(
      dep_options, [](deps::DependencyController& c) { c.StartCaches(); },
      [](deps::DependencyController& c) { return c.HasSynced(); });

  gates::GateControllerOptions gate_options;
  gate_options.clock = &clock;
  gate_options.client = client->get();
  gate_options.registry = &registry;
  gate_options.workers = flags.workers;
  auto prefixes = gates::ParsePrefixes(flags.gate_prefixes);
  auto policy = gates::ParseReferencePolicy(flags.gate_reference_policy);
  if (!prefixes || !policy) {
    fmt::print(stderr, "tether: error: {}\n",
               !prefixes ? prefixes.error().Wrap("--gate-prefixes").message
                         : policy.error().Wrap("--gate-reference-policy").message);
    return 2;
  }
  gate_options.prefixes = *prefixes;
  gate_options.policy = *policy;
  if (!DurationFlag("gate-time-resync", flags.gate_time_resync, &gate_options.time_resync)) {
    return 2;
  }
  // The gate controller has no caches-only mode: a standby prepares it, the leader starts it.
  ControllerSlot<gates::GateController, gates::GateControllerOptions> gate_controller(
      gate_options, nullptr, nullptr);

  if (auto prepared = dependencies.Prepare(); !prepared) {
    fmt::print(stderr, "tether: error: {}\n", prepared.error().message);
    return 2;
  }
  if (auto prepared = gate_controller.Prepare(); !prepared) {
    fmt::print(stderr, "tether: error: {}\n", prepared.error().message);
    return 2;
  }

  log::Info("starting controller", {{"server", config->server},
                                    {"context", config->context_name},
                                    {"leader_elect", flags.leader_elect}});

  std::unique_ptr<kube::Client> lease_client;
  std::unique_ptr<kube::LeaderElector> elector;
  if (flags.leader_elect) {
    le.lease_namespace = flags.leader_election_namespace.empty() ? InClusterNamespace()
                                                                 : flags.leader_election_namespace;
    le.lease_name = flags.leader_election_id;
    le.identity = Identity();
    le.registry = &registry;
    // The elector itself logs "started leading", "stopped leading" and "observed leader".
    le.on_started_leading = [&dependencies, &gate_controller] {
      dependencies.Act();
      gate_controller.Act();
      log::Info("reconcilers started (this replica leads)");
    };
    le.on_stopped_leading = [&dependencies, &gate_controller, &stop] {
      // Lost (not released at shutdown): warm fresh controllers for the next term.
      const bool lost = !stop.stop_requested();
      dependencies.StandDown(/*prepare_next=*/lost);
      gate_controller.StandDown(/*prepare_next=*/lost);
      if (lost) {
        log::Warn("reconcilers stopped: leadership lost; standing by for re-election");
      } else {
        log::Info("reconcilers stopped for shutdown");
      }
    };
    if (auto valid = kube::ValidateLeaderElectionConfig(le); !valid) {
      fmt::print(stderr, "tether: error: {}\n", valid.error().message);
      return 2;
    }
    kube::RestConfig lease_config = *config;
    lease_config.timeout = LeaseRequestTimeout(le, config->timeout);
    log::Info("leader election enabled",
              {{"lease", le.lease_namespace + "/" + le.lease_name},
               {"identity", le.identity},
               {"lease_duration", FormatDuration(le.lease_duration)},
               {"renew_deadline", FormatDuration(le.renew_deadline)},
               {"retry_period", FormatDuration(le.retry_period)},
               {"request_timeout", FormatDuration(lease_config.timeout)}});
    // Leader election gets its own client: renewals never queue behind reconcile traffic in the
    // shared rate limiter, and each request is bounded (see LeaseRequestTimeout).
    auto created = kube::Client::Create(lease_config, clock);
    if (!created) {
      fmt::print(stderr, "tether: error: {}\n", created.error().message);
      return 1;
    }
    lease_client = std::move(*created);
    kube::ObserveApiRequests(*lease_client, &registry);
    elector =
        std::make_unique<kube::LeaderElector>(kube::MakeClientLeaseStore(*lease_client), clock, le);
  }

  OpsServers ops;
  auto readiness = [&]() -> Readiness {
    if (!dependencies.HasSynced()) return {false, "caches not yet synced"};
    if (!elector) return {true, "caches synced; leader election disabled"};
    std::string leader = elector->Leader();
    if (leader.empty()) return {false, "leader not yet known"};
    return {true,
            fmt::format("leader: {}{}", leader, elector->IsLeader() ? " (this replica)" : "")};
  };
  if (auto started = ops.Start(flags.metrics_bind_address, flags.health_probe_bind_address,
                               registry, readiness);
      !started) {
    fmt::print(stderr, "tether: error: {}\n", started.error().message);
    return 1;
  }
  // The actual ports, so binding port 0 (tests, several replicas on one host) is usable.
  log::Info("serving probes and metrics", {{"metrics", flags.metrics_bind_address},
                                           {"metrics_port", ops.metrics_port()},
                                           {"probes", flags.health_probe_bind_address},
                                           {"probe_port", ops.probe_port()}});

  if (elector) {
    while (!stop.stop_requested()) {
      if (elector->Run(stop.get_token())) break;  // clean stop: the Lease was released
    }
  } else {
    dependencies.Act();
    gate_controller.Act();
    WaitForStop(stop.get_token());
  }
  gate_controller.StandDown(/*prepare_next=*/false);
  dependencies.StandDown(/*prepare_next=*/false);
  log::Info("shutting down");
  ops.Stop();
  return 0;
}

}  // namespace

void RegisterControllerCommand(CLI::App& app) {
  auto flags = std::make_shared<ControllerFlags>();
  CLI::App* cmd = app.add_subcommand(
      "controller", "Run the reconcilers (WorkloadDependency, scheduling gates), leader-elected");
  AddConnectionFlags(cmd, flags->connection);
  AddLogFlags(cmd, flags->log);
  AddBoolFlag(cmd, "leader-elect", flags->leader_elect,
              "Take part in leader election; only the leader reconciles");
  AddFlag(cmd, "leader-election-namespace", flags->leader_election_namespace,
          "Namespace of the leader-election Lease (default: the in-cluster namespace, else "
          "\"default\")");
  AddFlag(cmd, "leader-election-id", flags->leader_election_id,
          "Name of the leader-election Lease");
  AddFlag(cmd, "leader-election-lease-duration", flags->leader_election_lease_duration,
          "How long a standby waits after the last observed Lease renewal before taking over "
          "(whole seconds)");
  AddFlag(cmd, "leader-election-renew-deadline", flags->leader_election_renew_deadline,
          "How long the leader keeps trying to renew before it stops leading (< lease duration)");
  AddFlag(cmd, "leader-election-retry-period", flags->leader_election_retry_period,
          "Interval between Lease acquire/renew attempts (< renew deadline)");
  AddFlag(cmd, "metrics-bind-address", flags->metrics_bind_address,
          "Address for /metrics (\"0\" disables)");
  AddFlag(cmd, "health-probe-bind-address", flags->health_probe_bind_address,
          "Address for /healthz and /readyz (\"0\" disables)");
  AddFlag(cmd, "namespaces", flags->namespaces,
          "Only reconcile WorkloadDependencies in these namespaces (default: all)")
      ->delimiter(',');
  AddFlag(cmd, "exclude-namespaces", flags->exclude_namespaces,
          "Never reconcile WorkloadDependencies in these namespaces")
      ->delimiter(',');
  AddFlag(cmd, "selector", flags->selector,
          "Label selector: only reconcile WorkloadDependencies matching it (sharding)");
  AddFlag(cmd, "workers", flags->workers, "Concurrent reconciles per controller")
      ->check(CLI::PositiveNumber);
  AddFlag(cmd, "resync-period", flags->resync_period,
          "Periodic full resync (a safety net; events drive reconciliation)");
  AddFlag(cmd, "prometheus-url", flags->prometheus_url,
          "Prometheus base URL for prometheus dependencies (e.g. http://prometheus:9090)");
  AddFlag(cmd, "prometheus-interval", flags->prometheus_interval,
          "How often prometheus dependencies are queried");
  AddFlag(cmd, "gate-prefixes", flags->gate_prefixes,
          "Comma-separated scheduling-gate prefixes tether owns (also k8s.ksgate.org/, "
          "gateman.kdex.dev/)");
  AddFlag(cmd, "gate-reference-policy", flags->gate_reference_policy,
          "Which objects a gate may reference: same-namespace, authorized or any")
      ->check(CLI::IsMember({"same-namespace", "authorized", "any"}));
  AddFlag(cmd, "gate-time-resync", flags->gate_time_resync,
          "How often gate conditions that call now() are re-evaluated");
  cmd->callback([flags] { std::exit(Run(*flags)); });
}

}  // namespace tether::cli
