#include "testing/apiserver.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "testing/curl_client.h"

namespace tether::testing {
namespace {

// Waits on a predicate with a generous deadline (no fixed sleeps for synchronisation).
template <class Pred>
bool Eventually(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

Json Parse(const CurlResponse& r) { return Json::parse(r.body, nullptr, false); }

std::vector<Json> Lines(const std::string& stream) {
  std::vector<Json> out;
  size_t start = 0;
  while (true) {
    size_t nl = stream.find('\n', start);
    if (nl == std::string::npos) break;
    out.push_back(Json::parse(stream.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

Json ConfigMap(const std::string& name, std::map<std::string, std::string> labels = {}) {
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", name}}},
             {"data", {{"k", "v"}}}};
  if (!labels.empty()) cm["metadata"]["labels"] = labels;
  return cm;
}

Json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiServerOptions opts;
    opts.bookmark_interval = std::chrono::milliseconds(200);
    auto s = ApiServer::Start(opts);
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    auto cert = server_->IssueClientCert("admin", {"system:masters"});
    ASSERT_TRUE(cert);
    admin_ =
        std::make_unique<CurlClient>(server_->url(), CurlOptions{.ca_pem = server_->ca_pem(),
                                                                 .client_cert_pem = cert->cert_pem,
                                                                 .client_key_pem = cert->key_pem});
  }

  CurlResponse Post(const std::string& path, const Json& body) {
    return admin_->Request("POST", path, body.dump(), "application/json");
  }
  CurlResponse Put(const std::string& path, const Json& body) {
    return admin_->Request("PUT", path, body.dump(), "application/json");
  }
  CurlResponse PatchReq(const std::string& path, const Json& body, const std::string& ct) {
    return admin_->Request("PATCH", path, body.dump(), ct);
  }

  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<CurlClient> admin_;
};

TEST_F(ApiServerTest, AuthenticatesByCertificateAndToken) {
  auto r = admin_->Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(Parse(r)["kind"], "ConfigMapList");

  CurlClient anonymous(server_->url(), {.ca_pem = server_->ca_pem()});
  auto a = anonymous.Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(Parse(a)["message"],
            "configmaps is forbidden: User \"system:anonymous\" cannot list resource "
            "\"configmaps\" in API group "
            "\"\" in the namespace \"default\"");
  EXPECT_EQ(Parse(anonymous.Get("/apis"))["message"],
            "forbidden: User \"system:anonymous\" cannot get path \"/apis\"");
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);

  server_->AddToken("secret-token", "bob", {"dev"});
  CurlClient token(server_->url(), {.ca_pem = server_->ca_pem(), .bearer_token = "secret-token"});
  EXPECT_EQ(token.Get("/api/v1/namespaces/default/configmaps").status, 200);
  server_->RevokeToken("secret-token");
  auto revoked = token.Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(Parse(revoked)["reason"], "Unauthorized");
}

TEST_F(ApiServerTest, CreateGetUpdateConflictDelete) {
  auto c = Post("/api/v1/namespaces/default/configmaps", ConfigMap("cm"));
  ASSERT_EQ(c.status, 201) << c.body;
  Json created = Parse(c);
  EXPECT_EQ(created["kind"], "ConfigMap");
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  std::string rv1 = created["metadata"]["resourceVersion"];

  auto again = Post("/api/v1/namespaces/default/configmaps", ConfigMap("cm"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Parse(again)["reason"], "AlreadyExists");

  Json update = created;
  update["data"]["k"] = "v2";
  auto u = Put("/api/v1/namespaces/default/configmaps/cm", update);
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_GT(std::stoll(Parse(u)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(rv1));

  auto stale = Put("/api/v1/namespaces/default/configmaps/cm", update);  // still carries rv1
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(Parse(stale)["message"],
            "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; "
            "please apply your "
            "changes to the latest version and try again");

  auto g = admin_->Get("/api/v1/namespaces/default/configmaps/cm");
  EXPECT_EQ(Parse(g)["data"]["k"], "v2");

  auto d = admin_->Request("DELETE", "/api/v1/namespaces/default/configmaps/cm");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(Parse(d)["status"], "Success");
  auto missing = admin_->Get("/api/v1/namespaces/default/configmaps/cm");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Parse(missing)["message"], "configmaps \"cm\" not found");

  auto no_ns = Post("/api/v1/namespaces/nope/configmaps", ConfigMap("x"));
  EXPECT_EQ(no_ns.status, 404);
  EXPECT_EQ(Parse(no_ns)["message"], "namespaces \"nope\" not found");

  auto bad_name = Post("/api/v1/namespaces/default/configmaps", ConfigMap("Bad_Name"));
  EXPECT_EQ(bad_name.status, 422);

  Json gen = ConfigMap("");
  gen["metadata"].erase("name");
  gen["metadata"]["generateName"] = "gen-";
  auto gr = Post("/api/v1/namespaces/default/configmaps", gen);
  ASSERT_EQ(gr.status, 201);
  EXPECT_TRUE(Parse(gr)["metadata"]["name"].get<std::string>().starts_with("gen-"));
}

TEST_F(ApiServerTest, ListPagingIsAConsistentSnapshot) {
  server_->Create("v1", "namespaces", "", {{"metadata", {{"name", "paging"}}}});
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(
        server_->Create("v1", "configmaps", "paging", ConfigMap("cm-" + std::to_string(i))));
  }
  auto p1 = Parse(admin_->Get("/api/v1/namespaces/paging/configmaps?limit=2"));
  ASSERT_EQ(p1["items"].size(), 2u);
  EXPECT_EQ(p1["metadata"]["remainingItemCount"], 3);
  std::string token = p1["metadata"]["continue"];
  // A write between pages does not show up in later pages of the same list.
  ASSERT_TRUE(server_->Create("v1", "configmaps", "paging", ConfigMap("cm-6")));
  auto p2 = Parse(admin_->Get("/api/v1/namespaces/paging/configmaps?limit=2&continue=" + token));
  EXPECT_EQ(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
  EXPECT_EQ(p2["items"][0]["metadata"]["name"], "cm-3");
  auto p3 = Parse(admin_->Get("/api/v1/namespaces/paging/configmaps?limit=2&continue=" +
                              p2["metadata"]["continue"].get<std::string>()));
  EXPECT_EQ(p3["items"].size(), 1u);
  EXPECT_FALSE(p3["metadata"].contains("continue"));

  server_->Compact();
  auto expired = admin_->Get("/api/v1/namespaces/paging/configmaps?limit=2&continue=" + token);
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(Parse(expired)["reason"], "Expired");

  auto garbage =
      admin_->Get("/api/v1/namespaces/paging/configmaps?limit=2&continue=bm90LWEtdmFsaWQtdG9rZW4");
  EXPECT_EQ(garbage.status, 400);

  auto selected =
      Parse(admin_->Get("/api/v1/namespaces/paging/configmaps?fieldSelector=metadata.name%3Dcm-3"));
  ASSERT_EQ(selected["items"].size(), 1u);
  auto bad_field = admin_->Get("/api/v1/namespaces/paging/configmaps?fieldSelector=data.k%3Dv");
  EXPECT_EQ(bad_field.status, 400);
  EXPECT_EQ(
      Parse(bad_field)["message"],
      "\"data.k\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
}

TEST_F(ApiServerTest, LabelSelectors) {
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default",
                              ConfigMap("a", {{"app", "demo"}, {"tier", "a"}})));
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default",
                              ConfigMap("b", {{"app", "demo"}, {"tier", "b"}})));
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("c")));
  auto eq =
      Parse(admin_->Get("/api/v1/namespaces/default/configmaps?labelSelector=app%3Ddemo,tier%3Da"));
  ASSERT_EQ(eq["items"].size(), 1u);
  EXPECT_EQ(eq["items"][0]["metadata"]["name"], "a");
  auto set =
      Parse(admin_->Get("/api/v1/namespaces/default/configmaps?labelSelector=tier+in+(b,c)"));
  ASSERT_EQ(set["items"].size(), 1u);
  auto bad = admin_->Get("/api/v1/namespaces/default/configmaps?labelSelector=app+in+(a");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Parse(bad)["message"], "unable to parse requirement: found '', expected: ',' or ')'");
}

