#include "kube/client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <utility>

#include "common/log.h"
#include "kube/line_framer.h"
#include "kube/rate_limiter.h"

namespace tether::kube {
namespace {

constexpr std::size_t kMaxIdleHandles = 16;
constexpr std::size_t kMaxErrorBody = 1024 * 1024;
constexpr int kListPageSize = 500;
constexpr int kListAttempts = 3;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string FirstLine(std::string_view s, std::size_t cap = 200) {
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  if (s.size() > cap) return std::string(s.substr(0, cap)) + "...";
  return std::string(s);
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct Response {
  long status = 0;
  std::string body;
  std::string retry_after;
};

size_t CollectBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* body = static_cast<std::string*>(user);
  body->append(data, size * nmemb);
  return size * nmemb;
}

size_t CollectHeader(char* data, size_t size, size_t nmemb, void* user) {
  std::string_view line(data, size * nmemb);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos && IEquals(line.substr(0, colon), "retry-after")) {
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
      v.remove_suffix(1);
    }
    *static_cast<std::string*>(user) = std::string(v);
  }
  return size * nmemb;
}

// Maps a non-2xx answer onto an Error, preferring the metav1.Status the server sent.
Error HttpError(long status, std::string_view body, std::string_view retry_after,
                std::string_view method, std::string_view url) {
  Error err;
  err.http_status = static_cast<int>(status);
  const Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::optional<int> retry_seconds;
  if (doc.is_object() && doc.value("kind", "") == "Status") {
    err.reason = doc.value("reason", "");
    err.message = doc.value("message", "");
    if (const auto d = doc.find("details"); d != doc.end() && d->is_object()) {
      if (const auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer()) {
        retry_seconds = r->get<int>();
      }
    }
  }
  if (err.message.empty()) {
    const std::string text = FirstLine(body);
    err.message =
        fmt::format("{} {}: HTTP {}{}{}", method, url, status, text.empty() ? "" : ": ", text);
  }
  err.code = ErrorCodeFromHttp(static_cast<int>(status), err.reason);
  if (!retry_after.empty()) {
    int secs = 0;
    const auto* end = retry_after.data() + retry_after.size();
    if (std::from_chars(retry_after.data(), end, secs).ptr == end && secs >= 0) {
      retry_seconds = secs;
    }
  }
  if (retry_seconds) err.retry_after = std::chrono::seconds(*retry_seconds);
  return err;
}

WatchEvent::Type ParseEventType(std::string_view t, bool* ok) {
  *ok = true;
  if (t == "ADDED") return WatchEvent::Type::kAdded;
  if (t == "MODIFIED") return WatchEvent::Type::kModified;
  if (t == "DELETED") return WatchEvent::Type::kDeleted;
  if (t == "BOOKMARK") return WatchEvent::Type::kBookmark;
  if (t == "ERROR") return WatchEvent::Type::kError;
  *ok = false;
  return WatchEvent::Type::kError;
}

void AddParam(std::string* query, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  query->push_back(query->empty() ? '?' : '&');
  query->append(key);
  query->push_back('=');
  query->append(UrlEncode(value));
}

// Lists omit kind/apiVersion on their items; restore them so every object is self-describing.
void FillTypeMeta(const Resource& r, Json* item) {
  if (!item->is_object()) return;
  if (!item->contains("kind") && !r.kind.empty()) (*item)["kind"] = r.kind;
  if (!item->contains("apiVersion")) (*item)["apiVersion"] = r.ApiVersion();
}

// Parsed pieces of the server URL, for tls-server-name (SNI) overrides.
struct ServerUrl {
  std::string scheme;
  std::string host;  // without brackets
  std::string port;
};

