#include "server/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "server/tls.h"
#include "testing/curl_client.h"

namespace tether::server {
namespace {

using tether::testing::CurlClient;
using tether::testing::CurlOptions;

// Waits on a predicate with a generous deadline (no fixed sleeps).
template <class Pred>
bool Eventually(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TEST(HttpServerTest, RoutesRequestsAndDecodesQuery) {
  HttpServer server({.bind_address = "127.0.0.1:0"});
  server.Route("GET", "/hello", [](const Request& r) {
    return Response::Text(200, "hi " + r.Query("name").value_or("?") + " " + r.Header("x-test"));
  });
  server.RoutePrefix("", "/api/", [](const Request& r) {
    return Response::Json(201, "{\"path\":\"" + r.path + "\"}");
  });
  server.Route("POST", "/echo",
               [](const Request& r) { return Response::Text(200, r.method + ":" + r.body); });
  ASSERT_TRUE(server.Start());
  ASSERT_GT(server.port(), 0);
  CurlClient c(server.url());
  auto r = c.Request("GET", "/hello?name=a%20b+c", "", "", {"X-Test: yes"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi a b c yes");
  r = c.Request("DELETE", "/api/v1/x");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"path\":\"/api/v1/x\"}");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(c.Request("POST", "/echo", "payload", "text/plain").body, "POST:payload");
  EXPECT_EQ(c.Get("/nothing").status, 404);
  EXPECT_EQ(c.Request("PUT", "/hello").status, 405);
  server.Stop();
}

TEST(HttpServerTest, ReusesKeepAliveConnections) {
  HttpServer server({});
  server.Route("GET", "/", [](const Request& r) { return Response::Text(200, r.remote_address); });
  ASSERT_TRUE(server.Start());
  CurlClient c(server.url());
  auto first = c.Get("/");
  auto second = c.Get("/");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, second.body);  // same client port: same connection
}

TEST(HttpServerTest, RejectsOversizedBodiesWith413) {
  HttpServer server({.max_body_bytes = 1024});
  server.Route("POST", "/",
               [](const Request& r) { return Response::Text(200, std::to_string(r.body.size())); });
  ASSERT_TRUE(server.Start());
  CurlClient c(server.url());
  EXPECT_EQ(c.Request("POST", "/", std::string(1000, 'x')).body, "1000");
  EXPECT_EQ(c.Request("POST", "/", std::string(5000, 'x')).status, 413);
  CurlClient chunked(server.url());
  auto r = chunked.Request("POST", "/", std::string(5000, 'x'), "text/plain",
                           {"Transfer-Encoding: chunked"});
  EXPECT_EQ(r.status, 413);
}

TEST(HttpServerTest, StreamsChunksAndDetectsClientDisconnect) {
  HttpServer server({});
  std::atomic<bool> saw_close{false};
  server.Route("GET", "/watch", [&](const Request&, StreamWriter& w) {
    w.Begin(200, {{"Content-Type", "application/json"}});
    for (int i = 0; !w.Closed(); ++i) {
      if (!w.Write("{\"n\":" + std::to_string(i) + "}\n")) break;
      std::mutex m;
      std::unique_lock lock(m);
      std::condition_variable_any cv;
      cv.wait_for(lock, w.stop_token(), std::chrono::milliseconds(5), [] { return false; });
    }
    saw_close = true;
    return Response{};
  });
  ASSERT_TRUE(server.Start());
  CurlClient c(server.url());
  std::string got;
  auto r = c.Stream("/watch", [&](std::string_view d) {
    got.append(d);
    return got.find("{\"n\":3}\n") == std::string::npos;
  });
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(got.starts_with("{\"n\":0}\n{\"n\":1}\n"));
  EXPECT_TRUE(Eventually([&] { return saw_close.load(); }));
}

TEST(HttpServerTest, StopEndsStreamingResponsesPromptly) {
  HttpServer server({});
  std::atomic<bool> streaming{false};
  server.Route("GET", "/watch", [&](const Request&, StreamWriter& w) {
    w.Begin(200, {});
    w.Write("start\n");
    streaming = true;
    std::mutex m;
    std::unique_lock lock(m);
    std::condition_variable_any cv;
    cv.wait(lock, w.stop_token(), [] { return false; });  // until the server stops
    return Response{};
  });
  ASSERT_TRUE(server.Start());
  auto done = std::async(std::launch::async, [&] {
    CurlClient c(server.url());
    std::string got;
    c.Stream("/watch", [&](std::string_view d) {
      got.append(d);
      return true;
    });
    return got;
  });
  ASSERT_TRUE(Eventually([&] { return streaming.load(); }));
  server.Stop();
  EXPECT_EQ(done.get(), "start\n");
  EXPECT_EQ(server.active_connections(), 0);
}

TEST(HttpServerTest, ReportsBindErrors) {
  HttpServer first({});
  ASSERT_TRUE(first.Start());
  HttpServer second({.bind_address = "127.0.0.1:" + std::to_string(first.port())});
  auto r = second.Start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot listen"), std::string::npos);
  EXPECT_FALSE(HttpServer({.bind_address = "nope"}).Start());
  auto parsed = ParseBindAddress(":8080");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, "0.0.0.0");
  EXPECT_EQ(parsed->second, 8080);
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = *GenerateCa({.common_name = "test-ca"});
    server_cert_ = *IssueServerCert(ca_, {.common_name = "server"});
    client_cert_ =
        *IssueClientCert(ca_, {.common_name = "alice", .organizations = {"system:masters", "dev"}});
  }
  CertKeyPair ca_, server_cert_, client_cert_;
};

TEST_F(TlsServerTest, ExposesVerifiedClientCertificateIdentity) {
  HttpServer server({.tls = TlsConfig{server_cert_.cert_pem, server_cert_.key_pem, ca_.cert_pem}});
  server.Route("GET", "/whoami", [](const Request& r) {
    std::string out = r.peer.verified ? r.peer.common_name : "anonymous";
    for (const auto& o : r.peer.organizations) out += "," + o;
    return Response::Text(200, out);
  });
  ASSERT_TRUE(server.Start());
  EXPECT_TRUE(server.url().starts_with("https://127.0.0.1:"));
  CurlClient with_cert(server.url(), {.ca_pem = ca_.cert_pem,
                                      .client_cert_pem = client_cert_.cert_pem,
                                      .client_key_pem = client_cert_.key_pem});
  auto r = with_cert.Get("/whoami");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "alice,system:masters,dev");
  // New connections from the same client resume the TLS session and keep the identity.
  for (int i = 0; i < 2; ++i) {
    auto again = with_cert.Request("GET", "/whoami", "", "", {"Connection: close"});
    EXPECT_EQ(again.status, 200) << again.error;
    EXPECT_EQ(again.body, "alice,system:masters,dev");
  }
  CurlClient anonymous(server.url(), {.ca_pem = ca_.cert_pem});
  EXPECT_EQ(anonymous.Get("/whoami").body, "anonymous");