TEST_F(ApiServerTest, WatchStreamsEventsResumesAndExpires) {
  auto list = Parse(admin_->Get("/api/v1/namespaces/default/configmaps"));
  std::string rv = list["metadata"]["resourceVersion"];
  // Writes after the list RV are delivered in order; the watch ends at timeoutSeconds.
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("w1")));
  Json w1 = *server_->Get("v1", "configmaps", "default", "w1");
  w1["data"]["k"] = "changed";
  ASSERT_TRUE(server_->Update("v1", "configmaps", "default", w1));
  ASSERT_TRUE(server_->Delete("v1", "configmaps", "default", "w1"));
  std::string got;
  auto r = admin_->Stream(
      "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=" + rv,
      [&](std::string_view d) {
        got.append(d);
        return true;
      });
  EXPECT_EQ(r.status, 200);
  auto events = Lines(got);
  ASSERT_EQ(events.size(), 3u) << got;
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[0]["object"]["kind"], "ConfigMap");

  // rv=0: synthetic ADDED for current state.
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("keep")));
  got.clear();
  auto r0 = admin_->Stream(
      "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0",
      [&](std::string_view d) {
        got.append(d);
        return true;
      });
  EXPECT_EQ(r0.status, 200) << r0.error << r0.body;
  events = Lines(got);
  ASSERT_EQ(events.size(), 1u) << got;
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "keep");

  // After compaction an old resourceVersion gets a 410 ERROR event.
  server_->Compact();
  got.clear();
  auto e = admin_->Stream("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv,
                          [&](std::string_view d) {
                            got.append(d);
                            return true;
                          });
  EXPECT_EQ(e.status, 200);
  events = Lines(got);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 410);
  EXPECT_EQ(events[0]["object"]["reason"], "Expired");
}