std::optional<ServerUrl> ParseServer(const std::string& server) {
  CURLU* u = curl_url();
  if (u == nullptr) return std::nullopt;
  std::optional<ServerUrl> out;
  if (curl_url_set(u, CURLUPART_URL, server.c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      std::string h(host);
      if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
      out = ServerUrl{scheme, h, port};
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

std::string Bracket(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

class HeaderList {
 public:
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(list_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  void Add(const std::string& h) { list_ = curl_slist_append(list_, h.c_str()); }
  [[nodiscard]] curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace

struct Client::Impl {
  Impl(RestConfig cfg, Clock& clk, RateLimit limit)
      : config(std::move(cfg)), clock(clk), limiter(limit.qps, limit.burst, clk) {}

  ~Impl() {
    for (CURL* h : idle) curl_easy_cleanup(h);
  }

  CURL* TakeHandle() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void ReturnHandle(CURL* h) {
    if (h == nullptr) return;
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleHandles) {
      idle.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  void Observe(std::string_view verb, long status, std::chrono::steady_clock::time_point start) {
    RequestObserver obs;
    {
      std::lock_guard lock(mu);
      obs = observer;
    }
    if (obs) {
      obs(verb, static_cast<int>(status),
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                               start));
    }
  }

  [[nodiscard]] std::string Url(std::string_view path_query) const {
    return url_base + std::string(path_query);
  }

  // Options common to every request: TLS material, credentials, headers, proxy.
  void Configure(CURL* h, const std::string& url, const Credential* cred, HeaderList* headers,
                 char* errbuf) const {
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(h, CURLOPT_USERAGENT, config.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!config.ca_pem.empty()) {
      curl_blob blob{const_cast<char*>(config.ca_pem.data()), config.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (config.insecure_skip_tls_verify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const std::string* cert = &config.client_cert_pem;
    const std::string* key = &config.client_key_pem;
    if (cred != nullptr && !cred->client_cert_pem.empty()) {
      cert = &cred->client_cert_pem;
      key = &cred->client_key_pem;
    }
    if (!cert->empty()) {
      curl_blob cblob{const_cast<char*>(cert->data()), cert->size(), CURL_BLOB_COPY};
      curl_blob kblob{const_cast<char*>(key->data()), key->size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cblob);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kblob);
    }
    if (!config.proxy_url.empty()) curl_easy_setopt(h, CURLOPT_PROXY, config.proxy_url.c_str());
    headers->Add("Accept: application/json");
    headers->Add("Expect:");
    if (!host_header.empty()) headers->Add("Host: " + host_header);
    if (cred != nullptr && !cred->token.empty())
      headers->Add("Authorization: Bearer " + cred->token);
  }

  Result<std::optional<Credential>> Credentials() const {
    if (!config.credentials) return std::optional<Credential>();
    auto cred = config.credentials->Get();
    if (!cred) return Fail(cred.error());
    return std::optional<Credential>(std::move(*cred));
  }

  Error TransportError(CURLcode rc, const char* errbuf, std::string_view method,
                       std::string_view path) const {
    const std::string detail = (errbuf != nullptr && errbuf[0] != '\0')
                                   ? std::string(errbuf)
                                   : std::string(curl_easy_strerror(rc));
    const ErrorCode code =
        rc == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    return Error(code, fmt::format("{} {}: cannot reach the API server {}: {}", method, path,
                                   config.server, detail));
  }

  // One non-streaming exchange; retries once with fresh credentials after a 401.
  Result<Response> Perform(std::string_view verb, std::string_view method, const std::string& path,
                           const std::string* body, std::string_view content_type) {
    for (int attempt = 0;; ++attempt) {
      auto cred = Credentials();
      if (!cred) return Fail(cred.error().Wrap(fmt::format("{} {}", method, path)));
      limiter.Acquire();
      CURL* h = TakeHandle();
      if (h == nullptr) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
      char errbuf[CURL_ERROR_SIZE] = {0};
      HeaderList headers;
      const std::string url = Url(path);
      Configure(h, url, cred->has_value() ? &**cred : nullptr, &headers, errbuf);
      curl_slist* connect = nullptr;
      if (!connect_to.empty()) {
        connect = curl_slist_append(nullptr, connect_to.c_str());
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect);
      }
      if (body != nullptr) {
        headers.Add("Content-Type: " + std::string(content_type));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      }
      if (method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      } else if (method != "GET" && !(method == "POST" && body != nullptr)) {
        const std::string m(method);  // curl copies string options
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
      }
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::chrono::milliseconds(config.timeout).count()));
      Response resp;
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &CollectBody);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
      curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &CollectHeader);
      curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp.retry_after);
      const auto start = std::chrono::steady_clock::now();
      const CURLcode rc = curl_easy_perform(h);
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
      // Drop pointers into this frame before the handle goes back to the pool.
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
      curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
      curl_slist_free_all(connect);
      ReturnHandle(h);
      Observe(verb, rc == CURLE_OK ? resp.status : 0, start);
      if (rc != CURLE_OK) return Fail(TransportError(rc, errbuf, method, path));
      if (resp.status == 401 && config.credentials && attempt == 0) {
        log::Info("API server answered 401; refreshing credentials and retrying once",
                  {{"method", method}, {"context", config.context_name}});
        config.credentials->Invalidate();
        continue;
      }
      return resp;
    }
  }

  Result<Json> PerformJson(std::string_view verb, std::string_view method, const std::string& path,
                           const Json* body, std::string_view content_type) {
    std::string payload;
    if (body != nullptr) payload = body->dump();
    auto resp = Perform(verb, method, path, body != nullptr ? &payload : nullptr, content_type);
    if (!resp) return Fail(resp.error());
    if (resp->status < 200 || resp->status >= 300) {
      return Fail(HttpError(resp->status, resp->body, resp->retry_after, method, path));
    }
    if (resp->body.empty()) return Json();
    Json doc = Json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("{} {}: the API server {} answered with a body that is not JSON",
                              method, path, config.server));
    }
    return doc;
  }

  Result<void> WatchOnce(const Resource& r, const std::string& path, int timeout_seconds,
                         const std::function<bool(WatchEvent&&)>& handler,
                         const std::stop_token& stop, bool* delivered, long* status_out);

  RestConfig config;
  Clock& clock;
  RateLimiter limiter;
  std::string url_base;     // server, with the host swapped for tls_server_name if set
  std::string connect_to;   // CURLOPT_CONNECT_TO entry for tls_server_name
  std::string host_header;  // original host:port for tls_server_name

  std::mutex mu;
  std::vector<CURL*> idle;
  RequestObserver observer;
};

