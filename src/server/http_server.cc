#include "server/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <list>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace tether::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string Request::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> Request::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::string PercentDecode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(form && c == '+' ? ' ' : c);
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key = PercentDecode(part.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : PercentDecode(part.substr(eq + 1), true);
    out[key] = value;
  }
  return out;
}

Result<std::pair<std::string, int>> ParseBindAddress(std::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kInvalid,
                "bind address \"" + std::string(address) +
                    "\" has no port; use host:port, e.g. :8080 or 127.0.0.1:0");
  }
  std::string host(address.substr(0, colon));
  std::string port_text(address.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return Fail(ErrorCode::kInvalid, "bind address \"" + std::string(address) +
                                         "\": port must be a number from 0 to 65535");
  }
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, port);
}

namespace {

struct RouteEntry {
  std::string method;
  std::string path;
  bool prefix = false;
  Handler handler;
};

PeerIdentity PeerFromSsl(SSL* ssl) {
  PeerIdentity id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return id;
  id.verified = true;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                      static_cast<size_t>(ASN1_STRING_length(data)));
    if (nid == NID_commonName) id.common_name = value;
    if (nid == NID_organizationName) id.organizations.push_back(value);
  }
  return id;
}

Result<std::shared_ptr<asio::ssl::context>> MakeSslContext(const TlsConfig& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->use_certificate_chain(asio::buffer(tls.cert_pem), ec);
  if (ec) {
    return Fail(ErrorCode::kInvalid,
                "TLS: cannot load server certificate PEM (" + ec.message() +
                    "); provide a PEM certificate chain starting with -----BEGIN CERTIFICATE-----");
  }
  ctx->use_private_key(asio::buffer(tls.key_pem), asio::ssl::context::pem, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalid,
                "TLS: cannot load server private key PEM (" + ec.message() +
                    "); provide an unencrypted PEM key matching the certificate");
  }
  if (!tls.client_ca_pem.empty()) {
    ctx->add_certificate_authority(asio::buffer(tls.client_ca_pem), ec);
    if (ec) {
      return Fail(ErrorCode::kInvalid, "TLS: cannot load client CA PEM (" + ec.message() +
                                           "); provide PEM certificates");
    }
    // Without a session id context OpenSSL refuses to resume sessions of verified clients, and
    // reconnecting clients (curl resumes by default) fail the handshake.
    static const unsigned char kSessionContext[] = "tether-http-server";
    SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext,
                                   sizeof(kSessionContext) - 1);
    int mode = asio::ssl::verify_peer;
    if (tls.require_client_cert) mode |= asio::ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode, ec);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none, ec);
  }
  return ctx;
}

}  // namespace

struct HttpServer::Impl {
  struct Conn {
    explicit Conn(asio::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    std::thread thread;
    std::atomic<bool> done{false};
    std::stop_source stop;
  };

  HttpServer* owner;
  std::vector<RouteEntry> routes;
  asio::io_context ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  bool started = false;

  mutable std::mutex mu;  // guards conns, ssl_ctx
  std::list<std::unique_ptr<Conn>> conns;
  std::shared_ptr<asio::ssl::context> ssl_ctx;

  explicit Impl(HttpServer* o) : owner(o) {}

  void ReapLocked() {
    for (auto it = conns.begin(); it != conns.end();) {
      if ((*it)->done.load()) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }

  const RouteEntry* FindRoute(const std::string& method, const std::string& path,
                              bool* other_method) {
    const RouteEntry* best = nullptr;
    *other_method = false;
    for (const auto& r : routes) {
      bool match = r.prefix ? path.starts_with(r.path) : path == r.path;
      if (!match) continue;
      if (!r.method.empty() && r.method != method) {
        *other_method = true;
        continue;
      }
      if (best == nullptr) {
        best = &r;
      } else if (best->prefix && !r.prefix) {
        best = &r;
      } else if (best->prefix && r.prefix && r.path.size() > best->path.size()) {
        best = &r;
      }
    }
    return best;
  }

  void AcceptLoop() {
    for (;;) {
      auto conn = std::make_unique<Conn>(ioc);
      boost::system::error_code ec;
      acceptor->accept(conn->socket, ec);
      if (stopping.load()) return;
      if (ec) {
        if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
            ec == asio::error::invalid_argument) {
          return;
        }
        continue;
      }
      std::lock_guard lock(mu);
      ReapLocked();
      if (static_cast<int>(conns.size()) >= owner->options_.max_connections) {
        log::Warn("connection limit reached; closing new connection",
                  {{"server", owner->options_.name}, {"limit", owner->options_.max_connections}});
        conn->socket.close(ec);
        continue;
      }
      if (stopping.load()) return;
      Conn* raw = conn.get();
      conns.push_back(std::move(conn));
      raw->thread = std::thread([this, raw] {
        Serve(*raw);
        raw->done.store(true);
      });
    }
  }