TEST_F(ApiServerTest, WatchSendsBookmarksAndLiveEvents) {
  std::string rv = std::to_string(server_->store().current_rv());
  std::mutex mu;
  std::string got;
  auto fut = std::async(std::launch::async, [&] {
    auto cert = server_->IssueClientCert("admin", {"system:masters"});
    CurlClient c(server_->url(), {.ca_pem = server_->ca_pem(),
                                  .client_cert_pem = cert->cert_pem,
                                  .client_key_pem = cert->key_pem});
    return c.Stream(
        "/api/v1/namespaces/default/"
        "configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=" +
            rv,
        [&](std::string_view d) {
          std::lock_guard lock(mu);
          got.append(d);
          return true;
        });
  });
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("live")));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return got.find("\"live\"") != std::string::npos && got.find("BOOKMARK") != std::string::npos;
  }));
  server_->DropWatches();
  auto r = fut.get();
  EXPECT_EQ(r.status, 200);
  auto events = Lines(got);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  bool saw_bookmark = false;
  for (const auto& e : events) {
    if (e["type"] == "BOOKMARK") {
      saw_bookmark = true;
      EXPECT_EQ(e["object"]["kind"], "ConfigMap");
      EXPECT_GE(std::stoll(e["object"]["metadata"]["resourceVersion"].get<std::string>()),
                std::stoll(events[0]["object"]["metadata"]["resourceVersion"].get<std::string>()));
    }
  }
  EXPECT_TRUE(saw_bookmark);
  EXPECT_TRUE(Eventually([&] { return server_->OpenWatches() == 0; }));
}

