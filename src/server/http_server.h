// HttpServer: the HTTP/1.1 (optionally TLS) server shared by the embedded API server, the
// admission webhook, metrics/probes and the dashboard. Boost.Beast over blocking sockets, one
// thread per connection (bounded by max_connections), keep-alive, routing by method + exact path
// or path prefix, body size limit (413), and streaming responses with chunked transfer encoding
// (watch). The TLS context can be swapped at runtime (certificate hot-reload); new connections
// pick up the new certificate.
//
// Thread-safety: Route*/Start must happen before serving traffic (routes are not changed while
// running); SetTls, Stop and the accessors are safe from any thread. Handlers run concurrently on
// connection threads and must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace tether::server {

// Case-insensitive ordering for header names.
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

// Who is on the other end of a TLS connection, when it presented a certificate that verified
// against the configured client CA.
struct PeerIdentity {
  bool verified = false;
  std::string common_name;                 // Kubernetes: the user name
  std::vector<std::string> organizations;  // Kubernetes: the groups
};

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string target;                        // raw request target: path?query
  std::string path;                          // percent-decoded path, no query
  std::map<std::string, std::string> query;  // decoded; the last value wins for repeated keys
  Headers headers;
  std::string body;
  PeerIdentity peer;
  std::string remote_address;  // "ip:port"

  // First value of a header, or "" when absent.
  [[nodiscard]] std::string Header(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> Query(const std::string& name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

// The streaming side of an exchange. A handler that wants to stream calls Begin() once, then
// Write() any number of times; the server terminates the chunked body and closes the connection
// when the handler returns. A handler that never calls Begin() answers with its returned
// Response instead.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends the status line and headers with Transfer-Encoding: chunked. False if the client is
  // gone or Begin was already called.
  virtual bool Begin(int status, const Headers& headers) = 0;
  // Sends one chunk. False once the client is gone or the server is stopping.
  virtual bool Write(std::string_view chunk) = 0;
  // True when the client closed the connection (checked without blocking) or the server stops.
  virtual bool Closed() = 0;
  // Stop is requested when the server shuts down; usable with condition_variable_any waits.
  [[nodiscard]] virtual std::stop_token stop_token() const = 0;
  [[nodiscard]] virtual bool begun() const = 0;
};

using Handler = std::function<Response(const Request&, StreamWriter&)>;
using SimpleHandler = std::function<Response(const Request&)>;

struct TlsConfig {
  std::string cert_pem;
  std::string key_pem;
  // When set, clients may present a certificate signed by this CA; its CN/O are exposed as
  // Request::peer. Unverifiable certificates fail the handshake.
  std::string client_ca_pem;
  bool require_client_cert = false;  // reject connections without a client certificate
};

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1:0";  // "host:port"; ":8080" = all interfaces; port 0 = any
  std::optional<TlsConfig> tls;
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // larger bodies get 413
  int max_connections = 512;                     // further connections are closed at accept
  std::chrono::seconds idle_timeout{120};        // keep-alive connections idle longer are closed
  std::string name = "http";                     // for log messages
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes: method "" matches any method. Exact routes win over prefix routes; among prefix
  // routes the longest prefix wins. Unrouted requests get 404 (405 if the path matches another
  // method).
  void Route(std::string method, std::string path, Handler handler);
  void Route(std::string method, std::string path, SimpleHandler handler);
  void RoutePrefix(std::string method, std::string prefix, Handler handler);
  void RoutePrefix(std::string method, std::string prefix, SimpleHandler handler);

  // Binds and starts accepting. Errors name the address and the cause (e.g. address in use).
  Result<void> Start();
  // Closes the listener and every connection (streaming ones included), then waits for handler
  // threads to return. Handlers see Closed()/stop_token and failing writes. Idempotent.
  void Stop();

  // Replaces the TLS certificate/key/CA for new connections (hot reload). Fails, and keeps the
  // old context, if the PEM data is invalid. Only valid on servers started with TLS.
  Result<void> SetTls(const TlsConfig& tls);

  [[nodiscard]] int port() const { return port_.load(); }
  [[nodiscard]] bool tls() const { return options_.tls.has_value(); }
  // "https://127.0.0.1:PORT" style base URL (host as bound; 0.0.0.0 is shown as 127.0.0.1).
  [[nodiscard]] std::string url() const;
  [[nodiscard]] int active_connections() const;

 private:
  struct Impl;
  HttpServerOptions options_;
  std::atomic<int> port_{0};
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (":port" = all interfaces, "[::1]:port" for IPv6).
Result<std::pair<std::string, int>> ParseBindAddress(std::string_view address);
// Percent-decoding ('+' is decoded as space only when form is true).
std::string PercentDecode(std::string_view s, bool form);
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace tether::server
