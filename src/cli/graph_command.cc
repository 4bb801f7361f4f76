#include "cli/graph_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "deps/graph.h"

namespace tether::cli {

kube::Resource WorkloadDependencyResource() {
  return kube::Resource{"tether.dev", "v1alpha1", "workloaddependencies", "WorkloadDependency",
                        true};
}

Result<Connection> Connect(const ConnectionFlags& flags, Clock& clock) {
  kube::LoadOptions opts;
  opts.kubeconfig = flags.kubeconfig;
  opts.context = flags.context;
  auto config = kube::LoadConfig(opts, clock);
  if (!config) return tl::unexpected(config.error());
  std::string ns = config->default_namespace.empty() ? "default" : config->default_namespace;
  kube::RateLimit limit{flags.kube_api_qps, flags.kube_api_burst};
  auto client = kube::Client::Create(std::move(*config), clock, limit);
  if (!client) return tl::unexpected(client.error());
  return Connection{std::move(*client), ns};
}

Result<std::vector<kube::Json>> ListWorkloadDependencies(kube::Client& client,
                                                         const std::string& ns) {
  auto list = client.List(WorkloadDependencyResource(), ns);
  if (!list) {
    if (list.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  "the WorkloadDependency CRD (workloaddependencies.tether.dev) is not installed "
                  "in this cluster: install it with `tether manifests | kubectl apply -f -`");
    }
    return tl::unexpected(
        list.error().Wrap(ns.empty() ? std::string("listing WorkloadDependencies in all namespaces")
                                     : "listing WorkloadDependencies in namespace " + ns));
  }
  return std::move(list->items);
}

namespace {

struct GraphFlags {
  ConnectionFlags connection;
  LogFlags log;
  std::string namespace_;
  bool all_namespaces = false;
  std::string output = "text";
};

int RunGraph(const GraphFlags& flags) {
  if (!ApplyLogFlags(flags.log)) return 2;
  auto format = deps::ParseGraphFormat(flags.output);
  if (!format) {
    fmt::print(stderr, "tether graph: {}\n", format.error().message);
    return 2;
  }
  auto conn = Connect(flags.connection, RealClock::Instance());
  if (!conn) {
    fmt::print(stderr, "tether graph: {}\n", conn.error().ToString());
    return 1;
  }
  std::string ns = flags.all_namespaces
                       ? std::string()
                       : (flags.namespace_.empty() ? conn->default_namespace : flags.namespace_);
  auto wds = ListWorkloadDependencies(*conn->client, ns);
  if (!wds) {
    fmt::print(stderr, "tether graph: {}\n", wds.error().message);
    return 1;
  }
  if (wds->empty() && *format == deps::GraphFormat::kText) {
    fmt::print("No WorkloadDependencies found in {}.\n",
               ns.empty() ? std::string("any namespace") : "namespace " + ns);
    return 0;
  }
  fmt::print("{}", deps::Render(deps::BuildGraph(*wds), *format));
  return 0;
}

}  // namespace

void RegisterGraphCommand(CLI::App& app) {
  auto flags = std::make_shared<GraphFlags>();
  CLI::App* cmd = app.add_subcommand(
      "graph", "Print the WorkloadDependency graph (text tree, DOT or Mermaid), coloured by phase");
  AddConnectionFlags(cmd, flags->connection);
  AddLogFlags(cmd, flags->log);
  cmd->add_option("-n,--namespace", flags->namespace_,
                  "Namespace (default: the kubeconfig context's namespace)");
  cmd->add_flag("-A,--all-namespaces", flags->all_namespaces,
                "WorkloadDependencies of every namespace");
  cmd->add_option("-o,--output", flags->output, "Output format: text, dot or mermaid")
      ->envname(EnvName("output"))
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "dot", "mermaid"}));
  cmd->callback([flags] {
    int code = 1;
    try {
      code = RunGraph(*flags);
    } catch (const std::exception& e) {
      // Library exceptions (e.g. a malformed object from the cluster) end here, not in a crash.
      fmt::print(stderr, "tether graph: unexpected error: {}\n", e.what());
    }
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace tether::cli
