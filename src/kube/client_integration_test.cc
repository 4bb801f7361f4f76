// End-to-end tests of the client against the embedded API server (testing/apiserver.h): real
// HTTPS, kubeconfigs written by the server and loaded with LoadKubeconfig, every REST verb,
// paging, watches, and the three authentication methods.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "kube/client.h"
#include "kube/exec_credential.h"
#include "testing/apiserver.h"

namespace tether::kube {
namespace {

using ::testing::HasSubstr;
using tether::testing::ApiServer;
using tether::testing::KubeconfigAuth;

template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

Json ConfigMap(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

Json Deployment(const std::string& name, int replicas) {
  return Json::parse(fmt::format(R"({{
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {{"name": "{0}", "labels": {{"app": "{0}"}}}},
    "spec": {{
      "replicas": {1},
      "selector": {{"matchLabels": {{"app": "{0}"}}}},
      "template": {{
        "metadata": {{"labels": {{"app": "{0}"}}}},
        "spec": {{"containers": [{{"name": "main", "image": "nginx:1.27"}}]}}
      }}
    }}
  }})",
                                 name, replicas));
}

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ApiServer::Start();
    ASSERT_TRUE(s.has_value()) << s.error().message;
    api_ = std::move(*s);
    std::string tmpl = (std::filesystem::temp_directory_path() / "tether-it-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Client> Connect(const KubeconfigAuth& auth) {
    const std::string path = dir_ + "/kubeconfig-" + std::to_string(++configs_);
    auto written = api_->WriteKubeconfig(path, auth);
    EXPECT_TRUE(written.has_value()) << written.error().message;
    LoadOptions opts;
    opts.kubeconfig = path;
    auto cfg = LoadKubeconfig(opts, clock_);
    EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
    if (!cfg) return nullptr;
    auto client = Client::Create(std::move(*cfg), clock_, RateLimit{0, 1});
    EXPECT_TRUE(client.has_value()) << client.error().message;
    return client ? std::move(*client) : nullptr;
  }

  // RealClock: the embedded server and exec expiry see the same time; the limiter is off.
  RealClock clock_;
  std::unique_ptr<ApiServer> api_;
  std::string dir_;
  int configs_ = 0;
  const Resource cms_ = resources::ConfigMaps();
  const Resource deps_ = resources::Deployments();
};

TEST_F(ClientIntegrationTest, CrudWithClientCertificate) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  auto created = c->Create(cms_, "default", ConfigMap("cm1"));
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const std::string rv1 = (*created)["metadata"]["resourceVersion"];
  const std::string uid = (*created)["metadata"]["uid"];

  auto again = c->Create(cms_, "default", ConfigMap("cm1"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);

  Json updated = *created;
  updated["data"]["k"] = "v2";
  auto u = c->Update(cms_, "default", updated);
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_NE((*u)["metadata"]["resourceVersion"], rv1);

  updated["data"]["k"] = "stale";  // still carries rv1
  auto conflict = c->Update(cms_, "default", updated);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_EQ(conflict.error().http_status, 409);
  EXPECT_THAT(conflict.error().message, HasSubstr("the object has been modified"));

  auto got = c->Get(cms_, "default", "cm1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["data"]["k"], "v2");

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
  auto refused = c->Delete(cms_, "default", "cm1", wrong_uid);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  DeleteOptions stale_rv;
  stale_rv.precondition_resource_version = rv1;
  EXPECT_FALSE(c->Delete(cms_, "default", "cm1", stale_rv).has_value());
  DeleteOptions right;
  right.precondition_uid = uid;
  ASSERT_TRUE(c->Delete(cms_, "default", "cm1", right).has_value());
  auto gone = c->Get(cms_, "default", "cm1");
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().message, "configmaps \"cm1\" not found");
}

TEST_F(ClientIntegrationTest, ListPagesAndRelistsAfterCompaction) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(c->Create(cms_, "default",
                          ConfigMap(fmt::format("cm-{}", i), {{"tier", i % 2 ? "odd" : "even"}})));
  }
  ListOptions opts{.limit = 3};
  auto page = c->ListPage(cms_, "default", opts);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  EXPECT_EQ(page->items.size(), 3u);
  ASSERT_FALSE(page->continue_token.empty());
  EXPECT_EQ(page->items[0]["kind"], "ConfigMap");

  auto all = c->List(cms_, "default", opts);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  std::set<std::string> names;
  for (const auto& item : all->items) names.insert(item["metadata"]["name"]);
  EXPECT_EQ(names.size(), 7u);
  EXPECT_FALSE(all->resource_version.empty());

  auto odd = c->List(cms_, "default", {.label_selector = "tier=odd", .limit = 2});
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->items.size(), 3u);

  // A continue token from before a compaction expires: the page fails with 410, List relists.
  ASSERT_TRUE(c->Create(cms_, "default", ConfigMap("cm-late")));
  api_->Compact();
  opts.continue_token = page->continue_token;
  auto expired = c->ListPage(cms_, "default", opts);
  if (!expired.has_value()) {
    EXPECT_EQ(expired.error().code, ErrorCode::kGone);
  }
  opts.continue_token.clear();
  all = c->List(cms_, "default", opts);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_EQ(all->items.size(), 8u);
}

