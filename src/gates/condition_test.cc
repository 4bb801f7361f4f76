#include "gates/condition.h"

#include <gtest/gtest.h>

namespace tether::gates {
namespace {

TEST(ParseCondition, FullAndDefaults) {
  auto c =
      ParseCondition(R"({"apiVersion":"apps/v1","kind":"Deployment","name":"db","namespace":"x",)"
                     R"("expression":"resource.status.readyReplicas >= 1"})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api_version, "apps/v1");
  EXPECT_EQ(c->kind, "Deployment");
  EXPECT_EQ(c->name, "db");
  EXPECT_EQ(c->ns, "x");
  EXPECT_EQ(c->expression, "resource.status.readyReplicas >= 1");
  auto d = ParseCondition(R"({"kind":"ConfigMap","name":"cfg"})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->api_version, "v1");
  EXPECT_FALSE(d->ns);
  EXPECT_FALSE(d->expression);
}

TEST(ParseCondition, NamespacedIsAcceptedAndIgnored) {
  auto c = ParseCondition(R"({"kind":"ConfigMap","name":"cfg","namespaced":false})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->ns);
}

TEST(ParseCondition, ErrorsNameTheProblem) {
  struct Case {
    const char* input;
    const char* needle;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"name":"x"})", "\"kind\" is required"},
      {R"({"kind":"ConfigMap"})", "\"name\" is required"},
      {R"({"kind":"ConfigMap","name":""})", "\"name\" is required"},
      {R"({"kind":"ConfigMap","name":"x","expresion":"true"})", "unknown field \"expresion\""},
      {R"({"kind":"ConfigMap","name":7})", "must be a string"},
      {R"({"kind":"ConfigMap","name":"x","apiVersion":""})", "apiVersion"},
  };
  for (const auto& tc : cases) {
    auto c = ParseCondition(tc.input);
    ASSERT_FALSE(c) << tc.input;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalid);
    EXPECT_NE(c.error().message.find(tc.needle), std::string::npos)
        << tc.input << " -> " << c.error().message;
  }
}

TEST(Gates, OwnedGatesFiltersByPrefixInOrder) {
  Json pod = {{"spec",
               {{"schedulingGates",
                 {{{"name", "gate.tether.dev/a"}},
                  {{"name", "example.com/other"}},
                  {{"name", "k8s.ksgate.org/b"}}}}}}};
  std::vector<std::string> prefixes = {"gate.tether.dev/", "k8s.ksgate.org/"};
  EXPECT_EQ(OwnedGates(pod, prefixes),
            (std::vector<std::string>{"gate.tether.dev/a", "k8s.ksgate.org/b"}));
  EXPECT_EQ(SchedulingGates(pod).size(), 3u);
  EXPECT_TRUE(OwnedGates(Json::object(), prefixes).empty());
  EXPECT_FALSE(HasConfiguredPrefix("gate.tether.dev/", prefixes));
}

TEST(Gates, ParsePrefixes) {
  auto p = ParsePrefixes("gate.tether.dev/, gateman.kdex.dev/");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (std::vector<std::string>{"gate.tether.dev/", "gateman.kdex.dev/"}));
  EXPECT_FALSE(ParsePrefixes("gate.tether.dev"));
  EXPECT_FALSE(ParsePrefixes("a/,,b/"));
}

std::shared_ptr<const Json> J(Json j) { return std::make_shared<const Json>(std::move(j)); }

TEST(Evaluate, ExistenceAndExpression) {
  auto pod = J({{"metadata", {{"name", "p"}, {"labels", {{"tier", "web"}}}}}});
  auto exists = CompileCondition(R"({"kind":"ConfigMap","name":"c"})");
  ASSERT_TRUE(exists);
  EXPECT_FALSE(*EvaluateCondition(**exists, nullptr, pod, TimePoint{}));
  EXPECT_TRUE(*EvaluateCondition(**exists, J(Json::object()), pod, TimePoint{}));

  auto expr = CompileCondition(
      R"({"kind":"Deployment","apiVersion":"apps/v1","name":"d",)"
      R"("expression":"resource.status.readyReplicas >= 1 && this.metadata.labels.tier == pod.metadata.labels.tier"})");
  ASSERT_TRUE(expr) << expr.error().message;
  EXPECT_FALSE((*expr)->UsesNow());
  EXPECT_FALSE(*EvaluateCondition(**expr, J({{"status", {{"readyReplicas", 0}}}}), pod, {}));
  EXPECT_TRUE(*EvaluateCondition(**expr, J({{"status", {{"readyReplicas", 2}}}}), pod, {}));
  // Missing field: an evaluation error, not false.
  auto err = EvaluateCondition(**expr, J(Json::object()), pod, {});
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("evaluation failed"), std::string::npos);
}