namespace {

struct WatchState {
  const Resource* resource = nullptr;
  CURL* handle = nullptr;
  const std::function<bool(WatchEvent&&)>* handler = nullptr;
  LineFramer framer;
  long status = 0;
  std::string error_body;
  std::optional<Error> error;
  bool handler_stopped = false;
  bool delivered = false;
};

bool HandleWatchLine(WatchState* st, std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;
  auto ev = ParseWatchEvent(line);
  if (!ev) {
    st->error = ev.error().Wrap(fmt::format("watch {}", st->resource->GroupResource()));
    return false;
  }
  if (ev->type != WatchEvent::Type::kError) FillTypeMeta(*st->resource, &ev->object);
  st->delivered = true;
  if (!(*st->handler)(std::move(*ev))) {
    st->handler_stopped = true;
    return false;
  }
  return true;
}

size_t WatchWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* st = static_cast<WatchState*>(user);
  const size_t n = size * nmemb;
  if (st->status == 0) curl_easy_getinfo(st->handle, CURLINFO_RESPONSE_CODE, &st->status);
  if (st->status != 200) {
    const size_t room =
        kMaxErrorBody > st->error_body.size() ? kMaxErrorBody - st->error_body.size() : 0;
    st->error_body.append(data, std::min(room, n));
    return n;
  }
  auto go_on = st->framer.Feed(std::string_view(data, n),
                               [st](std::string_view line) { return HandleWatchLine(st, line); });
  if (!go_on) {
    st->error = go_on.error().Wrap(fmt::format("watch {}", st->resource->GroupResource()));
    return 0;  // aborts the transfer
  }
  return *go_on ? n : 0;
}

}  // namespace

