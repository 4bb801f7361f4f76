#include "testing/curl_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

namespace tether::testing {
namespace {

struct Sink {
  CurlResponse* response;
  const std::function<bool(std::string_view)>* on_data;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::string_view chunk(data, size * n);
  if (sink->on_data != nullptr) {
    if (!(*sink->on_data)(chunk)) return 0;  // aborts the transfer
    return chunk.size();
  }
  sink->response->body.append(chunk);
  return chunk.size();
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* resp = static_cast<CurlResponse*>(user);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    resp->headers.emplace(name, value);
  } else if (line.starts_with("HTTP/")) {
    resp->headers.clear();  // a new response (e.g. after 100 Continue)
  }
  return size * n;
}

}  // namespace

std::string CurlResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

CurlClient::CurlClient(std::string base_url, CurlOptions options)
    : base_url_(std::move(base_url)), options_(std::move(options)), curl_(curl_easy_init()) {}

CurlClient::~CurlClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

CurlResponse CurlClient::Request(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& content_type,
                                 const std::vector<std::string>& extra_headers) {
  return Perform(method, path, body, content_type, extra_headers, nullptr);
}

CurlResponse CurlClient::Stream(const std::string& path,
                                const std::function<bool(std::string_view)>& on_data) {
  return Perform("GET", path, "", "", {}, &on_data);
}

CurlResponse CurlClient::Perform(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& content_type,
                                 const std::vector<std::string>& extra,
                                 const std::function<bool(std::string_view)>* on_data) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  CurlResponse resp;
  Sink sink{&resp, on_data};
  std::string url = base_url_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
  if (on_data == nullptr) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_slist* headers = nullptr;
  if (!content_type.empty())
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  if (!options_.bearer_token.empty()) {
    headers =
        curl_slist_append(headers, ("Authorization: Bearer " + options_.bearer_token).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& h : extra) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_blob ca{}, cert{}, key{};
  if (!options_.ca_pem.empty()) {
    ca = {const_cast<char*>(options_.ca_pem.data()), options_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  } else {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!options_.client_cert_pem.empty()) {
    cert = {const_cast<char*>(options_.client_cert_pem.data()), options_.client_cert_pem.size(),
            CURL_BLOB_COPY};
    key = {const_cast<char*>(options_.client_key_pem.data()), options_.client_key_pem.size(),
           CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK && !(on_data != nullptr && rc == CURLE_WRITE_ERROR)) {
    resp.error = curl_easy_strerror(rc);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (rc != CURLE_OK && resp.status == 0 && resp.error.empty()) resp.error = curl_easy_strerror(rc);
  return resp;
}

}  // namespace tether::testing
