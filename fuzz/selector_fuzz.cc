// libFuzzer target for label and field selector parsing, rendering and matching.
// Invariants checked: no crash/UB on any input; a parsed selector re-parses from its String()
// form to an equal selector; matching never throws.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "kube/selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using tether::kube::FieldSelector;
  using tether::kube::LabelSelector;

  if (auto labels = LabelSelector::Parse(input)) {
    auto again = LabelSelector::Parse(labels->String());
    if (!again || !(*again == *labels)) std::abort();
    (void)labels->Matches({{"app", "web"}, {"tier", "1"}});
    if (auto json = labels->ToJson()) {
      auto back = LabelSelector::FromJson(*json);
      if (!back) std::abort();
    }
  }
  if (auto fields = FieldSelector::Parse(input)) {
    auto again = FieldSelector::Parse(fields->String());
    if (!again || !(*again == *fields)) std::abort();
    nlohmann::json pod = {{"apiVersion", "v1"},
                          {"kind", "Pod"},
                          {"metadata", {{"name", "p"}, {"namespace", "default"}}},
                          {"spec", {{"nodeName", "n"}}}};
    (void)fields->Matches(pod);
    (void)fields->ForKind("", "Pod");
  }
  return 0;
}
