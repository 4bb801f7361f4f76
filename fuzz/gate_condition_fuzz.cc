// libFuzzer target: arbitrary bytes through the scheduling-gate annotation decoder and compiler
// (gates/condition.h). Properties: never crashes or throws; a decoded condition always has a
// kind and a name; decoding its canonical JSON gives the same condition back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gates/condition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto c = tether::gates::ParseCondition(input);
  if (c) {
    if (c->kind.empty() || c->name.empty()) std::abort();
    auto again = tether::gates::ParseCondition(tether::gates::ConditionToJson(*c).dump());
    if (!again || !(*again == *c)) std::abort();
    (void)tether::gates::CompileCondition(input);
  }
  return 0;
}
