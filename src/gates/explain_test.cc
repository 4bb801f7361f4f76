#include "gates/explain.h"

#include <gtest/gtest.h>

namespace tether::gates {
namespace {

Json GatedPod() {
  return {
      {"metadata",
       {{"name", "web"},
        {"namespace", "default"},
        {"annotations",
         {{"gate.tether.dev/db",
           R"j({"apiVersion":"apps/v1","kind":"Deployment","name":"db","expression":"resource.status.readyReplicas >= 1"})j"},
          {"gate.tether.dev/cfg", R"j({"kind":"ConfigMap","name":"cfg"})j"},
          {"gate.tether.dev/bad", R"j({"kind":"ConfigMap","name":"x","expresion":"true"})j"},
          {"gate.tether.dev/far", R"j({"kind":"ConfigMap","name":"x","namespace":"other"})j"}}}}},
      {"spec",
       {{"schedulingGates",
         {{{"name", "gate.tether.dev/db"}},
          {{"name", "gate.tether.dev/cfg"}},
          {{"name", "gate.tether.dev/bad"}},
          {{"name", "gate.tether.dev/far"}},
          {{"name", "gate.tether.dev/none"}},
          {{"name", "example.com/other"}}}}}}};
}

TEST(Explain, EveryRemainingGateWithStateResultAndRemedy) {
  auto lookup = [](const Condition& c, const std::string&) -> Result<LookedUp> {
    LookedUp l;
    if (c.kind == "Deployment") {
      l.resource = "deployments.apps";
      l.object = std::make_shared<const Json>(Json{{"status", {{"readyReplicas", 0}}}});
    } else {
      l.resource = "configmaps";
    }
    return l;
  };
  auto g = ExplainGates(GatedPod(), lookup, {});
  ASSERT_EQ(g.size(), 5u);  // example.com/other is not tether's
  EXPECT_EQ(g[0].object, "deployments.apps default/db: exists");
  EXPECT_EQ(g[0].result, "waiting");
  EXPECT_EQ(g[0].to_open, "make resource.status.readyReplicas >= 1 true");
  EXPECT_EQ(g[1].object, "configmaps default/cfg: not found");
  EXPECT_EQ(g[1].to_open, "create configmaps default/cfg");
  EXPECT_NE(g[2].result.find("unknown field \"expresion\""), std::string::npos);
  EXPECT_NE(g[3].result.find("same-namespace"), std::string::npos);
  EXPECT_EQ(g[4].condition, "<missing>");
  auto text = RenderExplanations("default/web", g);
  EXPECT_NE(text.find("5 tether gate(s) remain"), std::string::npos);
  EXPECT_NE(text.find("to open:   create configmaps default/cfg"), std::string::npos);
  EXPECT_EQ(RenderExplanations("default/x", {}),
            "pod default/x: no tether scheduling gates remain\n");
}

}  // namespace
}  // namespace tether::gates
