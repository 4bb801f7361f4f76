#include "kube/line_framer.h"

#include <fmt/format.h>

namespace tether::kube {

Error LineFramer::TooLarge() const {
  return Error(ErrorCode::kTooLarge,
               fmt::format("watch stream: a line exceeds the {} byte limit (object too large or "
                           "stream corrupt); raise the limit or shrink the object",
                           max_line_));
}

Result<bool> LineFramer::Feed(std::string_view chunk, const LineHandler& on_line) {
  if (failed_) return Fail(TooLarge());
  if (stopped_) return false;
  while (!chunk.empty()) {
    const std::size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + chunk.size() > max_line_) {
        failed_ = true;
        partial_.clear();
        return Fail(TooLarge());
      }
      partial_.append(chunk);
      return true;
    }
    std::string_view line;
    if (partial_.empty()) {
      line = chunk.substr(0, nl);
    } else {
      if (partial_.size() + nl > max_line_) {
        failed_ = true;
        partial_.clear();
        return Fail(TooLarge());
      }
      partial_.append(chunk.substr(0, nl));
      line = partial_;
    }
    chunk.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_) {
      failed_ = true;
      partial_.clear();
      return Fail(TooLarge());
    }
    const bool go_on = on_line(line);
    partial_.clear();
    if (!go_on) {
      stopped_ = true;
      return false;
    }
  }
  return true;
}

}  // namespace tether::kube