TEST_F(ClientIntegrationTest, AllPatchTypesStatusAndScale) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create(deps_, "default", Deployment("web", 1)));

  auto merged = c->Patch(deps_, "default", "web", PatchType::kMerge,
                         {{"metadata", {{"labels", {{"team", "a"}}}}}});
  ASSERT_TRUE(merged.has_value()) << merged.error().message;
  EXPECT_EQ((*merged)["metadata"]["labels"]["team"], "a");
  EXPECT_EQ((*merged)["metadata"]["labels"]["app"], "web");

  auto json = c->Patch(deps_, "default", "web", PatchType::kJson,
                       Json::parse(R"([{"op":"replace","path":"/spec/replicas","value":2}])"));
  ASSERT_TRUE(json.has_value()) << json.error().message;
  EXPECT_EQ((*json)["spec"]["replicas"], 2);

  // Strategic merge: containers merge by name (a merge patch would replace the list).
  auto smp = c->Patch(deps_, "default", "web", PatchType::kStrategicMerge,
                      Json::parse(R"({"spec":{"template":{"spec":{"containers":[
                        {"name":"sidecar","image":"busybox:1.36"}]}}}})"));
  ASSERT_TRUE(smp.has_value()) << smp.error().message;
  EXPECT_EQ((*smp)["spec"]["template"]["spec"]["containers"].size(), 2u);

  auto applied =
      c->Patch(deps_, "default", "web", PatchType::kApply,
               {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", {{"name", "web"}, {"annotations", {{"tether.dev/owner", "it"}}}}}},
               {}, {.field_manager = "tether-it", .force = true});
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_EQ((*applied)["metadata"]["annotations"]["tether.dev/owner"], "it");

  // status subresource: spec changes through /status are ignored, status is written.
  Json with_status = *applied;
  with_status["status"] = {{"replicas", 2}, {"readyReplicas", 1}, {"observedGeneration", 1}};
  auto st = c->Update(deps_, "default", with_status, "status");
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ((*st)["status"]["readyReplicas"], 1);

  auto scale = c->Get(deps_, "default", "web", "scale");
  ASSERT_TRUE(scale.has_value()) << scale.error().message;
  EXPECT_EQ((*scale)["kind"], "Scale");
  EXPECT_EQ((*scale)["spec"]["replicas"], 2);
  auto scaled =
      c->Patch(deps_, "default", "web", PatchType::kMerge, {{"spec", {{"replicas", 5}}}}, "scale");
  ASSERT_TRUE(scaled.has_value()) << scaled.error().message;
  auto dep = c->Get(deps_, "default", "web");
  ASSERT_TRUE(dep.has_value());
  EXPECT_EQ((*dep)["spec"]["replicas"], 5);
}

TEST_F(ClientIntegrationTest, WatchDeliversEventsEndsOnDropAndStopsOnToken) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  auto list = c->List(cms_, "default");
  ASSERT_TRUE(list.has_value());
  std::mutex mu;
  std::vector<std::pair<WatchEvent::Type, std::string>> events;
  auto watch = std::async(std::launch::async, [&] {
    return c->Watch(
        cms_, "default", {.resource_version = list->resource_version},
        [&](WatchEvent&& e) {
          if (e.type == WatchEvent::Type::kBookmark) return true;
          std::lock_guard lock(mu);
          events.emplace_back(e.type, e.object["metadata"]["name"].get<std::string>());
          return true;
        },
        std::stop_token());
  });
  ASSERT_TRUE(Eventually([&] { return api_->OpenWatches() == 1; }));
  auto created = c->Create(cms_, "default", ConfigMap("w1"));
  ASSERT_TRUE(created.has_value());
  ASSERT_TRUE(c->Patch(cms_, "default", "w1", PatchType::kMerge, {{"data", {{"k", "2"}}}}));
  ASSERT_TRUE(c->Delete(cms_, "default", "w1"));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return events.size() == 3;
  }));
  api_->DropWatches();  // mid-stream disconnect: a clean end, the caller resumes
  auto ended = watch.get();
  EXPECT_TRUE(ended.has_value()) << ended.error().message;
  EXPECT_THAT(events,
              ::testing::ElementsAre(std::pair{WatchEvent::Type::kAdded, std::string("w1")},
                                     std::pair{WatchEvent::Type::kModified, std::string("w1")},
                                     std::pair{WatchEvent::Type::kDeleted, std::string("w1")}));

  std::stop_source stop;
  auto idle = std::async(std::launch::async, [&] {
    return c->Watch(
        cms_, "default", {}, [](WatchEvent&&) { return true; }, stop.get_token());
  });
  ASSERT_TRUE(Eventually([&] { return api_->OpenWatches() == 1; }));
  stop.request_stop();
  auto stopped = idle.get();
  ASSERT_FALSE(stopped.has_value());
  EXPECT_EQ(stopped.error().code, ErrorCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return api_->OpenWatches() == 0; }));
}

