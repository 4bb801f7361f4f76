// Fuzzes the watch stream framing and event decoding. The first byte picks a chunk size, the
// rest is the stream: every complete line must be delivered exactly once and unchanged (minus
// "\r" before "\n"), lines longer than the cap must fail with kTooLarge, and every line must
// decode to an event or an Error without crashing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kube/client.h"
#include "kube/line_framer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr std::size_t kCap = 256;
  tether::kube::LineFramer framer(kCap);
  std::string rebuilt;
  bool failed = false;
  for (std::size_t i = 0; i < stream.size() && !failed; i += chunk) {
    auto r = framer.Feed(stream.substr(i, chunk), [&](std::string_view line) {
      if (line.size() > kCap) __builtin_trap();
      rebuilt.append(line);
      rebuilt.push_back('\n');
      (void)tether::kube::ParseWatchEvent(line);
      return true;
    });
    if (!r) {
      if (r.error().code != tether::ErrorCode::kTooLarge) __builtin_trap();
      failed = true;
    }
  }
  if (!failed) {
    // Reference framing: split on '\n', drop one trailing '\r' per line.
    std::string expected;
    std::size_t start = 0;
    while (true) {
      const std::size_t nl = stream.find('\n', start);
      if (nl == std::string_view::npos) break;
      std::string_view line = stream.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      expected.append(line);
      expected.push_back('\n');
      start = nl + 1;
    }
    if (expected != rebuilt) __builtin_trap();
    if (framer.pending_bytes() != stream.size() - start) __builtin_trap();
  }
  return 0;
}
