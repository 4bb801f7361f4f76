#include "deps/cycle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::deps {
namespace {

using namespace std::chrono_literals;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

GraphEntry E(std::string wd, std::string dependent, std::vector<std::string> deps,
             std::optional<TimePoint> created = std::nullopt) {
  return {.wd_key = std::move(wd),
          .created = created,
          .dependent = std::move(dependent),
          .depends_on = std::move(deps)};
}

const TimePoint t0 = FakeClock::DefaultStart();

TEST(CycleTest, MutualPairIsAllowed) {
  EXPECT_THAT(FindCycles({E("ns/a", "Deployment/ns/a", {"Deployment/ns/b"}),
                          E("ns/b", "Deployment/ns/b", {"Deployment/ns/a"})}),
              IsEmpty());
}

TEST(CycleTest, ThreeCycleFlagsTheNewestWithThePath) {
  auto cycles = FindCycles({E("ns/c", "Deployment/ns/c", {"Deployment/ns/a"}, t0 + 2s),
                            E("ns/a", "Deployment/ns/a", {"Deployment/ns/b"}, t0),
                            E("ns/b", "Deployment/ns/b", {"Deployment/ns/c"}, t0 + 1s)});
  EXPECT_THAT(cycles,
              UnorderedElementsAre(Pair("ns/c",
                                        "Deployment/ns/c -> Deployment/ns/a -> Deployment/ns/b -> "
                                        "Deployment/ns/c")));
}

TEST(CycleTest, RemovingAnEdgeUnflags) {
  std::vector<GraphEntry> g = {E("ns/a", "Deployment/ns/a", {"Deployment/ns/b"}, t0),
                               E("ns/b", "Deployment/ns/b", {"Deployment/ns/c"}, t0 + 1s),
                               E("ns/c", "Deployment/ns/c", {"Deployment/ns/a"}, t0 + 2s)};
  EXPECT_EQ(FindCycles(g).size(), 1u);
  g.erase(g.begin());
  EXPECT_THAT(FindCycles(g), IsEmpty());
}

TEST(CycleTest, SpansNamespacesAndDistinguishesKinds) {
  std::vector<GraphEntry> g = {E("x/a", "Deployment/x/a", {"StatefulSet/y/b"}, t0),
                               E("y/b", "StatefulSet/y/b", {"Deployment/z/c"}, t0 + 1s),
                               E("z/c", "Deployment/z/c", {"StatefulSet/x/a"}, t0 + 2s)};
  EXPECT_THAT(FindCycles(g), IsEmpty());  // StatefulSet/x/a is not Deployment/x/a
  g[2].depends_on = {"Deployment/x/a"};
  EXPECT_THAT(FindCycles(g), UnorderedElementsAre(Pair(
                                 "z/c", ::testing::HasSubstr("Deployment/z/c -> Deployment/x/a"))));
}

TEST(CycleTest, LongerPathAlongsideAMutualPairIsACycle) {
  // a <-> b is fine, but a -> c -> b -> a is a 3-cycle.
  auto cycles = FindCycles({E("ns/1", "Deployment/ns/a", {"Deployment/ns/b"}, t0),
                            E("ns/2", "Deployment/ns/b", {"Deployment/ns/a"}, t0 + 1s),
                            E("ns/3", "Deployment/ns/c", {"Deployment/ns/b"}, t0 + 2s),
                            E("ns/4", "Deployment/ns/a", {"Deployment/ns/c"}, t0 + 3s)});
  EXPECT_THAT(cycles,
              UnorderedElementsAre(Pair("ns/4",
                                        "Deployment/ns/a -> Deployment/ns/c -> Deployment/ns/b -> "
                                        "Deployment/ns/a")));
}

TEST(CycleTest, AdmissionCheck) {
  std::vector<GraphEntry> g = {E("ns/a", "Deployment/ns/a", {"Deployment/ns/b"}, t0),
                               E("ns/b", "Deployment/ns/b", {"Deployment/ns/c"}, t0 + 1s)};
  EXPECT_EQ(WouldCloseCycle(g, E("ns/c", "Deployment/ns/c", {"Deployment/ns/a"})),
            "Deployment/ns/c -> Deployment/ns/a -> Deployment/ns/b -> Deployment/ns/c");
  EXPECT_EQ(WouldCloseCycle(g, E("ns/c", "Deployment/ns/c", {"Deployment/ns/d"})), std::nullopt);
  // An update of an existing entry replaces it.
  EXPECT_EQ(WouldCloseCycle(g, E("ns/b", "Deployment/ns/b", {"Deployment/ns/a"})), std::nullopt);
}

TEST(CycleTest, GraphEntryFromSpecSkipsPrometheus) {
  Spec s;
  s.dependent = {WorkloadKind::kDeployment, "ns", "app"};
  Dependency db;
  db.kind = "Deployment";
  db.name = "db";
  db.namespace_ = "ns";
  Dependency prom;
  prom.type = Dependency::Type::kPrometheus;
  prom.prometheus_query = "up";
  s.depends_on = {db, prom};
  auto e = GraphEntryFor("ns/wd", s);
  EXPECT_EQ(e.dependent, "Deployment/ns/app");
  EXPECT_EQ(e.depends_on, std::vector<std::string>{"Deployment/ns/db"});
}

}  // namespace
}  // namespace tether::deps