TEST_F(ApiServerTest, StatusAndScaleSubresourcesTrackGeneration) {
  auto c = Post("/apis/apps/v1/namespaces/default/deployments", Deployment("web", 2));
  ASSERT_EQ(c.status, 201) << c.body;
  Json d = Parse(c);
  EXPECT_EQ(d["metadata"]["generation"], 1);

  // Status writes do not bump generation and ignore spec changes.
  Json st = d;
  st["status"] = {{"observedGeneration", 1}, {"replicas", 2}};
  st["spec"]["replicas"] = 7;
  auto s = Put("/apis/apps/v1/namespaces/default/deployments/web/status", st);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(Parse(s)["metadata"]["generation"], 1);
  EXPECT_EQ(Parse(s)["spec"]["replicas"], 2);
  EXPECT_EQ(Parse(s)["status"]["replicas"], 2);

  // Main-resource writes ignore status and bump generation on spec changes only.
  Json main = Parse(s);
  main["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  main["status"]["replicas"] = 99;
  auto m = Put("/apis/apps/v1/namespaces/default/deployments/web", main);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(Parse(m)["metadata"]["generation"], 2);
  EXPECT_EQ(Parse(m)["status"]["replicas"], 2);
  auto labels =
      PatchReq("/apis/apps/v1/namespaces/default/deployments/web",
               {{"metadata", {{"labels", {{"x", "y"}}}}}}, "application/merge-patch+json");
  EXPECT_EQ(Parse(labels)["metadata"]["generation"], 2);

  auto scale = Parse(admin_->Get("/apis/apps/v1/namespaces/default/deployments/web/scale"));
  EXPECT_EQ(scale["kind"], "Scale");
  EXPECT_EQ(scale["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(scale["spec"]["replicas"], 2);
  EXPECT_EQ(scale["status"]["selector"], "app=web");
  scale["spec"]["replicas"] = 4;
  auto ps = Put("/apis/apps/v1/namespaces/default/deployments/web/scale", scale);
  ASSERT_EQ(ps.status, 200) << ps.body;
  EXPECT_EQ(Parse(ps)["spec"]["replicas"], 4);
  auto stale = Put("/apis/apps/v1/namespaces/default/deployments/web/scale", scale);
  EXPECT_EQ(stale.status, 409);
  auto neg = PatchReq("/apis/apps/v1/namespaces/default/deployments/web/scale",
                      {{"spec", {{"replicas", -1}}}}, "application/merge-patch+json");
  EXPECT_EQ(neg.status, 422);
  EXPECT_EQ(Parse(neg)["message"],
            "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be "
            "greater than or equal to 0");
  auto after = Parse(admin_->Get("/apis/apps/v1/namespaces/default/deployments/web"));
  EXPECT_EQ(after["spec"]["replicas"], 4);
  EXPECT_EQ(after["metadata"]["generation"], 3);

  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps/x/status").status, 404);
}

TEST_F(ApiServerTest, PatchTypes) {
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("p")));
  auto merge = PatchReq("/api/v1/namespaces/default/configmaps/p",
                        {{"data", {{"z", "1"}, {"k", nullptr}}}}, "application/merge-patch+json");
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(Parse(merge)["data"], (Json{{"z", "1"}}));
  auto jp = PatchReq("/api/v1/namespaces/default/configmaps/p",
                     Json::array({{{"op", "test"}, {"path", "/data/z"}, {"value", "1"}},
                                  {{"op", "replace"}, {"path", "/data/z"}, {"value", "2"}}}),
                     "application/json-patch+json");
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(Parse(jp)["data"]["z"], "2");
  auto failing = PatchReq("/api/v1/namespaces/default/configmaps/p",
                          Json::array({{{"op", "test"}, {"path", "/data/z"}, {"value", "wrong"}}}),
                          "application/json-patch+json");
  EXPECT_EQ(failing.status, 422);
  auto bad_ct =
      PatchReq("/api/v1/namespaces/default/configmaps/p", {{"data", {}}}, "application/json");
  EXPECT_EQ(bad_ct.status, 415);
  auto precondition = PatchReq("/api/v1/namespaces/default/configmaps/p",
                               {{"metadata", {{"resourceVersion", "1"}}}, {"data", {{"x", "y"}}}},
                               "application/merge-patch+json");
  EXPECT_EQ(precondition.status, 409);
  auto smp =
      PatchReq("/api/v1/namespaces/default/configmaps/p", {{"metadata", {{"finalizers", {"a/b"}}}}},
               "application/strategic-merge-patch+json");
  ASSERT_EQ(smp.status, 200) << smp.body;
  EXPECT_EQ(Parse(smp)["metadata"]["finalizers"], Json::array({"a/b"}));
  auto apply = admin_->Request(
      "PATCH", "/api/v1/namespaces/default/configmaps/applied?fieldManager=tether",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: \"1\"\n",
      "application/apply-patch+yaml");
  ASSERT_EQ(apply.status, 201) << apply.body;
  EXPECT_EQ(Parse(apply)["data"]["a"], "1");
}

TEST_F(ApiServerTest, FinalizersDelayDeletion) {
  Json cm = ConfigMap("fin");
  cm["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", cm));
  auto d = admin_->Request("DELETE", "/api/v1/namespaces/default/configmaps/fin");
  ASSERT_EQ(d.status, 200);
  EXPECT_TRUE(Parse(d)["metadata"].contains("deletionTimestamp"));
  auto g = Parse(admin_->Get("/api/v1/namespaces/default/configmaps/fin"));
  EXPECT_TRUE(g["metadata"].contains("deletionTimestamp"));
  auto add = PatchReq("/api/v1/namespaces/default/configmaps/fin",
                      {{"metadata", {{"finalizers", {"example.com/hold", "example.com/more"}}}}},
                      "application/merge-patch+json");
  EXPECT_EQ(add.status, 422);
  auto remove = PatchReq("/api/v1/namespaces/default/configmaps/fin",
                         {{"metadata", {{"finalizers", nullptr}}}}, "application/merge-patch+json");
  EXPECT_EQ(remove.status, 200);
  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps/fin").status, 404);

  Json uid_cm = *server_->Create("v1", "configmaps", "default", ConfigMap("pre"));
  auto wrong_uid =
      admin_->Request("DELETE", "/api/v1/namespaces/default/configmaps/pre",
                      Json{{"preconditions", {{"uid", "nope"}}}}.dump(), "application/json");
  EXPECT_EQ(wrong_uid.status, 409);
  auto right = admin_->Request("DELETE", "/api/v1/namespaces/default/configmaps/pre",
                               Json{{"preconditions", {{"uid", uid_cm["metadata"]["uid"]}}}}.dump(),
                               "application/json");
  EXPECT_EQ(right.status, 200);
}

