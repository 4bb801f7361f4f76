// CEL compile and evaluation benchmarks for typical gate expressions (SPEC §10: evaluation
// should be no slower than cel-go's for the same expression).
// Run: build/<dir>/src/cel/cel_bench
#include <benchmark/benchmark.h>

#include <memory>

#include "cel/cel.h"

namespace {

using tether::cel::Activation;
using tether::cel::Compile;
using tether::cel::Env;
using tether::cel::EvalOptions;

const char* const kExpressions[] = {
    "resource.status.readyReplicas >= 1",
    "resource.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
    "now() > timestamp(resource.metadata.creationTimestamp) + duration('10s')",
    "quantity(resource.spec.containers[0].resources.requests.memory).compareTo(quantity('1Gi')) < "
    "0",
};

// A realistic ~5 KB Deployment-like object.
std::shared_ptr<const nlohmann::json> Resource() {
  auto j = std::make_shared<nlohmann::json>(nlohmann::json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "0b8f6c1e-4f59-4d0e-8f3c-2f0a0f1d7a11",
      "resourceVersion": "123456", "generation": 4, "creationTimestamp": "2024-01-01T00:00:00Z",
      "labels": {"app": "web", "tier": "frontend", "team": "payments"},
      "annotations": {"deployment.kubernetes.io/revision": "4", "note": "benchmark object"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
      "containers": [{"name": "app", "image": "registry.example.com/web:1.2.3",
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]}]},
    "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3,
      "conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "lastUpdateTime": "2024-01-01T00:01:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z",
         "message": "ReplicaSet \"web-5d9c7b\" has successfully progressed."},
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "lastUpdateTime": "2024-01-01T00:01:00Z", "lastTransitionTime": "2024-01-01T00:01:00Z",
         "message": "Deployment has minimum availability."},
        {"type": "Ready", "status": "True", "reason": "AllReady",
         "lastUpdateTime": "2024-01-01T00:01:00Z", "lastTransitionTime": "2024-01-01T00:01:00Z",
         "message": "All replicas are ready."}]}
  })"));
  for (int i = 0; i < 40; ++i) {
    (*j)["metadata"]["annotations"]["padding-" + std::to_string(i)] = std::string(80, 'x');
  }
  return j;
}

Env GateEnv() {
  Env env;
  env.variables = {"resource", "this", "pod"};
  env.enable_now = true;
  return env;
}

void BM_Compile(benchmark::State& state) {
  const char* expr = kExpressions[state.range(0)];
  Env env = GateEnv();
  for (auto _ : state) {
    auto p = Compile(expr, env);
    benchmark::DoNotOptimize(p);
  }
  state.SetLabel(expr);
}

void BM_Evaluate(benchmark::State& state) {
  const char* expr = kExpressions[state.range(0)];
  auto program = Compile(expr, GateEnv());
  if (!program) {
    state.SkipWithError(program.error().message.c_str());
    return;
  }
  auto resource = Resource();
  EvalOptions options;
  options.now = tether::RealClock::Instance().Now();
  for (auto _ : state) {
    Activation act;
    act.Bind("resource", resource);
    auto r = (*program)->EvaluateBool(act, options);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(expr);
}

BENCHMARK(BM_Compile)->DenseRange(0, 3);
BENCHMARK(BM_Evaluate)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();
