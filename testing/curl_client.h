// CurlClient: a minimal libcurl-based HTTP(S) client for tests of the servers in this project
// (HttpServer, the embedded API server). Talks real HTTP/1.1 with keep-alive; supports a CA,
// client certificates, bearer tokens and streamed responses.
//
// Thread-safety: one CurlClient per thread (it reuses one curl easy handle).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tether::testing {

struct CurlOptions {
  std::string ca_pem;  // verify the server against this CA; empty: no verification
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string bearer_token;
  long timeout_ms = 20000;
};

struct CurlResponse {
  long status = 0;  // 0 when the transfer failed (see error)
  std::string body;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string error;                                // curl's message on transport failure

  [[nodiscard]] std::string Header(const std::string& lower_name) const;
};

class CurlClient {
 public:
  CurlClient(std::string base_url, CurlOptions options = {});
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  CurlResponse Request(const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& content_type = "",
                       const std::vector<std::string>& extra_headers = {});
  CurlResponse Get(const std::string& path) { return Request("GET", path); }

  // Streams a GET response: on_data sees the body as it arrives; returning false aborts the
  // transfer (the client closes the connection).
  CurlResponse Stream(const std::string& path,
                      const std::function<bool(std::string_view)>& on_data);

  void set_bearer_token(std::string token) { options_.bearer_token = std::move(token); }

 private:
  CurlResponse Perform(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& content_type, const std::vector<std::string>& extra,
                       const std::function<bool(std::string_view)>* on_data);
  std::string base_url_;
  CurlOptions options_;
  void* curl_;
};

}  // namespace tether::testing