TEST_F(ApiServerTest, DiscoveryIncludesCrdsRegisteredAtRuntime) {
  auto api = Parse(admin_->Get("/api"));
  EXPECT_EQ(api["versions"], Json::array({"v1"}));
  auto apps = Parse(admin_->Get("/apis/apps/v1"));
  bool scale = false;
  for (const auto& r : apps["resources"]) scale |= r["name"] == "deployments/scale";
  EXPECT_TRUE(scale);
  EXPECT_EQ(admin_->Get("/apis/example.com/v1").status, 404);

  Json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "widgets.example.com"}}},
              {"spec",
               {{"group", "example.com"},
                {"scope", "Namespaced"},
                {"names", {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}}},
                {"versions",
                 {{{"name", "v1"},
                   {"served", true},
                   {"storage", true},
                   {"subresources",
                    {{"status", Json::object()},
                     {"scale",
                      {{"specReplicasPath", ".spec.replicas"},
                       {"statusReplicasPath", ".status.replicas"}}}}}}}}}}};
  auto c = Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  ASSERT_EQ(c.status, 201) << c.body;
  auto list = admin_->Get("/apis/example.com/v1");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(Parse(list)["resources"].size(), 3u);
  auto w =
      Post("/apis/example.com/v1/namespaces/default/widgets", {{"apiVersion", "example.com/v1"},
                                                               {"kind", "Widget"},
                                                               {"metadata", {{"name", "w"}}},
                                                               {"spec", {{"replicas", 2}}}});
  ASSERT_EQ(w.status, 201) << w.body;
  EXPECT_EQ(Parse(w)["metadata"]["generation"], 1);
  auto sc = PatchReq("/apis/example.com/v1/namespaces/default/widgets/w/scale",
                     {{"spec", {{"replicas", 3}}}}, "application/merge-patch+json");
  ASSERT_EQ(sc.status, 200) << sc.body;
  EXPECT_EQ(
      Parse(admin_->Get("/apis/example.com/v1/namespaces/default/widgets/w"))["spec"]["replicas"],
      3);
  auto smp = PatchReq("/apis/example.com/v1/namespaces/default/widgets/w",
                      {{"spec", {{"replicas", 1}}}}, "application/strategic-merge-patch+json");
  EXPECT_EQ(smp.status, 415);

  // Deleting the CRD deletes its objects (watchers see DELETED) and then ends its watches.
  auto watch = std::async(std::launch::async, [&] {
    auto cert = server_->IssueClientCert("admin", {"system:masters"});
    CurlClient c(server_->url(), {.ca_pem = server_->ca_pem(),
                                  .client_cert_pem = cert->cert_pem,
                                  .client_key_pem = cert->key_pem});
    std::string events;
    c.Stream("/apis/example.com/v1/widgets?watch=true&resourceVersion=" +
                 Parse(w)["metadata"]["resourceVersion"].get<std::string>(),
             [&](std::string_view data) {
               events.append(data);
               return true;
             });
    return events;
  });
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));
  EXPECT_EQ(
      admin_
          ->Request("DELETE",
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
          .status,
      200);
  std::string events = watch.get();  // returns only because the server ended the stream
  EXPECT_NE(events.find("\"type\":\"DELETED\""), std::string::npos) << events;
  EXPECT_EQ(server_->OpenWatches(), 0);
  EXPECT_EQ(admin_->Get("/apis/example.com/v1").status, 404);
  EXPECT_EQ(admin_->Get("/apis/example.com/v1/namespaces/default/widgets/w").status, 404);
}