TEST_F(ClientIntegrationTest, WatchFromACompactedVersionIsGone) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  auto first = c->Create(cms_, "default", ConfigMap("a"));
  ASSERT_TRUE(first.has_value());
  const std::string old_rv = (*first)["metadata"]["resourceVersion"];
  ASSERT_TRUE(c->Create(cms_, "default", ConfigMap("b")));
  ASSERT_TRUE(c->Delete(cms_, "default", "a"));
  api_->Compact();
  std::optional<WatchEvent> error_event;
  auto r = c->Watch(
      cms_, "default", {.resource_version = old_rv},
      [&](WatchEvent&& e) {
        if (e.type == WatchEvent::Type::kError) {
          error_event = std::move(e);
          return false;
        }
        return true;
      },
      std::stop_token());
  // kube-apiserver answers 200 with one ERROR event (code 410); accept an HTTP 410 as well.
  if (r.has_value()) {
    ASSERT_TRUE(error_event.has_value());
    EXPECT_EQ(error_event->object["code"], 410);
    EXPECT_EQ(error_event->object["reason"], "Expired");
  } else {
    EXPECT_EQ(r.error().code, ErrorCode::kGone);
  }
}

TEST_F(ClientIntegrationTest, BearerTokenAndRevocation) {
  api_->AddToken("tok-abc", "robot", {"system:masters"});
  auto c = Connect(KubeconfigAuth::Token("tok-abc", "robot"));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create(cms_, "default", ConfigMap("t")).has_value());
  api_->RevokeToken("tok-abc");
  auto r = c->Get(cms_, "default", "t");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(r.error().http_status, 401);
}

TEST_F(ClientIntegrationTest, ExecPluginIsRerunAfter401) {
  // The plugin prints whatever token the test put in current-token, and counts its runs.
  const std::string plugin = dir_ + "/plugin";
  std::ofstream(plugin) << "#!/bin/sh\necho run >> '" << dir_ << "/runs'\n"
                        << "t=$(cat '" << dir_ << "/current-token')\n"
                        << "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                           "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$t\"\n";
  ::chmod(plugin.c_str(), 0755);
  auto runs = [&] {
    std::ifstream in(dir_ + "/runs");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) ++n;
    return n;
  };
  std::ofstream(dir_ + "/current-token") << "exec-1";
  api_->AddToken("exec-1", "exec-user", {"system:masters"});
  auto c = Connect(KubeconfigAuth::Exec(plugin));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create(cms_, "default", ConfigMap("e")).has_value());
  ASSERT_TRUE(c->Get(cms_, "default", "e").has_value());
  EXPECT_EQ(runs(), 1);  // cached: no expirationTimestamp

  // The token is rotated server-side: the next request gets 401, the plugin re-runs, the
  // request is retried once with the new token and succeeds.
  api_->RevokeToken("exec-1");
  api_->AddToken("exec-2", "exec-user", {"system:masters"});
  std::ofstream(dir_ + "/current-token") << "exec-2";
  auto got = c->Get(cms_, "default", "e");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(runs(), 2);
}

TEST_F(ClientIntegrationTest, ServerFaultsCarryRetryAfter) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  api_->FailNext("get", "configmaps", 1, 503);
  auto r = c->Get(cms_, "default", "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().IsRetryable());
  ASSERT_TRUE(r.error().retry_after.has_value());
  EXPECT_EQ(*r.error().retry_after, std::chrono::seconds(1));
  auto next = c->Get(cms_, "default", "x");
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code, ErrorCode::kNotFound);
}

TEST_F(ClientIntegrationTest, RawRequestForDiscovery) {
  auto c = Connect(KubeconfigAuth::ClientCert());
  ASSERT_NE(c, nullptr);
  auto apps = c->Request("GET", "/apis/apps/v1", nullptr);
  ASSERT_TRUE(apps.has_value()) << apps.error().message;
  EXPECT_EQ((*apps)["kind"], "APIResourceList");
}

}  // namespace
}  // namespace tether::kube
