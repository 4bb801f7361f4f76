// libFuzzer target: compiling and evaluating arbitrary CEL over a fixed Kubernetes-like object
// must never crash; every evaluation ends within the (small) cost budget.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "cel/cel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* kResource = new std::shared_ptr<const nlohmann::json>(
      std::make_shared<const nlohmann::json>(nlohmann::json::parse(R"({
        "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"replicas": 3, "containers": [{"name": "c", "resources": {"requests": {"memory": "512Mi"}}}]},
        "status": {"readyReplicas": 2, "conditions": [{"type": "Ready", "status": "True"}]}
      })")));
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tether::cel::Env env;
  env.variables = {"resource"};
  env.enable_now = true;
  auto program = tether::cel::Compile(text, env);
  if (!program) return 0;
  tether::cel::Activation act;
  act.Bind("resource", *kResource);
  tether::cel::EvalOptions options;
  options.cost_budget = 20000;
  options.now = tether::TimePoint{};
  (void)(*program)->Evaluate(act, options);
  return 0;
}