Result<void> Client::Impl::WatchOnce(const Resource& r, const std::string& path,
                                     int timeout_seconds,
                                     const std::function<bool(WatchEvent&&)>& handler,
                                     const std::stop_token& stop, bool* delivered,
                                     long* status_out) {
  auto cred = Credentials();
  if (!cred) return Fail(cred.error().Wrap(fmt::format("watch {}", r.GroupResource())));
  limiter.Acquire();
  CURL* h = TakeHandle();
  if (h == nullptr) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    ReturnHandle(h);
    return Fail(ErrorCode::kInternal, "curl_multi_init failed");
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  HeaderList headers;
  const std::string url = Url(path);
  Configure(h, url, cred->has_value() ? &**cred : nullptr, &headers, errbuf);
  curl_slist* connect = nullptr;
  if (!connect_to.empty()) {
    connect = curl_slist_append(nullptr, connect_to.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  WatchState st;
  st.resource = &r;
  st.handle = h;
  st.handler = &handler;
  if (timeout_seconds > 0) {
    // The server ends the stream after timeoutSeconds; if it goes silent (dead peer behind a
    // NAT, partition), give up a minute later instead of hanging.
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (timeout_seconds + 60) * 1000L);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WatchWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  curl_multi_add_handle(multi, h);

  const auto start = std::chrono::steady_clock::now();
  CURLcode result = CURLE_OK;
  bool cancelled = false;
  {
    std::stop_callback wake(stop, [multi] { curl_multi_wakeup(multi); });
    int running = 1;
    while (true) {
      if (stop.stop_requested()) {
        cancelled = true;
        break;
      }
      const CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        st.error =
            Error(ErrorCode::kInternal, fmt::format("watch {}: curl_multi_perform: {}",
                                                    r.GroupResource(), curl_multi_strerror(mc)));
        break;
      }
      if (running == 0) break;
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) result = msg->data.result;
    }
  }
  if (st.status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st.status);
  curl_multi_remove_handle(multi, h);
  curl_multi_cleanup(multi);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
  curl_slist_free_all(connect);
  ReturnHandle(h);
  Observe("watch", st.status, start);
  *delivered = st.delivered;
  *status_out = st.status;

  if (cancelled) {
    return Fail(ErrorCode::kCancelled, fmt::format("watch {}: stopped", r.GroupResource()));
  }
  if (st.error) return Fail(*st.error);
  if (st.handler_stopped) return {};
  if (st.status != 0 && st.status != 200) {
    return Fail(HttpError(st.status, st.error_body, "", "GET", path));
  }
  if (result != CURLE_OK) {
    return Fail(TransportError(result, errbuf, "watch", r.GroupResource()));
  }
  if (st.framer.pending_bytes() > 0) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("watch {}: the stream from {} ended in the middle of an event",
                            r.GroupResource(), config.server));
  }
  return {};
}

Result<WatchEvent> ParseWatchEvent(std::string_view line) {
  Json doc = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto fail = [](std::string_view what) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("malformed event from the API server: {}; relist", what));
  };
  if (doc.is_discarded() || !doc.is_object()) return fail("not a JSON object");
  const auto type = doc.find("type");
  if (type == doc.end() || !type->is_string()) return fail("no type");
  bool ok = false;
  const WatchEvent::Type t = ParseEventType(type->get_ref<const std::string&>(), &ok);
  if (!ok) {
    return fail(fmt::format("unknown type \"{}\"", FirstLine(type->get<std::string>(), 40)));
  }
  auto object = doc.find("object");
  if (object == doc.end() || !object->is_object()) return fail("no object");
  return WatchEvent{t, std::move(*object)};
}

