#include "deps/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tether::deps {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

json Wd(const std::string& ns, const std::string& name, const std::string& dependent_kind,
        const std::string& dependent, std::vector<json> depends_on, json status) {
  return {
      {"metadata", {{"namespace", ns}, {"name", name}}},
      {"spec",
       {{"dependent", {{"kind", dependent_kind}, {"name", dependent}}}, {"dependsOn", depends_on}}},
      {"status", status}};
}

json On(const std::string& kind, const std::string& name) {
  return {{"kind", kind}, {"name", name}};
}

json Status(const std::string& phase, std::vector<json> deps, const std::string& message = "") {
  json s = {{"phase", phase}, {"dependencies", deps}};
  if (!message.empty()) s["message"] = message;
  return s;
}

json DepStatus(const std::string& ref, const std::string& state, const std::string& msg = "") {
  return {{"ref", ref}, {"state", state}, {"message", msg}};
}

// The demo's shop: database fails, payments and the reports CronJob are suspended, checkout is
// suspended by cascade.
std::vector<json> Shop() {
  return {
      Wd("shop", "payments-needs-database", "Deployment", "payments",
         {On("Deployment", "database")},
         Status("Suspended",
                {DepStatus("Deployment/shop/database", "Unhealthy", "0/3 ready (< 80%)")},
                "dependency Deployment/database not healthy: 0/3 ready (< 80%)")),
      Wd("shop", "checkout-needs-payments", "Deployment", "checkout",
         {On("Deployment", "payments")},
         Status("Suspended", {DepStatus("Deployment/shop/payments", "CoSuspended")})),
      Wd("shop", "reports-needs-database", "CronJob", "reports", {On("Deployment", "database")},
         Status("Suspended",
                {DepStatus("Deployment/shop/database", "Unhealthy", "0/3 ready (< 80%)")})),
  };
}

TEST(GraphTest, BuildsNodesWithPhasesAndEdgesWithStates) {
  Graph g = BuildGraph(Shop());
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.nodes.at("Deployment/shop/payments").phase, "Suspended");
  EXPECT_EQ(g.nodes.at("Deployment/shop/checkout").phase, "Suspended");
  EXPECT_EQ(g.nodes.at("CronJob/shop/reports").phase, "Suspended");
  // Only a dependency: its observed state.
  EXPECT_EQ(g.nodes.at("Deployment/shop/database").phase, "Unhealthy");
  EXPECT_EQ(g.nodes.at("Deployment/shop/database").message, "0/3 ready (< 80%)");
  ASSERT_EQ(g.edges.size(), 3u);
  EXPECT_EQ(g.edges[1].from, "Deployment/shop/checkout");
  EXPECT_EQ(g.edges[1].to, "Deployment/shop/payments");
  EXPECT_EQ(g.edges[1].state, "CoSuspended");
  EXPECT_TRUE(g.single_namespace);
  EXPECT_TRUE(g.problems.empty());
}

TEST(GraphTest, TextTreeShowsTheCascadeFromTheTop) {
  std::string text = RenderText(BuildGraph(Shop()));
  EXPECT_EQ(text,
            "CronJob/reports  [Suspended]  (WorkloadDependency shop/reports-needs-database)\n"
            "└─ needs Deployment/database  [Unhealthy: 0/3 ready (< 80%)]  "
            "(shop/reports-needs-database)\n"
            "Deployment/checkout  [Suspended]  (WorkloadDependency shop/checkout-needs-payments)\n"
            "└─ needs Deployment/payments  [Suspended: dependency Deployment/database not healthy: "
            "0/3 ready (< 80%)]\n"
            "   └─ needs Deployment/database  [Unhealthy: 0/3 ready (< 80%)]  "
            "(shop/payments-needs-database)\n");
}

TEST(GraphTest, MostSeverePhaseWinsWhenSeveralGovernOneWorkload) {
  std::vector<json> wds = {
      Wd("a", "one", "Deployment", "app", {On("Deployment", "x")},
         Status("Healthy", {DepStatus("Deployment/a/x", "Healthy")})),
      Wd("a", "two", "Deployment", "app", {On("Deployment", "y")},
         Status("Degraded", {DepStatus("Deployment/a/y", "Unhealthy")}, "y is down")),
  };
  Graph g = BuildGraph(wds);
  EXPECT_EQ(g.nodes.at("Deployment/a/app").phase, "Degraded");
  EXPECT_EQ(g.nodes.at("Deployment/a/app").governed_by.size(), 2u);
}