TEST_F(ApiServerTest, RestartKeepsDataAndPort) {
  ASSERT_TRUE(server_->Create("v1", "configmaps", "default", ConfigMap("persist")));
  int port = server_->port();
  server_->Stop();
  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps/persist").status, 0);
  ASSERT_TRUE(server_->Restart());
  EXPECT_EQ(server_->port(), port);
  auto g = admin_->Get("/api/v1/namespaces/default/configmaps/persist");
  EXPECT_EQ(g.status, 200) << g.error;
}

TEST_F(ApiServerTest, StopEndsOpenWatches) {
  auto fut = std::async(std::launch::async, [&] {
    auto cert = server_->IssueClientCert("admin", {"system:masters"});
    CurlClient c(server_->url(), {.ca_pem = server_->ca_pem(),
                                  .client_cert_pem = cert->cert_pem,
                                  .client_key_pem = cert->key_pem});
    return c.Stream("/api/v1/namespaces/default/configmaps?watch=true",
                    [](std::string_view) { return true; });
  });
  ASSERT_TRUE(Eventually([&] { return server_->OpenWatches() == 1; }));
  server_->Stop();
  fut.get();
  EXPECT_EQ(server_->OpenWatches(), 0);
}

TEST_F(ApiServerTest, FaultInjectionAndAuthorization) {
  server_->FailNext("list", "configmaps", 2, 503);
  auto f1 = admin_->Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(f1.status, 503);
  EXPECT_EQ(f1.Header("retry-after"), "1");
  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps").status, 503);
  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps").status, 200);
  EXPECT_EQ(server_->RequestCount("list", "configmaps"), 3);

  server_->Deny("admin", "list", "configmaps");
  auto denied = admin_->Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Parse(denied)["message"],
            "configmaps is forbidden: User \"admin\" cannot list resource \"configmaps\" in API "
            "group \"\" in the "
            "namespace \"default\"");
  auto sar = Post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                  {{"apiVersion", "authorization.k8s.io/v1"},
                   {"kind", "SelfSubjectAccessReview"},
                   {"spec",
                    {{"resourceAttributes",
                      {{"namespace", "default"}, {"verb", "list"}, {"resource", "configmaps"}}}}}});
  ASSERT_EQ(sar.status, 201) << sar.body;
  EXPECT_EQ(Parse(sar)["status"]["allowed"], false);
  server_->ClearDenials();
  EXPECT_EQ(admin_->Get("/api/v1/namespaces/default/configmaps").status, 200);
}

