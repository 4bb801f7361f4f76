// Client tests over real HTTPS against a scripted fake API server (tether_server's HttpServer):
// request shapes (method, path, query, content type, credentials), Status → Error mapping, paging,
// watch streaming and cancellation, TLS and authentication.
#include "kube/client.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "kube/exec_credential.h"
#include "server/http_server.h"
#include "server/tls.h"

namespace tether::kube {
namespace {

using server::Request;
using server::Response;
using server::StreamWriter;
using ::testing::HasSubstr;

template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

// Blocks a streaming handler until the client goes away or the server stops.
void HoldStream(StreamWriter& w) {
  std::mutex m;
  std::unique_lock lock(m);
  std::condition_variable_any cv;
  while (!w.Closed()) {
    cv.wait_for(lock, w.stop_token(), std::chrono::milliseconds(10), [] { return false; });
    if (w.stop_token().stop_requested()) return;
  }
}

struct Seen {
  std::string method;
  std::string target;
  std::string content_type;
  std::string authorization;
  std::string peer;
  std::string body;
};

Response JsonResponse(int status, const Json& body) { return Response::Json(status, body.dump()); }

Json StatusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

class FakeApi {
 public:
  using Handler = std::function<Response(const Request&, StreamWriter&)>;

  explicit FakeApi(bool require_client_cert = false, std::vector<std::string> dns_names = {}) {
    ca_ = *server::GenerateCa({.common_name = "fake-api-ca"});
    server::CertOptions sopts{.common_name = "kube-apiserver"};
    sopts.dns_names = std::move(dns_names);
    const auto cert = *server::IssueServerCert(ca_, sopts);
    client_ = *server::IssueClientCert(
        ca_, {.common_name = "kubernetes-admin", .organizations = {"system:masters"}});
    server_ = std::make_unique<server::HttpServer>(server::HttpServerOptions{
        .tls = server::TlsConfig{cert.cert_pem, cert.key_pem, ca_.cert_pem, require_client_cert}});
    server_->RoutePrefix("", "/", [this](const Request& r, StreamWriter& w) {
      Handler h;
      {
        std::lock_guard lock(mu_);
        seen_.push_back({r.method, r.target, r.Header("Content-Type"), r.Header("Authorization"),
                         r.peer.verified ? r.peer.common_name : "", r.body});
        h = handler_;
      }
      if (!h) return Response::Text(500, "no handler");
      return h(r, w);
    });
    auto started = server_->Start();
    EXPECT_TRUE(started.has_value()) << started.error().message;
  }

  void Handle(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }
  void Handle(std::function<Response(const Request&)> h) {
    Handle([h = std::move(h)](const Request& r, StreamWriter&) { return h(r); });
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  Seen last() {
    std::lock_guard lock(mu_);
    return seen_.empty() ? Seen{} : seen_.back();
  }

  RestConfig Config() const {
    RestConfig c;
    c.server = server_->url();
    c.ca_pem = ca_.cert_pem;
    c.context_name = "test";
    return c;
  }
  const server::CertKeyPair& client_cert() const { return client_; }
  server::HttpServer& http() { return *server_; }

 private:
  server::CertKeyPair ca_;
  server::CertKeyPair client_;
  std::mutex mu_;
  Handler handler_;
  std::vector<Seen> seen_;
  std::unique_ptr<server::HttpServer> server_;  // last: stops before the rest is destroyed
};

class ClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> MakeClient(RestConfig cfg) {
    auto c = Client::Create(std::move(cfg), clock_, RateLimit{0, 1});
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }
  std::unique_ptr<Client> MakeClient() { return MakeClient(api_.Config()); }

  FakeClock clock_;
  FakeApi api_;
  const Resource cms_ = resources::ConfigMaps();
  const Resource deps_ = resources::Deployments();
};

TEST_F(ClientTest, GetSendsBearerTokenAndReturnsTheObject) {
  api_.Handle([](const Request& r) {
    return JsonResponse(200, {{"kind", "ConfigMap"}, {"metadata", {{"name", "cm1"}}}});
  });
  RestConfig cfg = api_.Config();
  cfg.credentials = std::make_shared<StaticTokenProvider>("s3cret");
  auto client = MakeClient(cfg);
  auto got = client->Get(cms_, "default", "cm1");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)["metadata"]["name"], "cm1");
  EXPECT_EQ(api_.last().method, "GET");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/default/configmaps/cm1");
  EXPECT_EQ(api_.last().authorization, "Bearer s3cret");
}

