// Fuzzes kubeconfig parsing and resolution: arbitrary bytes must yield a RestConfig or an Error
// (no crash, no exception, no hang). Exec plugins are configured but never run here.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/clock.h"
#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tether::FakeClock clock;
  const std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto cfg = tether::kube::ParseKubeconfig(doc, "/fuzz/kubeconfig", "", clock);
  if (cfg) {
    // Resolving must leave a usable server URL.
    if (cfg->server.empty()) __builtin_trap();
  } else if (cfg.error().message.empty()) {
    __builtin_trap();
  }
  // A second pass with an explicit context exercises the --context path.
  (void)tether::kube::ParseKubeconfig(doc, "/fuzz/kubeconfig", "ctx", clock);
  return 0;
}