TEST_F(ApiServerTest, WritesUsableKubeconfig) {
  auto dir =
      std::filesystem::temp_directory_path() / ("apiserver_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "kubeconfig").string();
  ASSERT_TRUE(server_->WriteKubeconfig(path, KubeconfigAuth::Token("tok-1", "carol")));
  std::ifstream in(path);
  Json cfg = Json::parse(in);
  EXPECT_EQ(cfg["clusters"][0]["cluster"]["server"], server_->url());
  EXPECT_EQ(cfg["users"][0]["user"]["token"], "tok-1");
  CurlClient c(server_->url(), {.ca_pem = server_->ca_pem(), .bearer_token = "tok-1"});
  EXPECT_EQ(c.Get("/api/v1/namespaces").status, 200);
  ASSERT_TRUE(server_->WriteKubeconfig(path, KubeconfigAuth::ClientCert("dave", {"ops"})));
  std::ifstream in2(path);
  Json cfg2 = Json::parse(in2);
  EXPECT_FALSE(cfg2["users"][0]["user"]["client-certificate-data"].get<std::string>().empty());
  ASSERT_TRUE(server_->WriteKubeconfig(path, KubeconfigAuth::Exec("/bin/echo", {"x"})));
  std::ifstream in3(path);
  EXPECT_EQ(Json::parse(in3)["users"][0]["user"]["exec"]["command"], "/bin/echo");
  std::filesystem::remove_all(dir);
}

TEST_F(ApiServerTest, SchedulingGatesCanOnlyBeRemoved) {
  Json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "gated"}}},
      {"spec",
       {{"schedulingGates", {{{"name", "example.com/quota"}}, {{"name", "example.com/capacity"}}}},
        {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  auto c = Post("/api/v1/namespaces/default/pods", pod);
  ASSERT_EQ(c.status, 201) << c.body;
  Json created = Parse(c);
  EXPECT_EQ(created["status"]["conditions"][0]["reason"], "SchedulingGated");
  auto add = PatchReq("/api/v1/namespaces/default/pods/gated",
                      Json::array({{{"op", "add"},
                                    {"path", "/spec/schedulingGates/-"},
                                    {"value", {{"name", "example.com/new"}}}}}),
                      "application/json-patch+json");
  EXPECT_EQ(add.status, 422);
  EXPECT_EQ(Parse(add)["message"],
            "Pod \"gated\" is invalid: spec.schedulingGates[2].name: Forbidden: only deletion is "
            "allowed, but found new "
            "scheduling gate 'example.com/new'");
  auto remove = PatchReq("/api/v1/namespaces/default/pods/gated",
                         Json::array({{{"op", "remove"}, {"path", "/spec/schedulingGates/0"}}}),
                         "application/json-patch+json");
  ASSERT_EQ(remove.status, 200) << remove.body;
  EXPECT_EQ(Parse(remove)["spec"]["schedulingGates"].size(), 1u);
  auto node = PatchReq("/api/v1/namespaces/default/pods/gated", {{"spec", {{"nodeName", "n"}}}},
                       "application/merge-patch+json");
  EXPECT_EQ(node.status, 422);

  pod["metadata"]["name"] = "dup";
  pod["spec"]["schedulingGates"] = {{{"name", "example.com/g"}}, {{"name", "example.com/g"}}};
  auto dup = Post("/api/v1/namespaces/default/pods", pod);
  EXPECT_EQ(dup.status, 422);
  EXPECT_EQ(Parse(dup)["message"],
            "Pod \"dup\" is invalid: spec.schedulingGates[1]: Duplicate value: \"example.com/g\"");
}

}  // namespace
}  // namespace tether::testing