  void Serve(Conn& c) {
    boost::system::error_code ec;
    int fd = c.socket.native_handle();
    timeval tv{};
    tv.tv_sec = static_cast<long>(owner->options_.idle_timeout.count());
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c.socket.set_option(tcp::no_delay(true), ec);
    std::string remote;
    auto ep = c.socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());

    if (owner->options_.tls) {
      std::shared_ptr<asio::ssl::context> ctx;
      {
        std::lock_guard lock(mu);
        ctx = ssl_ctx;
      }
      asio::ssl::stream<tcp::socket&> stream(c.socket, *ctx);
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        log::Debug("TLS handshake failed",
                   {{"server", owner->options_.name}, {"peer", remote}, {"error", ec.message()}});
      } else {
        Loop(stream, c, PeerFromSsl(stream.native_handle()), remote);
      }
    } else {
      Loop(c.socket, c, PeerIdentity{}, remote);
    }
    c.socket.shutdown(tcp::socket::shutdown_both, ec);
    c.socket.close(ec);
  }

  template <class Stream>
  class Writer final : public StreamWriter {
   public:
    Writer(Stream& s, Conn& c) : s_(s), c_(c) {}
    bool Begin(int status, const Headers& headers) override {
      if (begun_ || failed_) return false;
      begun_ = true;
      http::response<http::empty_body> res;
      res.version(11);
      res.result(static_cast<unsigned>(status));
      for (const auto& [k, v] : headers) res.insert(k, v);
      res.chunked(true);
      res.keep_alive(false);
      http::response_serializer<http::empty_body> sr{res};
      boost::system::error_code ec;
      http::write_header(s_, sr, ec);
      if (ec) failed_ = true;
      return !failed_;
    }
    bool Write(std::string_view chunk) override {
      if (!begun_ || failed_ || c_.stop.stop_requested()) return false;
      if (chunk.empty()) return true;
      boost::system::error_code ec;
      asio::write(s_, http::make_chunk(asio::const_buffer(chunk.data(), chunk.size())), ec);
      if (ec) failed_ = true;
      return !failed_;
    }
    bool Closed() override {
      if (failed_ || c_.stop.stop_requested()) return true;
      pollfd p{};
      p.fd = c_.socket.native_handle();
      p.events = POLLIN | POLLRDHUP;
      if (::poll(&p, 1, 0) > 0) {
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
        char byte;
        if (p.revents & POLLIN) {
          ssize_t n = ::recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0) return true;
        }
      }
      return false;
    }
    [[nodiscard]] std::stop_token stop_token() const override { return c_.stop.get_token(); }
    [[nodiscard]] bool begun() const override { return begun_; }
    void Finish() {
      if (!begun_ || failed_) return;
      boost::system::error_code ec;
      asio::write(s_, http::make_chunk_last(), ec);
    }

   private:
    Stream& s_;
    Conn& c_;
    bool begun_ = false;
    bool failed_ = false;
  };

  template <class Stream>
  void WriteResponse(Stream& s, const Response& r, bool keep_alive, boost::system::error_code& ec) {
    http::response<http::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(r.status));
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    res.body() = r.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    http::write(s, res, ec);
  }

  template <class Stream>
  void Loop(Stream& s, Conn& c, const PeerIdentity& peer, const std::string& remote) {
    beast::flat_buffer buffer;
    while (!c.stop.stop_requested()) {
      boost::system::error_code ec;
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(owner->options_.max_body_bytes);
      http::read_header(s, buffer, parser, ec);
      if (ec == http::error::body_limit) {  // Content-Length already exceeds the limit
        WriteResponse(s, TooLarge(), false, ec);
        Drain(c);
        return;
      }
      if (ec) return;
      auto& hdr = parser.get();
      if (beast::iequals(hdr[http::field::expect], "100-continue")) {
        if (hdr.has_content_length() && parser.content_length() &&
            *parser.content_length() > owner->options_.max_body_bytes) {
          WriteResponse(s, TooLarge(), false, ec);
          Drain(c);
          return;
        }
        http::response<http::empty_body> cont{http::status::continue_, 11};
        http::write(s, cont, ec);
        if (ec) return;
      }
      http::read(s, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        WriteResponse(s, TooLarge(), false, ec);
        Drain(c);
        return;
      }
      if (ec) return;
      auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      size_t q = req.target.find('?');
      req.path = PercentDecode(std::string_view(req.target).substr(0, q), false);
      if (q != std::string::npos)
        req.query = ParseQuery(std::string_view(req.target).substr(q + 1));
      for (const auto& f : msg) {
        req.headers.emplace(std::string(f.name_string()), std::string(f.value()));
      }
      req.body = std::move(msg.body());
      req.peer = peer;
      req.remote_address = remote;
      bool keep_alive = msg.keep_alive();

      Writer<Stream> writer(s, c);
      Response resp;
      bool other_method = false;
      const RouteEntry* route = FindRoute(req.method, req.path, &other_method);
      if (route == nullptr) {
        resp = other_method ? Response::Text(405, "405 method not allowed\n")
                            : Response::Text(404, "404 page not found\n");
      } else {
        try {
          resp = route->handler(req, writer);
        } catch (const std::exception& e) {
          log::Error("HTTP handler threw",
                     {{"server", owner->options_.name}, {"path", req.path}, {"error", e.what()}});
          resp = Response::Text(500, "internal server error\n");
        }
      }
      if (writer.begun()) {
        writer.Finish();
        return;
      }
      WriteResponse(s, resp, keep_alive, ec);
      if (ec || !keep_alive) return;
    }
  }

  // After rejecting a request whose body is still arriving: closing right away would make the
  // kernel reset the connection (unread data) and the client would never see the 413. Half-close
  // and discard what the client still sends, bounded in bytes and time.
  void Drain(Conn& c) {
    int fd = c.socket.native_handle();
    ::shutdown(fd, SHUT_WR);
    timeval tv{};
    tv.tv_sec = 2;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[16384];
    size_t total = 0;
    const size_t limit = 4 * owner->options_.max_body_bytes + (1 << 20);
    while (total < limit && !c.stop.stop_requested()) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  }

  static Response TooLarge() { return Response::Text(413, "request body too large\n"); }
};

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(this)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string path, Handler handler) {
  impl_->routes.push_back({std::move(method), std::move(path), false, std::move(handler)});
}
void HttpServer::Route(std::string method, std::string path, SimpleHandler handler) {
  Route(std::move(method), std::move(path),
        Handler([h = std::move(handler)](const Request& r, StreamWriter&) { return h(r); }));
}
void HttpServer::RoutePrefix(std::string method, std::string prefix, Handler handler) {
  impl_->routes.push_back({std::move(method), std::move(prefix), true, std::move(handler)});
}
void HttpServer::RoutePrefix(std::string method, std::string prefix, SimpleHandler handler) {
  RoutePrefix(std::move(method), std::move(prefix),
              Handler([h = std::move(handler)](const Request& r, StreamWriter&) { return h(r); }));
}

