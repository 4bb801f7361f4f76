// Prometheus HTTP API client: instant queries (`GET /api/v1/query`) over libcurl, with the JSON
// answer decoded into typed results (vector, matrix, scalar, string). Every failure — transport,
// timeout, HTTP error, Prometheus `"status":"error"` answer, malformed JSON — is an Error whose
// message names the server, the query and the problem; a malformed response never crashes.
//
// ParseQueryResponse() is the pure decoding step (no I/O), usable on its own and fuzzable.
//
// Thread-safety: a Client is immutable after Create() and safe to use from many threads at once
// (every Query uses its own curl handle).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace tether::prom {

struct Point {
  double timestamp = 0;  // seconds since the epoch, as Prometheus reports it
  double value = 0;
  friend bool operator==(const Point&, const Point&) = default;
};

struct Series {
  std::map<std::string, std::string> labels;  // the `metric` object
  std::vector<Point> points;                  // one for a vector, several for a matrix
  friend bool operator==(const Series&, const Series&) = default;
};

struct QueryResult {
  enum class Type { kVector, kMatrix, kScalar, kString };
  Type type = Type::kVector;
  std::vector<Series> series;  // kVector / kMatrix
  Point scalar;                // kScalar
  std::string string_value;    // kString (its timestamp is in `scalar.timestamp`)
  std::vector<std::string> warnings;

  // Number of samples the answer carries: series for vector/matrix, 1 for scalar/string.
  // "Non-empty result" in the sense of SPEC §2.3 means SampleCount() > 0.
  [[nodiscard]] std::size_t SampleCount() const;
};

// Decodes the body of a /api/v1/query answer. `http_status` is the HTTP status it came with
// (Prometheus sends error bodies with 400/422/503...). Never throws.
Result<QueryResult> ParseQueryResponse(std::string_view body, int http_status);

struct ClientOptions {
  std::string url;  // base URL, e.g. "http://prometheus.monitoring:9090" (a path prefix is kept)
  std::chrono::milliseconds timeout{10000};
  std::string bearer_token;  // optional Authorization: Bearer
  bool insecure_skip_tls_verify = false;
};

class Client {
 public:
  // Validates the URL (http or https).
  static Result<std::unique_ptr<Client>> Create(ClientOptions options);

  // Instant query at `time` (default: the server's now).
  [[nodiscard]] Result<QueryResult> Query(std::string_view promql,
                                          std::optional<TimePoint> time = std::nullopt) const;

  [[nodiscard]] const ClientOptions& options() const { return options_; }

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  ClientOptions options_;
};

}  // namespace tether::prom
