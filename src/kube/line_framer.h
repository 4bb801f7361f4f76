// LineFramer: splits a byte stream (a Kubernetes watch response body, delivered in arbitrary
// chunks) into newline-terminated lines. Handles lines split across chunks, many lines per chunk
// and "\r\n" endings, and caps the length of one line so a hostile or broken server cannot make
// the client buffer without bound. Pure logic, no I/O.
//
// Thread-safety: thread-compatible (one framer per stream; no internal locking).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tether::kube {

class LineFramer {
 public:
  static constexpr std::size_t kDefaultMaxLine = 16 * 1024 * 1024;

  explicit LineFramer(std::size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  // Called once per complete line, without its terminator. Return false to stop framing.
  using LineHandler = std::function<bool(std::string_view line)>;

  // Feeds the next chunk. Returns true to go on, false if `on_line` asked to stop (the rest of
  // the chunk is dropped). A line longer than the cap fails with ErrorCode::kTooLarge; after
  // any error, or after a stop, the framer refuses further input with the same outcome.
  Result<bool> Feed(std::string_view chunk, const LineHandler& on_line);

  // Bytes of an unterminated line held back, waiting for its newline. Non-zero at the end of a
  // stream means the stream was truncated mid-line.
  [[nodiscard]] std::size_t pending_bytes() const { return partial_.size(); }
  [[nodiscard]] std::size_t max_line() const { return max_line_; }

 private:
  Error TooLarge() const;

  std::size_t max_line_;
  std::string partial_;
  bool failed_ = false;
  bool stopped_ = false;
};

}  // namespace tether::kube
