#include "testing/table.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tether::testing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TimePoint At(const std::string& rfc3339) {
  TimePoint t;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &t)) << rfc3339;
  return t;
}

ResourceType Builtin(const std::string& group, const std::string& resource) {
  ResourceType t;
  t.group = group;
  t.version = "v1";
  t.resource = resource;
  return t;
}

Json Cells(const Json& table, size_t row = 0) { return table["rows"][row]["cells"]; }

std::vector<std::string> ColumnNames(const Json& table) {
  std::vector<std::string> out;
  for (const auto& c : table["columnDefinitions"]) out.push_back(c["name"]);
  return out;
}

const char* kCreated = "2026-11-22T03:00:00Z";

TEST(Table, HumanDurationMatchesKubectl) {
  EXPECT_EQ(HumanDuration(seconds(0)), "0s");
  EXPECT_EQ(HumanDuration(seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(seconds(200)), "3m20s");
  EXPECT_EQ(HumanDuration(minutes(5)), "5m");
  EXPECT_EQ(HumanDuration(minutes(150)), "150m");
  EXPECT_EQ(HumanDuration(hours(4) + minutes(7)), "4h7m");
  EXPECT_EQ(HumanDuration(hours(30)), "30h");
  EXPECT_EQ(HumanDuration(hours(51)), "2d3h");
  EXPECT_EQ(HumanDuration(hours(24 * 20)), "20d");
  EXPECT_EQ(HumanDuration(hours(24 * 365 * 3)), "3y");
  EXPECT_EQ(HumanDuration(seconds(-5)), "<invalid>");
}

TEST(Table, ColumnValueFollowsPrinterColumnPaths) {
  Json o = {{"spec", {{"items", {{{"name", "a"}}, {{"name", "b"}}}}, {"m", {{"k.x", 1}}}}}};
  EXPECT_EQ(ColumnValue(o, ".spec.items[1].name"), "b");
  EXPECT_EQ(ColumnValue(o, ".spec.m['k.x']"), 1);
  EXPECT_TRUE(ColumnValue(o, ".spec.items[5].name").is_null());
  EXPECT_TRUE(ColumnValue(o, ".status.phase").is_null());
}

TEST(Table, DeploymentsShowReadyUpToDateAvailableAndWideColumns) {
  Json container = {{"name", "c"}, {"image", "nginx"}};
  Json spec = {{"replicas", 3},
               {"selector", {{"matchLabels", {{"app", "web"}}}}},
               {"template", {{"spec", {{"containers", Json::array({container})}}}}}};
  Json d = {{"metadata", {{"name", "web"}, {"creationTimestamp", kCreated}}},
            {"spec", spec},
            {"status", {{"readyReplicas", 2}, {"updatedReplicas", 3}, {"availableReplicas", 2}}}};
  Json t = ToTable(Builtin("apps", "deployments"), {d}, "7", "Metadata", At(kCreated) + minutes(5));
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available",
                                                      "Age", "Containers", "Images", "Selector"}));
  EXPECT_EQ(Cells(t), Json::array({"web", "2/3", 3, 2, "5m", "c", "nginx", "app=web"}));
  EXPECT_EQ(t["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

TEST(Table, PodsDaemonSetsAndCronJobs) {
  Json gated = {{"metadata", {{"name", "p"}, {"creationTimestamp", kCreated}}},
                {"spec",
                 {{"schedulingGates", {{{"name", "gate.tether.dev/db"}}}},
                  {"containers", {{{"name", "c"}}}}}}};
  EXPECT_EQ(Cells(ToTable(Builtin("", "pods"), {gated}, "", "None", At(kCreated) + seconds(3))),
            Json::array({"p", "0/1", "SchedulingGated", "0", "3s", "<none>", "<none>", "<none>",
                         "<none>"}));
  Json ds = {
      {"metadata", {{"name", "agent"}, {"creationTimestamp", kCreated}}},
      {"spec", {{"template", {{"spec", {{"nodeSelector", {{"tether.dev/suspended", "true"}}}}}}}}}};
  EXPECT_EQ(Cells(ToTable(Builtin("apps", "daemonsets"), {ds}, "", "None", At(kCreated)))[6],
            "tether.dev/suspended=true");
  Json cron = {{"metadata", {{"name", "reports"}, {"creationTimestamp", kCreated}}},
               {"spec", {{"schedule", "*/5 * * * *"}, {"suspend", true}}}};
  EXPECT_EQ(
      Cells(ToTable(Builtin("batch", "cronjobs"), {cron}, "", "None", At(kCreated) + hours(2))),
      Json::array({"reports", "*/5 * * * *", "<none>", true, 0, "<none>", "120m"}));
}

TEST(Table, CustomResourcesUseTheirPrinterColumns) {
  ResourceType wd;
  wd.custom = true;
  wd.printer_columns = Json::array(
      {{{"name", "Phase"}, {"type", "string"}, {"jsonPath", ".status.phase"}},
       {{"name", "Replicas"}, {"type", "integer"}, {"jsonPath", ".status.savedReplicas"}},
       {{"name", "Age"}, {"type", "date"}, {"jsonPath", ".metadata.creationTimestamp"}}});
  Json o = {{"metadata", {{"name", "payments-needs-db"}, {"creationTimestamp", kCreated}}},
            {"status", {{"phase", "Suspended"}}}};
  Json t = ToTable(wd, {o}, "", "Object", At(kCreated) + seconds(90));
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Name", "Phase", "Replicas", "Age"}));
  EXPECT_EQ(Cells(t), Json::array({"payments-needs-db", "Suspended", nullptr, "90s"}));
  EXPECT_EQ(t["rows"][0]["object"], o);
}

}  // namespace
}  // namespace tether::testing