TEST_F(ClientTest, StatusBodiesBecomeErrors) {
  api_.Handle([](const Request& r) -> Response {
    if (r.path.ends_with("/missing")) {
      return JsonResponse(404, StatusBody(404, "NotFound", "configmaps \"missing\" not found"));
    }
    if (r.path.ends_with("/busy")) {
      Response resp = JsonResponse(429, StatusBody(429, "TooManyRequests", "slow down"));
      resp.headers.emplace("Retry-After", "7");
      return resp;
    }
    if (r.path.starts_with("/apis/nosuch")) return Response::Text(404, "404 page not found\n");
    return JsonResponse(409, StatusBody(409, "AlreadyExists", "configmaps \"x\" already exists"));
  });
  auto client = MakeClient();
  auto nf = client->Get(cms_, "default", "missing");
  ASSERT_FALSE(nf.has_value());
  EXPECT_EQ(nf.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(nf.error().message, "configmaps \"missing\" not found");
  EXPECT_EQ(nf.error().reason, "NotFound");
  EXPECT_EQ(nf.error().http_status, 404);

  auto busy = client->Get(cms_, "default", "busy");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(busy.error().retry_after.has_value());
  EXPECT_EQ(*busy.error().retry_after, std::chrono::seconds(7));

  auto plain = client->Request("GET", "/apis/nosuch.example.com/v1/things", nullptr);
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(plain.error().message, HasSubstr("HTTP 404: 404 page not found"));

  auto exists = client->Create(cms_, "default", {{"metadata", {{"name", "x"}}}});
  ASSERT_FALSE(exists.has_value());
  EXPECT_EQ(exists.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(ClientTest, WriteVerbsSendTheRightMethodPathAndContentType) {
  api_.Handle([](const Request& r) {
    if (r.method == "PUT" && r.body.find("\"resourceVersion\":\"1\"") != std::string::npos) {
      return JsonResponse(409, StatusBody(409, "Conflict",
                                          "Operation cannot be fulfilled on configmaps \"a\": the "
                                          "object has been modified"));
    }
    return JsonResponse(r.method == "POST" ? 201 : 200,
                        Json::parse(r.body.empty() ? "{}" : r.body));
  });
  auto client = MakeClient();
  const Json obj = {{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", {{"name", "a"}, {"resourceVersion", "2"}}}};
  ASSERT_TRUE(client->Create(cms_, "ns1", obj).has_value());
  EXPECT_EQ(api_.last().method, "POST");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/ns1/configmaps");
  EXPECT_EQ(api_.last().content_type, "application/json");

  ASSERT_TRUE(client->Update(cms_, "ns1", obj).has_value());
  EXPECT_EQ(api_.last().method, "PUT");
  EXPECT_EQ(api_.last().target, "/api/v1/namespaces/ns1/configmaps/a");
  Json stale = obj;
  stale["metadata"]["resourceVersion"] = "1";
  auto conflict = client->Update(cms_, "ns1", stale);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_EQ(conflict.error().http_status, 409);

  ASSERT_TRUE(client->Update(deps_, "ns1", {{"metadata", {{"name", "web"}}}}, "status"));
  EXPECT_EQ(api_.last().target, "/apis/apps/v1/namespaces/ns1/deployments/web/status");

  struct Case {
    PatchType type;
    std::string content_type;
  };
  for (const Case& c : {Case{PatchType::kJson, "application/json-patch+json"},
                        Case{PatchType::kMerge, "application/merge-patch+json"},
                        Case{PatchType::kStrategicMerge, "application/strategic-merge-patch+json"},
                        Case{PatchType::kApply, "application/apply-patch+yaml"}}) {
    const Json patch = c.type == PatchType::kJson
                           ? Json::parse(R"([{"op":"replace","path":"/spec/replicas","value":3}])")
                           : Json{{"spec", {{"replicas", 3}}}};
    ASSERT_TRUE(client->Patch(deps_, "ns1", "web", c.type, patch, "scale").has_value());
    EXPECT_EQ(api_.last().method, "PATCH");
    EXPECT_EQ(api_.last().content_type, c.content_type);
    EXPECT_EQ(Json::parse(api_.last().body), patch);
  }
  EXPECT_EQ(api_.last().target,
            "/apis/apps/v1/namespaces/ns1/deployments/web/scale?fieldManager=tether");
  PatchOptions force{.field_manager = "tether-gates", .force = true, .dry_run = true};
  ASSERT_TRUE(client->Patch(deps_, "ns1", "web", PatchType::kApply, {{"a", 1}}, {}, force));
  EXPECT_EQ(api_.last().target,
            "/apis/apps/v1/namespaces/ns1/deployments/web?fieldManager=tether-gates&force=true&"
            "dryRun=All");

  DeleteOptions del;
  del.precondition_uid = "uid-1";
  del.precondition_resource_version = "42";
  del.propagation_policy = "Foreground";
  ASSERT_TRUE(client->Delete(deps_, "ns1", "web", del).has_value());
  EXPECT_EQ(api_.last().method, "DELETE");
  EXPECT_EQ(api_.last().target, "/apis/apps/v1/namespaces/ns1/deployments/web");
  const Json body = Json::parse(api_.last().body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["preconditions"]["uid"], "uid-1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "42");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
}

// Serves `total` configmaps in pages; continue tokens name the next index. `expire_once` makes
// the first continuation answer 410 Expired, as an etcd compaction would.
Response PagedList(const Request& r, int total, std::atomic<int>* expired_left) {
  const int limit = r.Query("limit") ? std::stoi(*r.Query("limit")) : total;
  int start = 0;
  if (auto cont = r.Query("continue"); cont) {
    if (expired_left->load() > 0) {
      expired_left->fetch_sub(1);
      return JsonResponse(410, StatusBody(410, "Expired",
                                          "The provided continue parameter is too old to display "
                                          "a consistent list result."));
    }
    start = std::stoi(*cont);
  }
  Json items = Json::array();
  for (int i = start; i < std::min(total, start + limit); ++i) {
    items.push_back({{"metadata", {{"name", fmt::format("cm-{:03}", i)}}}});
  }
  Json meta = {{"resourceVersion", "100"}};
  if (start + limit < total) {
    meta["continue"] = std::to_string(start + limit);
    meta["remainingItemCount"] = total - start - limit;
  }
  return JsonResponse(
      200, {{"kind", "ConfigMapList"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", items}});
}

TEST_F(ClientTest, ListFollowsPagesAndRelistsWhenTheContinueTokenExpires) {
  std::atomic<int> expire{0};
  api_.Handle([&](const Request& r) { return PagedList(r, 7, &expire); });
  auto client = MakeClient();
  ListOptions opts{.label_selector = "app in (a,b)", .limit = 3};
  auto page = client->ListPage(cms_, "default", opts);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  EXPECT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->continue_token, "3");
  EXPECT_EQ(page->remaining_item_count, 4);
  EXPECT_EQ(page->items[0]["kind"], "ConfigMap");  // type meta restored on list items
  EXPECT_EQ(page->items[0]["apiVersion"], "v1");
  EXPECT_EQ(api_.last().target,
            "/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20%28a%2Cb%29&limit=3");

  auto all = client->List(cms_, "default", opts);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->items.size(), 7u);
  EXPECT_EQ(all->items[6]["metadata"]["name"], "cm-006");
  EXPECT_EQ(all->resource_version, "100");

  expire = 1;
  const std::size_t before = api_.seen().size();
  all = client->List(cms_, "", opts);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->items.size(), 7u);  // complete, no duplicates
  EXPECT_EQ(all->items[0]["metadata"]["name"], "cm-000");
  // page 1, expired page 2, then a fresh list of 3 pages
  EXPECT_EQ(api_.seen().size() - before, 5u);
  EXPECT_EQ(api_.seen()[before].target,
            "/api/v1/configmaps?labelSelector=app%20in%20%28a%2Cb%29&limit=3");
}

TEST_F(ClientTest, ClientCertificateAuthenticates) {
  FakeApi strict(/*require_client_cert=*/true);
  strict.Handle([](const Request& r) { return JsonResponse(200, {{"user", r.peer.common_name}}); });
  RestConfig cfg = strict.Config();
  {
    auto client = MakeClient(cfg);
    auto r = client->Request("GET", "/version", nullptr);
    ASSERT_FALSE(r.has_value());  // handshake refused without a certificate
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  }
  cfg.client_cert_pem = strict.client_cert().cert_pem;
  cfg.client_key_pem = strict.client_cert().key_pem;
  auto client = MakeClient(cfg);
  auto r = client->Request("GET", "/version", nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["user"], "kubernetes-admin");
}

TEST_F(ClientTest, VerifiesTheServerCertificate) {
  api_.Handle([](const Request&) { return JsonResponse(200, Json::object()); });
  RestConfig cfg = api_.Config();
  cfg.ca_pem = server::GenerateCa({.common_name = "someone-else"})->cert_pem;
  auto client = MakeClient(cfg);
  auto r = client->Get(cms_, "default", "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("cannot reach the API server " + cfg.server));
  cfg.insecure_skip_tls_verify = true;
  auto insecure = MakeClient(cfg);
  EXPECT_TRUE(insecure->Get(cms_, "default", "x").has_value());
}

TEST_F(ClientTest, TlsServerNameOverridesTheVerifiedName) {
  FakeApi named(false, {"api.internal"});
  named.Handle([](const Request& r) { return JsonResponse(200, {{"host", r.Header("Host")}}); });
  RestConfig cfg = named.Config();
  {
    auto client = MakeClient(cfg);
    EXPECT_FALSE(client->Request("GET", "/version", nullptr).has_value());  // 127.0.0.1 not in SANs
  }
  cfg.tls_server_name = "api.internal";
  auto client = MakeClient(cfg);
  auto r = client->Request("GET", "/version", nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["host"], fmt::format("127.0.0.1:{}", named.http().port()));
}

TEST_F(ClientTest, NetworkFailureNamesTheServer) {
  RestConfig cfg = api_.Config();
  const int port = api_.http().port();
  api_.http().Stop();
  cfg.server = fmt::format("https://127.0.0.1:{}", port);
  auto client = MakeClient(cfg);
  auto r = client->Get(cms_, "default", "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().IsRetryable());
  EXPECT_THAT(r.error().message, HasSubstr("GET /api/v1/namespaces/default/configmaps/x: cannot "
                                           "reach the API server https://127.0.0.1:"));
}

TEST_F(ClientTest, ObserverSeesVerbAndStatus) {
  api_.Handle([](const Request& r) {
    return r.method == "GET" ? JsonResponse(200, Json::object())
                             : JsonResponse(404, StatusBody(404, "NotFound", "gone"));
  });
  auto client = MakeClient();
  std::mutex mu;
  std::vector<std::pair<std::string, int>> calls;
  client->SetRequestObserver([&](std::string_view verb, int code, std::chrono::nanoseconds) {
    std::lock_guard lock(mu);
    calls.emplace_back(verb, code);
  });
  ASSERT_TRUE(client->Get(cms_, "default", "x"));
  ASSERT_FALSE(client->Delete(cms_, "default", "x"));
  std::lock_guard lock(mu);
  EXPECT_THAT(calls, ::testing::ElementsAre(std::pair<std::string, int>{"get", 200},
                                            std::pair<std::string, int>{"delete", 404}));
}

std::string Event(const std::string& type, const std::string& name, const std::string& rv) {
  return Json{{"type", type},
              {"object",
               {{"kind", "ConfigMap"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", name}, {"resourceVersion", rv}}}}}}
             .dump() +
         "\n";
}

TEST_F(ClientTest, WatchStreamsEventsSplitAcrossChunks) {
  api_.Handle([](const Request& r, StreamWriter& w) {
    w.Begin(200, {{"Content-Type", "application/json"}});
    const std::string all =
        Event("ADDED", "a", "10") + Event("MODIFIED", "a", "11") +
        R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12"}}})" +
        "\n" + Event("DELETED", "a", "13");
    // Odd-sized chunks: events straddle chunk boundaries.
    for (std::size_t i = 0; i < all.size(); i += 7) w.Write(all.substr(i, 7));
    return Response{};
  });
  auto client = MakeClient();
  std::vector<std::pair<WatchEvent::Type, std::string>> got;
  WatchOptions opts{.label_selector = "a=b", .resource_version = "9", .timeout_seconds = 30};
  auto r = client->Watch(
      cms_, "default", opts,
      [&](WatchEvent&& e) {
        got.emplace_back(e.type, e.object["metadata"]["resourceVersion"].get<std::string>());
        return true;
      },
      std::stop_token());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_THAT(got,
              ::testing::ElementsAre(std::pair{WatchEvent::Type::kAdded, std::string("10")},
                                     std::pair{WatchEvent::Type::kModified, std::string("11")},
                                     std::pair{WatchEvent::Type::kBookmark, std::string("12")},
                                     std::pair{WatchEvent::Type::kDeleted, std::string("13")}));
  EXPECT_EQ(api_.last().target,
            "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&"
            "labelSelector=a%3Db&resourceVersion=9&timeoutSeconds=30");
}

TEST_F(ClientTest, WatchStopsPromptlyOnStopTokenWhileTheServerIsIdle) {
  std::atomic<bool> closed{false};
  api_.Handle([&](const Request&, StreamWriter& w) {
    w.Begin(200, {});
    w.Write(Event("ADDED", "a", "1"));
    HoldStream(w);  // never sends anything else
    closed = true;
    return Response{};
  });
  auto client = MakeClient();
  std::stop_source stop;
  std::atomic<int> events{0};
  auto done = std::async(std::launch::async, [&] {
    return client->Watch(
        cms_, "default", {},
        [&](WatchEvent&&) {
          ++events;
          return true;
        },
        stop.get_token());
  });
  ASSERT_TRUE(Eventually([&] { return events.load() == 1; }));
  stop.request_stop();
  auto r = done.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return closed.load(); }));  // the connection was dropped
}

TEST_F(ClientTest, WatchHandlerCanEndTheWatch) {
  api_.Handle([&](const Request&, StreamWriter& w) {
    w.Begin(200, {});
    w.Write(Event("ADDED", "a", "1") + Event("ADDED", "b", "2"));
    HoldStream(w);
    return Response{};
  });
  auto client = MakeClient();
  int events = 0;
  auto r = client->Watch(
      cms_, "default", {}, [&](WatchEvent&&) { return ++events < 2; }, std::stop_token());
  EXPECT_TRUE(r.has_value());
  EXPECT_EQ(events, 2);
}

TEST_F(ClientTest, WatchFailuresAreErrors) {
  std::atomic<int> mode{0};
  api_.Handle([&](const Request&, StreamWriter& w) -> Response {
    switch (mode.load()) {
      case 0:  // disconnect mid-event
        w.Begin(200, {});
        w.Write(Event("ADDED", "a", "1") + R"({"type":"MODIFIED","obj)");
        return Response{};
      case 1:  // garbage line
        w.Begin(200, {});
        w.Write(Event("ADDED", "a", "1") + "<html>proxy error</html>\n");
        HoldStream(w);
        return Response{};
      case 2:  // resourceVersion too old
        return JsonResponse(410, StatusBody(410, "Expired", "too old resource version: 1 (50)"));
      default:  // ERROR event in the stream (how a watch reports 410 after it started)
        w.Begin(200, {});
        w.Write(R"({"type":"ERROR","object":)" +
                StatusBody(410, "Expired", "too old resource version").dump() + "}\n");
        return Response{};
    }
  });
  auto client = MakeClient();
  std::vector<WatchEvent> got;
  auto watch = [&] {
    got.clear();
    return client->Watch(
        cms_, "default", {.resource_version = "1"},
        [&](WatchEvent&& e) {
          got.push_back(std::move(e));
          return true;
        },
        std::stop_token());
  };
  auto r = watch();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("ended in the middle of an event"));
  EXPECT_EQ(got.size(), 1u);

  mode = 1;
  r = watch();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(r.error().message, HasSubstr("watch configmaps: malformed event"));

  mode = 2;
  r = watch();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kGone);
  EXPECT_EQ(r.error().http_status, 410);

  mode = 3;
  r = watch();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, WatchEvent::Type::kError);
  EXPECT_EQ(got[0].object["code"], 410);
}

TEST_F(ClientTest, WatchLineOverTheCapFailsWithTooLarge) {
  api_.Handle([&](const Request&, StreamWriter& w) {
    w.Begin(200, {});
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 17 && w.Write(chunk); ++i) {
    }
    return Response{};
  });
  auto client = MakeClient();
  auto r = client->Watch(cms_, "default", {}, [](WatchEvent&&) { return true; }, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
}

TEST(ParseWatchEventTest, DecodesTypesAndRejectsMalformedLines) {
  auto ev = ParseWatchEvent(R"({"type":"MODIFIED","object":{"metadata":{"name":"a"}}})");
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->type, WatchEvent::Type::kModified);
  EXPECT_EQ(ev->object["metadata"]["name"], "a");
  ev = ParseWatchEvent(R"({"type":"ERROR","object":{"kind":"Status","code":410}})");
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->type, WatchEvent::Type::kError);
  for (const char* bad :
       {"", "null", "[]", "{\"type\":\"ADDED\"}", "{\"type\":\"ADDED\",\"object\":1}",
        "{\"type\":\"EXPLODED\",\"object\":{}}", "{\"type\":1,\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":{"}) {
    auto r = ParseWatchEvent(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid) << bad;
  }
}

class ExecClientTest : public ClientTest {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tether-exec-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    // Each run hands out a new token: tok-1, tok-2, ...
    plugin_ = dir_ + "/plugin";
    std::ofstream(plugin_) << "#!/bin/sh\n"
                           << "echo run >> '" << dir_ << "/runs'\n"
                           << "n=$(wc -l < '" << dir_ << "/runs' | tr -d ' ')\n"
                           << "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                              "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-'$n'\"}}'\n";
    ::chmod(plugin_.c_str(), 0755);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<ExecCredentialProvider> Provider() {
    ExecCredentialProvider::Options o;
    o.exec.api_version = "client.authentication.k8s.io/v1";
    o.exec.command = plugin_;
    o.kubeconfig_path = "test";
    o.user_name = "exec-user";
    return std::make_shared<ExecCredentialProvider>(o, clock_);
  }

  std::string dir_;
  std::string plugin_;
};

TEST_F(ExecClientTest, RerunsThePluginAndRetriesOnceAfter401) {
  std::atomic<int> revoked_up_to{1};  // tokens tok-1..tok-N are rejected
  api_.Handle([&](const Request& r) {
    const std::string auth = r.Header("Authorization");
    const int n = auth.starts_with("Bearer tok-") ? std::stoi(auth.substr(11)) : 0;
    if (n <= revoked_up_to.load()) {
      return JsonResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
    }
    return JsonResponse(200, {{"token", n}});
  });
  auto provider = Provider();
  RestConfig cfg = api_.Config();
  cfg.credentials = provider;
  auto client = MakeClient(cfg);
  auto r = client->Request("GET", "/version", nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["token"], 2);
  EXPECT_EQ(provider->runs(), 2);
  // The fresh token is cached.
  ASSERT_TRUE(client->Request("GET", "/version", nullptr).has_value());
  EXPECT_EQ(provider->runs(), 2);
  // A second 401 in a row is returned, not retried forever.
  revoked_up_to = 100;
  r = client->Request("GET", "/version", nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(provider->runs(), 3);
}

TEST_F(ExecClientTest, WatchAlsoRetriesWithFreshCredentials) {
  api_.Handle([&](const Request& r, StreamWriter& w) {
    if (r.Header("Authorization") == "Bearer tok-1") {
      return JsonResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
    }
    w.Begin(200, {});
    w.Write(Event("ADDED", "a", "1"));
    return Response{};
  });
  auto provider = Provider();
  RestConfig cfg = api_.Config();
  cfg.credentials = provider;
  auto client = MakeClient(cfg);
  int events = 0;
  auto r = client->Watch(cms_, "", {}, [&](WatchEvent&&) { return ++events > 0; }, {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(events, 1);
  EXPECT_EQ(provider->runs(), 2);
}

}  // namespace
}  // namespace tether::kube