TEST(Evaluate, NonBoolCompileErrorCostAndNow) {
  auto pod = J(Json::object());
  auto non_bool = CompileCondition(R"({"kind":"ConfigMap","name":"c","expression":"1 + 1"})");
  ASSERT_TRUE(non_bool);
  auto r = EvaluateCondition(**non_bool, J(Json::object()), pod, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must return a bool, got int"), std::string::npos);

  auto bad = CompileCondition(R"({"kind":"ConfigMap","name":"c","expression":"resorce.x"})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("does not compile"), std::string::npos);

  auto costly = CompileCondition(
      R"j({"kind":"ConfigMap","name":"c","expression":"[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, a+b+c > 0)))"})j");
  ASSERT_TRUE(costly) << costly.error().message;
  auto over = EvaluateCondition(**costly, J(Json::object()), pod, {}, 100);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(over.error().message.find("cost budget"), std::string::npos);

  auto timed = CompileCondition(
      R"j({"kind":"ConfigMap","name":"c","expression":"now() > timestamp(resource.data.at)"})j");
  ASSERT_TRUE(timed) << timed.error().message;
  EXPECT_TRUE((*timed)->UsesNow());
  auto cm = J({{"data", {{"at", "2026-06-15T03:00:05Z"}}}});
  TimePoint t0;
  ASSERT_TRUE(ParseRfc3339("2026-06-15T03:00:00Z", &t0));
  EXPECT_FALSE(*EvaluateCondition(**timed, cm, pod, t0));
  EXPECT_TRUE(*EvaluateCondition(**timed, cm, pod, t0 + std::chrono::seconds(6)));
}

TEST(Policy, Decisions) {
  using V = PolicyDecision::Verdict;
  auto same = ReferencePolicy::kSameNamespace;
  EXPECT_EQ(CheckReference(same, "a", "a", "apps", "Deployment", true).verdict, V::kAllow);
  EXPECT_EQ(CheckReference(same, "a", "b", "apps", "Deployment", false).verdict, V::kDeny);
  EXPECT_EQ(CheckReference(same, "a", "", "", "Namespace", false).verdict, V::kDeny);
  EXPECT_EQ(CheckReference(same, "a", "a", "", "Secret", false).verdict, V::kAllow);
  auto secret_expr = CheckReference(same, "a", "a", "", "Secret", true);
  EXPECT_EQ(secret_expr.verdict, V::kDeny);
  EXPECT_NE(secret_expr.reason.find("existence"), std::string::npos);
  auto authz = ReferencePolicy::kAuthorized;
  EXPECT_EQ(CheckReference(authz, "a", "a", "", "ConfigMap", true).verdict, V::kAllow);
  EXPECT_EQ(CheckReference(authz, "a", "b", "", "ConfigMap", true).verdict, V::kNeedsAccessReview);
  EXPECT_EQ(CheckReference(authz, "a", "", "", "Namespace", false).verdict, V::kNeedsAccessReview);
  EXPECT_EQ(CheckReference(ReferencePolicy::kAny, "a", "b", "", "Secret", true).verdict, V::kAllow);
  EXPECT_EQ(*ParseReferencePolicy("authorized"), authz);
  EXPECT_FALSE(ParseReferencePolicy("open"));
}

TEST(Patch, TestsGuardIndicesAndRemoveDescending) {
  Json pod = {{"spec",
               {{"schedulingGates",
                 {{{"name", "gate.tether.dev/a"}},
                  {{"name", "example.com/keep"}},
                  {{"name", "gate.tether.dev/b"}}}}}}};
  auto p = BuildRemovalPatch(pod, {"gate.tether.dev/a", "gate.tether.dev/b"});
  ASSERT_TRUE(p);
  Json want = Json::parse(R"([
    {"op":"test","path":"/spec/schedulingGates/0/name","value":"gate.tether.dev/a"},
    {"op":"test","path":"/spec/schedulingGates/2/name","value":"gate.tether.dev/b"},
    {"op":"remove","path":"/spec/schedulingGates/2"},
    {"op":"remove","path":"/spec/schedulingGates/0"}])");
  EXPECT_EQ(*p, want);
  auto all = BuildRemovalPatch(pod, {"gate.tether.dev/a", "gate.tether.dev/b", "example.com/keep"});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->back(), (Json{{"op", "remove"}, {"path", "/spec/schedulingGates"}}));
  EXPECT_EQ(all->size(), 4u);
  EXPECT_FALSE(BuildRemovalPatch(pod, {"gate.tether.dev/zzz"}));
}

}  // namespace
}  // namespace tether::gates