Result<void> HttpServer::Start() {
  if (impl_->started) {
    return Fail(ErrorCode::kInvalid, "HttpServer " + options_.name + ": Start called twice");
  }
  auto bind = ParseBindAddress(options_.bind_address);
  if (!bind) return tl::unexpected(bind.error());
  if (options_.tls) {
    auto ctx = MakeSslContext(*options_.tls);
    if (!ctx) return tl::unexpected(ctx.error().Wrap("HttpServer " + options_.name));
    impl_->ssl_ctx = *ctx;
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind->first, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalid, "HttpServer " + options_.name + ": bind address \"" +
                                         options_.bind_address + "\": host is not an IP address");
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(bind->second));
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable, "HttpServer " + options_.name + ": cannot listen on " +
                                             options_.bind_address + ": " + ec.message() +
                                             " (is another process using the port?)");
  }
  port_.store(acceptor->local_endpoint().port());
  impl_->acceptor = std::move(acceptor);
  impl_->started = true;
  impl_->stopping.store(false);
  impl_->accept_thread = std::thread([this] { impl_->AcceptLoop(); });
  return {};
}

void HttpServer::Stop() {
  if (!impl_->started) return;
  impl_->started = false;
  impl_->stopping.store(true);
  // Wakes the blocking accept() (Linux returns EINVAL on a shut-down listening socket).
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  boost::system::error_code ec;
  impl_->acceptor->close(ec);
  std::list<std::unique_ptr<Impl::Conn>> conns;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& c : impl_->conns) {
      c->stop.request_stop();
      ::shutdown(c->socket.native_handle(), SHUT_RDWR);
    }
    conns.swap(impl_->conns);
  }
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
  impl_->acceptor.reset();
}

Result<void> HttpServer::SetTls(const TlsConfig& tls) {
  if (!options_.tls) {
    return Fail(ErrorCode::kInvalid,
                "HttpServer " + options_.name + ": SetTls on a server started without TLS");
  }
  auto ctx = MakeSslContext(tls);
  if (!ctx) return tl::unexpected(ctx.error().Wrap("HttpServer " + options_.name));
  std::lock_guard lock(impl_->mu);
  impl_->ssl_ctx = *ctx;
  return {};
}

std::string HttpServer::url() const {
  auto bind = ParseBindAddress(options_.bind_address);
  std::string host = bind ? bind->first : "127.0.0.1";
  if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls() ? "https://" : "http://") + host + ":" + std::to_string(port());
}

int HttpServer::active_connections() const {
  std::lock_guard lock(impl_->mu);
  int n = 0;
  for (const auto& c : impl_->conns) n += c->done.load() ? 0 : 1;
  return n;
}

}  // namespace tether::server
