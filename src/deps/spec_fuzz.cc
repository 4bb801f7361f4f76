// libFuzzer target: arbitrary JSON through the WorkloadDependency decoders, health evaluation
// and the state machine. Must never crash, hang or trip a sanitizer; every input is either
// rejected with problems or decided.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "deps/health.h"
#include "deps/state_machine.h"
#include "deps/types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nlohmann::json;
  json doc = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  using namespace tether::deps;
  const json empty = json::object();
  const json& spec_json = doc.contains("spec") ? doc["spec"] : empty;
  const json& status_json = doc.contains("status") ? doc["status"] : empty;
  const json& dependent_json = doc.contains("dependent") ? doc["dependent"] : empty;
  const json& object_json = doc.contains("object") ? doc["object"] : empty;

  DecideInput in;
  in.wd_namespace = "ns";
  in.wd_name = "wd";
  in.now = tether::FakeClock::DefaultStart();
  in.previous = DecodeStatus(status_json);
  (void)EncodeStatus(in.previous);
  auto spec = DecodeSpec(spec_json, "ns");
  if (!spec) {
    in.spec_problems = ValidateSpec(spec_json, "ns");
  } else {
    in.spec = *spec;
    in.dependent = ObserveDependent(spec->dependent.kind, dependent_json);
    HealthContext ctx;
    ctx.wd_key = "ns/wd";
    ctx.dependent_key = spec->dependent.Key();
    for (const auto& dep : spec->depends_on) {
      Observation obs = dep.type == Dependency::Type::kPrometheus
                            ? Observation::PrometheusSamples(size % 3)
                            : Observation::Object(object_json);
      in.health.push_back(EvaluateHealth(dep, obs, ctx));
    }
  }
  in.paused = size % 5 == 0;
  Decision d = Decide(in);
  (void)EncodeStatus(d.status);
  return 0;
}