  // A certificate from another CA fails the handshake.
  auto other_ca = *GenerateCa({.common_name = "other"});
  auto stranger = *IssueClientCert(other_ca, {.common_name = "mallory"});
  CurlClient bad(server.url(), {.ca_pem = ca_.cert_pem,
                                .client_cert_pem = stranger.cert_pem,
                                .client_key_pem = stranger.key_pem});
  auto br = bad.Get("/whoami");
  EXPECT_EQ(br.status, 0);
  EXPECT_FALSE(br.error.empty());
}

TEST_F(TlsServerTest, HotReloadsCertificateForNewConnections) {
  HttpServer server({.tls = TlsConfig{server_cert_.cert_pem, server_cert_.key_pem}});
  server.Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  ASSERT_TRUE(server.Start());
  auto ca2 = *GenerateCa({.common_name = "rotated-ca"});
  auto cert2 = *IssueServerCert(ca2, {.common_name = "server2"});
  {
    CurlClient old_ca(server.url(), {.ca_pem = ca_.cert_pem});
    EXPECT_EQ(old_ca.Get("/").status, 200);
  }
  EXPECT_FALSE(server.SetTls({"bad", "bad"}));
  ASSERT_TRUE(server.SetTls({cert2.cert_pem, cert2.key_pem}));
  CurlClient new_ca(server.url(), {.ca_pem = ca2.cert_pem});
  EXPECT_EQ(new_ca.Get("/").status, 200);
  CurlClient old_ca(server.url(), {.ca_pem = ca_.cert_pem});
  EXPECT_EQ(old_ca.Get("/").status, 0);
}

TEST_F(TlsServerTest, RequiredClientCertificate) {
  HttpServer server(
      {.tls = TlsConfig{server_cert_.cert_pem, server_cert_.key_pem, ca_.cert_pem, true}});
  server.Route("GET", "/", [](const Request&) { return Response::Text(200, "ok"); });
  ASSERT_TRUE(server.Start());
  CurlClient anonymous(server.url(), {.ca_pem = ca_.cert_pem});
  EXPECT_EQ(anonymous.Get("/").status, 0);
  CurlClient with_cert(server.url(), {.ca_pem = ca_.cert_pem,
                                      .client_cert_pem = client_cert_.cert_pem,
                                      .client_key_pem = client_cert_.key_pem});
  EXPECT_EQ(with_cert.Get("/").status, 200);
}

TEST(QueryTest, ParsesAndDecodes) {
  auto q = ParseQuery("a=1&b=x%2Fy&c&labelSelector=app%3Dweb%2Ctier+in+(a)");
  EXPECT_EQ(q["a"], "1");
  EXPECT_EQ(q["b"], "x/y");
  EXPECT_EQ(q["c"], "");
  EXPECT_EQ(q["labelSelector"], "app=web,tier in (a)");
  EXPECT_EQ(PercentDecode("%zz%41", false), "%zzA");
}

}  // namespace
}  // namespace tether::server
