// libFuzzer target: the CEL lexer, parser, macro expansion and checker must never crash, hang
// or overflow the stack, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cel/cel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tether::cel::Env env;
  env.variables = {"resource", "this", "pod"};
  env.enable_now = true;
  (void)tether::cel::Compile(text, env);
  return 0;
}