Result<std::unique_ptr<Client>> Client::Create(RestConfig config, Clock& clock, RateLimit limit) {
  GlobalInit();
  if (config.server.empty()) {
    return Fail(ErrorCode::kInvalid,
                "REST config has no server; load a kubeconfig or in-cluster "
                "config first");
  }
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("REST config for {}: a client certificate needs its key and vice versa",
                            config.server));
  }
  auto impl = std::make_unique<Impl>(std::move(config), clock, limit);
  impl->url_base = impl->config.server;
  if (!impl->config.tls_server_name.empty()) {
    auto parsed = ParseServer(impl->config.server);
    if (!parsed) {
      return Fail(ErrorCode::kInvalid, fmt::format("REST config: server \"{}\" is not a valid URL",
                                                   impl->config.server));
    }
    // Connect to the real host but speak TLS (SNI and certificate check) to tls_server_name;
    // the Host header still names the real server, as client-go does.
    impl->url_base = fmt::format("{}://{}:{}", parsed->scheme,
                                 Bracket(impl->config.tls_server_name), parsed->port);
    impl->connect_to = fmt::format("{}:{}:{}:{}", impl->config.tls_server_name, parsed->port,
                                   Bracket(parsed->host), parsed->port);
    impl->host_header = fmt::format("{}:{}", Bracket(parsed->host), parsed->port);
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const RestConfig& Client::config() const { return impl_->config; }

void Client::SetRequestObserver(RequestObserver observer) {
  std::lock_guard lock(impl_->mu);
  impl_->observer = std::move(observer);
}

Result<Json> Client::Get(const Resource& r, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  if (name.empty())
    return Fail(ErrorCode::kInvalid, fmt::format("get {}: empty name", r.GroupResource()));
  return impl_->PerformJson("get", "GET", r.ObjectPath(ns, name, subresource), nullptr, {});
}

Result<kube::ListPage> Client::ListPage(const Resource& r, std::string_view ns,
                                        const ListOptions& opts) {
  std::string query;
  AddParam(&query, "labelSelector", opts.label_selector);
  AddParam(&query, "fieldSelector", opts.field_selector);
  if (opts.limit > 0) AddParam(&query, "limit", std::to_string(opts.limit));
  AddParam(&query, "continue", opts.continue_token);
  AddParam(&query, "resourceVersion", opts.resource_version);
  AddParam(&query, "resourceVersionMatch", opts.resource_version_match);
  const std::string path = r.CollectionPath(ns) + query;
  auto doc = impl_->PerformJson("list", "GET", path, nullptr, {});
  if (!doc) return Fail(doc.error());
  if (!doc->is_object()) {
    return Fail(ErrorCode::kInternal,
                fmt::format("list {}: the answer is not a list object", r.GroupResource()));
  }
  kube::ListPage page;
  if (const auto items = doc->find("items"); items != doc->end() && items->is_array()) {
    page.items.reserve(items->size());
    for (auto& item : *items) {
      FillTypeMeta(r, &item);
      page.items.push_back(std::move(item));
    }
  }
  if (const auto meta = doc->find("metadata"); meta != doc->end() && meta->is_object()) {
    page.resource_version = meta->value("resourceVersion", "");
    page.continue_token = meta->value("continue", "");
    if (const auto rem = meta->find("remainingItemCount");
        rem != meta->end() && rem->is_number_integer()) {
      page.remaining_item_count = rem->get<std::int64_t>();
    }
  }
  return page;
}

Result<ListResult> Client::List(const Resource& r, std::string_view ns, const ListOptions& opts) {
  for (int attempt = 0; attempt < kListAttempts; ++attempt) {
    ListOptions page_opts = opts;
    // After repeated expiries, fall back to one unpaged list (what client-go does too).
    const bool unpaged = attempt == kListAttempts - 1 && attempt > 0;
    page_opts.limit = unpaged ? 0 : (opts.limit > 0 ? opts.limit : kListPageSize);
    ListResult result;
    bool expired = false;
    bool first = true;
    while (true) {
      auto page = ListPage(r, ns, page_opts);
      if (!page) {
        if (!first && page.error().code == ErrorCode::kGone) {
          log::Info("list continue token expired; relisting",
                    {{"resource", r.GroupResource()}, {"attempt", attempt + 1}});
          expired = true;
          break;
        }
        return Fail(page.error());
      }
      if (first) result.resource_version = page->resource_version;
      first = false;
      for (auto& item : page->items) result.items.push_back(std::move(item));
      if (page->continue_token.empty()) return result;
      page_opts.continue_token = page->continue_token;
      // A continued list must not repeat the resourceVersion parameters.
      page_opts.resource_version.clear();
      page_opts.resource_version_match.clear();
    }
    if (!expired) break;
  }
  return Fail(
      ErrorCode::kGone,
      fmt::format("list {}: the continue token kept expiring; retry later", r.GroupResource()));
}

Result<Json> Client::Create(const Resource& r, std::string_view ns, const Json& body) {
  return impl_->PerformJson("create", "POST", r.CollectionPath(ns), &body, "application/json");
}

Result<Json> Client::Update(const Resource& r, std::string_view ns, const Json& body,
                            std::string_view subresource) {
  std::string name;
  if (body.is_object()) {
    if (const auto meta = body.find("metadata"); meta != body.end() && meta->is_object()) {
      name = meta->value("name", "");
    }
  }
  if (name.empty()) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("update {}: the object has no metadata.name", r.GroupResource()));
  }
  return impl_->PerformJson("update", "PUT", r.ObjectPath(ns, name, subresource), &body,
                            "application/json");
}

