#include "cli/why_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "cli/graph_command.h"
#include "deps/explain.h"
#include "gates/condition.h"
#include "gates/explain.h"

namespace tether::cli {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

kube::Resource Rollouts() {
  return kube::Resource{"argoproj.io", "v1alpha1", "rollouts", "Rollout", true};
}

std::optional<kube::Resource> WorkloadResource(const std::string& kind) {
  struct Entry {
    std::vector<std::string> names;
    kube::Resource (*resource)();
  };
  static const std::vector<Entry> kEntries = {
      {{"deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"},
       kube::resources::Deployments},
      {{"statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"},
       kube::resources::StatefulSets},
      {{"replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps"},
       kube::resources::ReplicaSets},
      {{"daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps"},
       kube::resources::DaemonSets},
      {{"cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch"}, kube::resources::CronJobs},
      {{"job", "jobs", "job.batch", "jobs.batch"}, kube::resources::Jobs},
      {{"rollout", "rollouts", "ro", "rollout.argoproj.io", "rollouts.argoproj.io"}, Rollouts},
  };
  for (const Entry& e : kEntries) {
    if (std::find(e.names.begin(), e.names.end(), kind) != e.names.end()) return e.resource();
  }
  return std::nullopt;
}

struct WhyFlags {
  ConnectionFlags connection;
  LogFlags log;
  std::string namespace_;
  std::string target;
  GateFlags gates;
};

Result<std::optional<kube::Json>> GetOptional(kube::Client& client, const kube::Resource& r,
                                              const std::string& ns, const std::string& name) {
  auto obj = client.Get(r, ns, name);
  if (obj) return std::optional<kube::Json>(std::move(*obj));
  if (obj.error().code == ErrorCode::kNotFound) return std::optional<kube::Json>();
  return tl::unexpected(obj.error().Wrap(fmt::format("reading {} {}/{}", r.kind, ns, name)));
}

int RunWhy(const WhyFlags& flags) {
  if (!ApplyLogFlags(flags.log)) return 2;
  auto target = ParseWhyTarget(flags.target);
  if (!target) {
    fmt::print(stderr, "tether why: {}\n", target.error().message);
    return 2;
  }
  Clock& clock = RealClock::Instance();
  auto conn = Connect(flags.connection, clock);
  if (!conn) {
    fmt::print(stderr, "tether why: {}\n", conn.error().ToString());
    return 1;
  }
  std::string ns = flags.namespace_.empty() ? conn->default_namespace : flags.namespace_;
  auto text = Why(*conn->client, *target, ns, clock.Now(), flags.gates);
  if (!text) {
    fmt::print(stderr, "tether why: {}\n", text.error().message);
    return 1;
  }
  fmt::print("{}", *text);
  return 0;
}

}  // namespace

