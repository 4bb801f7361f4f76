#include "prom/client.h"

#include <curl/curl.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace tether::prom {
namespace {

using nlohmann::json;

// Prometheus encodes sample values as strings ("1", "NaN", "+Inf").
Result<double> ParseValue(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return Fail(ErrorCode::kInvalid, "sample value is not a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s == "NaN") return std::nan("");
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return Fail(ErrorCode::kInvalid, "sample value \"" + s + "\" is not a number");
  }
  return d;
}

Result<Point> ParsePoint(const json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number()) {
    return Fail(ErrorCode::kInvalid, "sample is not a [timestamp, \"value\"] pair");
  }
  auto v = ParseValue(p[1]);
  if (!v) return Fail(v.error());
  return Point{p[0].get<double>(), *v};
}

Result<Series> ParseSeries(const json& s, bool matrix) {
  if (!s.is_object()) return Fail(ErrorCode::kInvalid, "series is not an object");
  Series out;
  if (auto it = s.find("metric"); it != s.end()) {
    if (!it->is_object()) return Fail(ErrorCode::kInvalid, "series metric is not an object");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Fail(ErrorCode::kInvalid, "label " + k + " is not a string");
      out.labels[k] = v.get<std::string>();
    }
  }
  if (matrix) {
    auto it = s.find("values");
    if (it == s.end() || !it->is_array()) {
      // Native histograms only ("histograms") carry no float samples we can use.
      if (s.contains("histograms")) return out;
      return Fail(ErrorCode::kInvalid, "matrix series has no values array");
    }
    for (const auto& p : *it) {
      auto pt = ParsePoint(p);
      if (!pt) return Fail(pt.error());
      out.points.push_back(*pt);
    }
  } else {
    auto it = s.find("value");
    if (it == s.end()) {
      if (s.contains("histogram")) return out;
      return Fail(ErrorCode::kInvalid, "vector sample has no value");
    }
    auto pt = ParsePoint(*it);
    if (!pt) return Fail(pt.error());
    out.points.push_back(*pt);
  }
  return out;
}

Result<QueryResult> ParseData(const json& data) {
  if (!data.is_object()) return Fail(ErrorCode::kInvalid, "\"data\" is not an object");
  auto rt = data.find("resultType");
  auto res = data.find("result");
  if (rt == data.end() || !rt->is_string() || res == data.end()) {
    return Fail(ErrorCode::kInvalid, "\"data\" lacks resultType/result");
  }
  const auto& type = rt->get_ref<const std::string&>();
  QueryResult out;
  if (type == "vector" || type == "matrix") {
    out.type = type == "vector" ? QueryResult::Type::kVector : QueryResult::Type::kMatrix;
    if (!res->is_array()) return Fail(ErrorCode::kInvalid, type + " result is not an array");
    for (const auto& s : *res) {
      auto series = ParseSeries(s, out.type == QueryResult::Type::kMatrix);
      if (!series) return Fail(series.error());
      out.series.push_back(std::move(*series));
    }
  } else if (type == "scalar") {
    out.type = QueryResult::Type::kScalar;
    auto pt = ParsePoint(*res);
    if (!pt) return Fail(pt.error());
    out.scalar = *pt;
  } else if (type == "string") {
    out.type = QueryResult::Type::kString;
    if (!res->is_array() || res->size() != 2 || !(*res)[0].is_number() || !(*res)[1].is_string()) {
      return Fail(ErrorCode::kInvalid, "string result is not a [timestamp, \"text\"] pair");
    }
    out.scalar.timestamp = (*res)[0].get<double>();
    out.string_value = (*res)[1].get<std::string>();
  } else {
    return Fail(ErrorCode::kInvalid, "unknown resultType \"" + type + "\"");
  }
  return out;
}

size_t AppendBody(char* ptr, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr std::size_t kMaxBody = 64u << 20;  // refuse absurd answers instead of exhausting RAM
  if (body->size() + size * n > kMaxBody) return 0;
  body->append(ptr, size * n);
  return size * n;
}

}  // namespace

std::size_t QueryResult::SampleCount() const {
  switch (type) {
    case Type::kVector:
    case Type::kMatrix:
      return series.size();
    case Type::kScalar:
    case Type::kString:
      return 1;
  }
  return 0;
}

Result<QueryResult> ParseQueryResponse(std::string_view body, int http_status) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    std::string snippet(body.substr(0, 120));
    Error e(http_status >= 500 || http_status == 0 ? ErrorCode::kUnavailable : ErrorCode::kInvalid,
            "Prometheus answered HTTP " + std::to_string(http_status) +
                " with a body that is not a JSON object: \"" + snippet + "\"");
    e.http_status = http_status;
    return Fail(std::move(e));
  }
  std::string status = doc.value("status", std::string());
  if (status != "success") {
    std::string type = doc.contains("errorType") && doc["errorType"].is_string()
                           ? doc["errorType"].get<std::string>()
                           : std::string("unknown");
    std::string msg = doc.contains("error") && doc["error"].is_string()
                          ? doc["error"].get<std::string>()
                          : std::string("no error message");
    ErrorCode code = ErrorCode::kInvalid;
    if (type == "timeout") code = ErrorCode::kTimeout;
    if (type == "unavailable" || type == "internal" || http_status >= 500) {
      code = ErrorCode::kUnavailable;
    }
    Error e(code, "Prometheus query failed (" + type + "): " + msg);
    e.http_status = http_status;
    e.reason = type;
    return Fail(std::move(e));
  }
  auto data = doc.find("data");
  if (data == doc.end()) return Fail(ErrorCode::kInvalid, "Prometheus answer has no \"data\"");
  auto out = ParseData(*data);
  if (!out) {
    return Fail(out.error().Wrap("malformed Prometheus answer"));
  }
  if (auto w = doc.find("warnings"); w != doc.end() && w->is_array()) {
    for (const auto& s : *w) {
      if (s.is_string()) out->warnings.push_back(s.get<std::string>());
    }
  }
  return out;
}

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  const auto& u = options.url;
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
    return Fail(ErrorCode::kInvalid, "--prometheus-url \"" + u +
                                         "\" is not an http(s) URL; use e.g. "
                                         "http://prometheus.monitoring:9090");
  }
  while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
  return std::unique_ptr<Client>(new Client(std::move(options)));
}

Result<QueryResult> Client::Query(std::string_view promql, std::optional<TimePoint> time) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  char* escaped = curl_easy_escape(curl.get(), promql.data(), static_cast<int>(promql.size()));
  std::string url = options_.url + "/api/v1/query?query=" + (escaped ? escaped : "");
  curl_free(escaped);
  if (time) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch());
    url += "&time=" + std::to_string(ms.count() / 1000) + "." +
           std::to_string(1000 + ms.count() % 1000).substr(1);
  }
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  if (options_.insecure_skip_tls_verify) {
    curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  std::string auth;
  if (!options_.bearer_token.empty()) {
    auth = "Authorization: Bearer " + options_.bearer_token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  std::string where = "Prometheus " + options_.url + " query \"" + std::string(promql) + "\"";
  if (rc != CURLE_OK) {
    ErrorCode code = rc == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    return Fail(code, where + ": " + curl_easy_strerror(rc) +
                          " (check --prometheus-url and that Prometheus is reachable)");
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  auto out = ParseQueryResponse(body, static_cast<int>(status));
  if (!out) return Fail(out.error().Wrap(where));
  return out;
}

}  // namespace tether::prom