Result<Json> Client::Patch(const Resource& r, std::string_view ns, std::string_view name,
                           PatchType type, const Json& patch, std::string_view subresource,
                           const PatchOptions& opts) {
  if (name.empty()) {
    return Fail(ErrorCode::kInvalid, fmt::format("patch {}: empty name", r.GroupResource()));
  }
  std::string_view content_type;
  switch (type) {
    case PatchType::kJson:
      content_type = "application/json-patch+json";
      break;
    case PatchType::kMerge:
      content_type = "application/merge-patch+json";
      break;
    case PatchType::kStrategicMerge:
      content_type = "application/strategic-merge-patch+json";
      break;
    case PatchType::kApply:
      content_type = "application/apply-patch+yaml";
      break;
  }
  std::string query;
  std::string manager = opts.field_manager;
  if (manager.empty() && type == PatchType::kApply) manager = "tether";
  AddParam(&query, "fieldManager", manager);
  if (type == PatchType::kApply && opts.force) AddParam(&query, "force", "true");
  if (opts.dry_run) AddParam(&query, "dryRun", "All");
  // JSON is YAML, so an apply patch is sent as JSON with the apply content type.
  return impl_->PerformJson("patch", "PATCH", r.ObjectPath(ns, name, subresource) + query, &patch,
                            content_type);
}

Result<void> Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                            const DeleteOptions& opts) {
  if (name.empty()) {
    return Fail(ErrorCode::kInvalid, fmt::format("delete {}: empty name", r.GroupResource()));
  }
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (opts.precondition_uid || opts.precondition_resource_version) {
    Json pre = Json::object();
    if (opts.precondition_uid) pre["uid"] = *opts.precondition_uid;
    if (opts.precondition_resource_version) {
      pre["resourceVersion"] = *opts.precondition_resource_version;
    }
    body["preconditions"] = std::move(pre);
  }
  if (!opts.propagation_policy.empty()) body["propagationPolicy"] = opts.propagation_policy;
  auto result =
      impl_->PerformJson("delete", "DELETE", r.ObjectPath(ns, name), &body, "application/json");
  if (!result) return Fail(result.error());
  return {};
}

Result<void> Client::Watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
                           const std::function<bool(WatchEvent&&)>& handler,
                           const std::stop_token& stop) {
  std::string query = "?watch=true";
  if (opts.allow_bookmarks) query += "&allowWatchBookmarks=true";
  AddParam(&query, "labelSelector", opts.label_selector);
  AddParam(&query, "fieldSelector", opts.field_selector);
  AddParam(&query, "resourceVersion", opts.resource_version);
  if (opts.timeout_seconds > 0)
    AddParam(&query, "timeoutSeconds", std::to_string(opts.timeout_seconds));
  const std::string path = r.CollectionPath(ns) + query;
  for (int attempt = 0;; ++attempt) {
    bool delivered = false;
    long status = 0;
    auto result =
        impl_->WatchOnce(r, path, opts.timeout_seconds, handler, stop, &delivered, &status);
    if (!result && status == 401 && !delivered && attempt == 0 && impl_->config.credentials) {
      impl_->config.credentials->Invalidate();
      continue;
    }
    return result;
  }
}

Result<Json> Client::Request(std::string_view method, std::string_view path, const Json* body,
                             std::string_view content_type) {
  if (path.empty() || path.front() != '/') {
    return Fail(ErrorCode::kInvalid,
                fmt::format("request {} \"{}\": the path must start with '/'", method, path));
  }
  std::string verb(method);
  std::transform(verb.begin(), verb.end(), verb.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return impl_->PerformJson(verb, method, std::string(path), body, content_type);
}

}  // namespace tether::kube