Result<std::string> Why(kube::Client& client, const WhyTarget& target, const std::string& ns,
                        TimePoint now, const GateFlags& gates) {
  if (target.type == WhyTarget::Type::kPod) {
    auto prefixes = gates::ParsePrefixes(gates.prefixes);
    if (!prefixes) return tl::unexpected(prefixes.error().Wrap("--gate-prefixes"));
    auto policy = gates::ParseReferencePolicy(gates.reference_policy);
    if (!policy) return tl::unexpected(policy.error().Wrap("--gate-reference-policy"));
    return gates::ExplainPod(client, ns, target.name,
                             {.prefixes = *prefixes, .policy = *policy, .now = now});
  }
  if (target.type == WhyTarget::Type::kWorkloadDependency) {
    auto wd = GetOptional(client, WorkloadDependencyResource(), ns, target.name);
    if (!wd) return tl::unexpected(wd.error());
    if (!*wd) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("WorkloadDependency \"{}\" not found in namespace \"{}\" (list "
                              "them with `kubectl get wd -n {}`, or pass -n)",
                              target.name, ns, ns));
    }
    const kube::Json& spec = (**wd).value("spec", kube::Json::object());
    kube::Json dependent = nullptr;
    if (spec.contains("dependent") && spec["dependent"].is_object()) {
      const kube::Json& d = spec["dependent"];
      auto resource = WorkloadResource(Lower(d.value("kind", "")));
      if (resource) {
        auto obj = GetOptional(client, *resource, d.value("namespace", ns), d.value("name", ""));
        if (!obj) return tl::unexpected(obj.error());
        if (*obj) dependent = std::move(**obj);
      }
    }
    return deps::ExplainWorkloadDependency(**wd, dependent, now);
  }

  auto workload = GetOptional(client, target.resource, ns, target.name);
  if (!workload) return tl::unexpected(workload.error());
  // Dependents and dependencies may live in other namespaces: look cluster-wide when allowed.
  auto wds = ListWorkloadDependencies(client, "");
  if (!wds && wds.error().code == ErrorCode::kForbidden) wds = ListWorkloadDependencies(client, ns);
  if (!wds) return tl::unexpected(wds.error());
  std::string key = fmt::format("{}/{}/{}", target.resource.kind, ns, target.name);
  if (!*workload && !deps::IsReferenced(key, *wds)) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("{} \"{}\" not found in namespace \"{}\" and no WorkloadDependency "
                            "refers to it (check the name, or pass -n)",
                            target.resource.kind, target.name, ns));
  }
  return deps::ExplainWorkload(target.resource.kind, ns, target.name,
                               *workload ? **workload : kube::Json(nullptr), *wds, now);
}

Result<WhyTarget> ParseWhyTarget(std::string_view arg) {
  auto slash = arg.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == arg.size() ||
      arg.find('/', slash + 1) != std::string_view::npos) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("expected <kind>/<name> (e.g. deployment/payments or wd/payments-needs-"
                            "database), got \"{}\"",
                            arg));
  }
  std::string kind = Lower(arg.substr(0, slash));
  WhyTarget t;
  t.name = std::string(arg.substr(slash + 1));
  if (kind == "wd" || kind == "workloaddependency" || kind == "workloaddependencies" ||
      kind == "workloaddependency.tether.dev" || kind == "workloaddependencies.tether.dev") {
    t.type = WhyTarget::Type::kWorkloadDependency;
    t.resource = WorkloadDependencyResource();
    return t;
  }
  if (auto r = WorkloadResource(kind)) {
    t.resource = *r;
    return t;
  }
  if (kind == "pod" || kind == "pods" || kind == "po") {
    t.type = WhyTarget::Type::kPod;
    t.resource = kube::resources::Pods();
    return t;
  }
  return Fail(ErrorCode::kInvalid,
              fmt::format("unknown kind \"{}\": use deployment (deploy), statefulset (sts), "
                          "replicaset (rs), daemonset (ds), cronjob (cj), job, rollout (ro) or "
                          "workloaddependency (wd) or pod (po)",
                          arg.substr(0, slash)));
}

void RegisterWhyCommand(CLI::App& app) {
  auto flags = std::make_shared<WhyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "why", "Explain why a workload is (or is not) suspended and what tether will do next");
  AddConnectionFlags(cmd, flags->connection);
  AddLogFlags(cmd, flags->log);
  cmd->add_option("target", flags->target,
                  "<kind>/<name>: deployment/payments, sts/db, cronjob/reports, wd/<name>, "
                  "pod/<name>, ...")
      ->required();
  cmd->add_option("-n,--namespace", flags->namespace_,
                  "Namespace (default: the kubeconfig context's namespace)");
  AddFlag(cmd, "gate-prefixes", flags->gates.prefixes,
          "Comma-separated scheduling-gate prefixes tether owns (pods)");
  AddFlag(cmd, "gate-reference-policy", flags->gates.reference_policy,
          "same-namespace, authorized or any (pods)");
  cmd->callback([flags] {
    int code = 1;
    try {
      code = RunWhy(*flags);
    } catch (const std::exception& e) {
      // Library exceptions (e.g. a malformed object from the cluster) end here, not in a crash.
      fmt::print(stderr, "tether why: unexpected error: {}\n", e.what());
    }
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace tether::cli