TEST(GraphTest, NamespacesAreShownWhenTheGraphSpansSeveral) {
  json wd = Wd("web", "w", "Deployment", "frontend", {On("Deployment", "api")}, json::object());
  wd["spec"]["dependsOn"][0]["namespace"] = "backend";
  Graph g = BuildGraph({wd});
  EXPECT_FALSE(g.single_namespace);
  std::string text = RenderText(g);
  EXPECT_THAT(text, HasSubstr("Deployment/web/frontend  [no status yet]"));
  EXPECT_THAT(text, HasSubstr("needs Deployment/backend/api"));
}

TEST(GraphTest, InvalidWorkloadDependenciesAreReportedNotDrawn) {
  json bad = {{"metadata", {{"namespace", "shop"}, {"name", "broken"}}},
              {"spec", {{"dependent", {{"kind", "Pod"}, {"name", "x"}}}}}};
  Graph g = BuildGraph({bad});
  EXPECT_TRUE(g.nodes.empty());
  ASSERT_EQ(g.problems.size(), 1u);
  EXPECT_THAT(g.problems[0], HasSubstr("shop/broken"));
  EXPECT_THAT(RenderText(g), HasSubstr("No WorkloadDependencies found."));
  EXPECT_THAT(RenderText(g), HasSubstr("! WorkloadDependency shop/broken: invalid spec"));
}

TEST(GraphTest, MalformedObjectIsReportedAndTheOthersAreDrawn) {
  std::vector<json> wds = Shop();
  wds.push_back({{"metadata", {{"namespace", 7}, {"name", "weird"}}}});
  Graph g = BuildGraph(wds);
  EXPECT_EQ(g.nodes.size(), 4u);
  ASSERT_EQ(g.problems.size(), 1u);
  EXPECT_THAT(g.problems[0], HasSubstr("could not be read"));
}

TEST(GraphTest, MutualDependenciesPrintACycleMarkerInsteadOfLoopingForever) {
  std::vector<json> wds = {
      Wd("m", "a", "Deployment", "a", {On("Deployment", "b")}, json::object()),
      Wd("m", "b", "Deployment", "b", {On("Deployment", "a")}, json::object()),
  };
  std::string text = RenderText(BuildGraph(wds));
  EXPECT_THAT(text, HasSubstr("↺ cycle"));
  EXPECT_THAT(text, HasSubstr("Deployment/a  [no status yet]"));
}

TEST(GraphTest, DotOutputColorsNodesAndLabelsEdges) {
  std::string dot = RenderDot(BuildGraph(Shop()));
  EXPECT_THAT(dot, HasSubstr("digraph tether {"));
  EXPECT_THAT(dot, HasSubstr("\"Deployment/shop/payments\" [label=\"Deployment/payments\\n"
                             "Suspended\", fillcolor=\"#fed7d7\"];"));
  EXPECT_THAT(dot, HasSubstr("\"Deployment/shop/checkout\" -> \"Deployment/shop/payments\" "
                             "[label=\"CoSuspended\""));
  EXPECT_EQ(dot.back(), '\n');
}

TEST(GraphTest, DotEscapesQuotesInPrometheusQueries) {
  json wd = Wd("m", "w", "Deployment", "app", {}, json::object());
  wd["spec"]["dependsOn"] = json::array({{{"prometheus", {{"query", "up{job=\"pg\"} == 1"}}}}});
  std::string dot = RenderDot(BuildGraph({wd}));
  EXPECT_THAT(dot, HasSubstr("\"prometheus: up{job=\\\"pg\\\"} == 1\""));
  std::string mermaid = RenderMermaid(BuildGraph({wd}));
  EXPECT_THAT(mermaid, HasSubstr("up{job=#quot;pg#quot;} == 1"));
  EXPECT_THAT(mermaid, Not(HasSubstr("\"pg\"")));
}

TEST(GraphTest, MermaidUsesStableIdsAndPhaseClasses) {
  std::string m = RenderMermaid(BuildGraph(Shop()));
  EXPECT_THAT(m, HasSubstr("graph LR\n"));
  // Nodes are numbered in key order: CronJob/..., Deployment/checkout, database, payments.
  EXPECT_THAT(m, HasSubstr("  n0[\"CronJob/reports<br/>Suspended\"]:::suspended\n"));
  EXPECT_THAT(m, HasSubstr("  n1 -->|CoSuspended| n3\n"));
  EXPECT_THAT(m, HasSubstr("classDef unhealthy fill:#fed7d7"));
}

TEST(GraphTest, ParseGraphFormatNamesTheChoices) {
  EXPECT_EQ(ParseGraphFormat("dot").value(), GraphFormat::kDot);
  EXPECT_EQ(ParseGraphFormat("mermaid").value(), GraphFormat::kMermaid);
  auto bad = ParseGraphFormat("svg");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("text, dot or mermaid"));
}

}  // namespace
}  // namespace tether::deps
