// Property tests of the state machine over random observation sequences (rapidcheck).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>

#include "deps/health.h"
#include "deps/sim_test_util.h"
#include "deps/state_machine.h"

namespace tether::deps {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::DepOn;
using testing::SimpleSpec;
using testing::World;

enum class Obs { kHealthy, kUnhealthy, kUnknown };

struct Step {
  Obs db;
  Obs cache;
  int seconds;  // time until the next observation change
  bool toggle_pause;
};

struct Setup {
  std::string mode;
  int window_db, window_cache, recovery_db, recovery_cache;  // seconds
  bool max_suspend;
};

World MakeWorld(const Setup& s, std::string* db, std::string* cache, std::string* app) {
  World w;
  *db = w.Add(WorkloadKind::kDeployment, "db");
  *cache = w.Add(WorkloadKind::kStatefulSet, "cache");
  *app = w.Add(WorkloadKind::kDeployment, "app", 5);
  json spec = SimpleSpec("Deployment", "app",
                         {DepOn("Deployment", "db", std::to_string(s.window_db) + "s",
                                std::to_string(s.recovery_db) + "s"),
                          DepOn("StatefulSet", "cache", std::to_string(s.window_cache) + "s",
                                std::to_string(s.recovery_cache) + "s")},
                         s.mode);
  if (s.max_suspend) spec["onDegraded"] = {{"maxSuspendDuration", "10m"}};
  w.AddWd("wd", spec);
  w.ReconcileAll();
  return w;
}

void Observe(World& w, const std::string& key, Obs o) {
  if (o == Obs::kUnknown) {
    w.unobservable.insert(key);
  } else {
    w.unobservable.erase(key);
  }
  if (o == Obs::kUnhealthy) {
    w.Break(key);
  } else if (o == Obs::kHealthy) {
    w.Fix(key);
  }
}

rc::Gen<Setup> GenSetup() {
  return rc::gen::build<Setup>(
      rc::gen::set(&Setup::mode, rc::gen::element<std::string>("strict", "soft", "observe")),
      rc::gen::set(&Setup::window_db, rc::gen::inRange(1, 120)),
      rc::gen::set(&Setup::window_cache, rc::gen::inRange(1, 120)),
      rc::gen::set(&Setup::recovery_db, rc::gen::inRange(1, 300)),
      rc::gen::set(&Setup::recovery_cache, rc::gen::inRange(1, 300)),
      rc::gen::set(&Setup::max_suspend, rc::gen::arbitrary<bool>()));
}

rc::Gen<Step> GenStep(bool allow_unhealthy) {
  auto obs = allow_unhealthy ? rc::gen::element(Obs::kHealthy, Obs::kUnhealthy, Obs::kUnknown)
                             : rc::gen::element(Obs::kHealthy, Obs::kUnknown);
  return rc::gen::build<Step>(
      rc::gen::set(&Step::db, obs), rc::gen::set(&Step::cache, obs),
      rc::gen::set(&Step::seconds, rc::gen::inRange(0, 400)),
      rc::gen::set(&Step::toggle_pause, rc::gen::weightedElement<bool>({{9, false}, {1, true}})));
}

// Only healthy or Unknown observations: tether never suspends anything, whatever the timing.
RC_GTEST_PROP(StateMachineProperty, UnknownOrHealthyNeverSuspends, ()) {
  Setup s = *GenSetup();
  auto steps = *rc::gen::container<std::vector<Step>>(GenStep(false));
  std::string db, cache, app;
  World w = MakeWorld(s, &db, &cache, &app);
  for (const auto& st : steps) {
    Observe(w, db, st.db);
    Observe(w, cache, st.cache);
    w.Advance(std::chrono::seconds(st.seconds));
    RC_ASSERT(w.CountActions(Action::Type::kSuspend) == 0);
    RC_ASSERT(w.PhaseOf("wd") != Phase::kSuspended);
    RC_ASSERT(w.PhaseOf("wd") != Phase::kObserved);
    RC_ASSERT(w.Replicas(app) == 5);
  }
}

// Whatever happened before, once every dependency is healthy for long enough the dependent is
// back exactly where the user had it, the record is gone, and the machine is at rest.
RC_GTEST_PROP(StateMachineProperty, EverySuspensionIsFollowedByARestore, ()) {
  Setup s = *GenSetup();
  auto steps = *rc::gen::container<std::vector<Step>>(GenStep(true));
  std::string db, cache, app;
  World w = MakeWorld(s, &db, &cache, &app);
  for (const auto& st : steps) {
    Observe(w, db, st.db);
    Observe(w, cache, st.cache);
    if (st.toggle_pause) w.wds["wd"].paused = !w.wds["wd"].paused;
    w.Advance(std::chrono::seconds(st.seconds));
    // The dependent is only ever at 5 or (suspended by tether, strict/soft) at 0.
    RC_ASSERT(w.Replicas(app) == 5 || w.Annotations(app).contains("tether.dev/suspended-by"));
    if (s.mode == "observe") RC_ASSERT(w.actions.empty());
  }
  w.wds["wd"].paused = false;
  Observe(w, db, Obs::kHealthy);
  Observe(w, cache, Obs::kHealthy);
  w.Advance(std::chrono::seconds(std::max(s.recovery_db, s.recovery_cache)));
  RC_ASSERT(w.Replicas(app) == 5);
  RC_ASSERT(!w.Annotations(app).contains("tether.dev/suspended-by"));
  RC_ASSERT(w.PhaseOf("wd") == Phase::kHealthy);
  RC_ASSERT(w.CountActions(Action::Type::kSuspend) == w.CountActions(Action::Type::kRestore));
  RC_CLASSIFY(w.CountActions(Action::Type::kSuspend) > 0, "suspended at least once");
  RC_CLASSIFY(w.CountActions(Action::Type::kStrictRevert) > 0, "strict revert");
  // At rest: another reconcile changes nothing and arms no timer.
  Decision d = w.Reconcile("wd");
  RC_ASSERT(!d.status_changed);
  RC_ASSERT(d.action.type == Action::Type::kNone);
  RC_ASSERT(!d.next_deadline.has_value());
}

// A suspension happens only after some dependency was continuously unhealthy (Unknown periods
// excluded) for its whole window.
RC_GTEST_PROP(StateMachineProperty, NoSuspensionBeforeTheWindow, ()) {
  Setup s = *GenSetup();
  s.mode = "strict";
  auto steps = *rc::gen::container<std::vector<Step>>(GenStep(true));
  std::string db, cache, app;
  World w = MakeWorld(s, &db, &cache, &app);
  Duration unhealthy_db{}, unhealthy_cache{};
  for (const auto& st : steps) {
    Observe(w, db, st.db);
    Observe(w, cache, st.cache);
    std::size_t before = w.actions.size();
    Duration step = std::chrono::seconds(st.seconds);
    w.Advance(step);
    for (std::size_t i = before; i < w.actions.size(); ++i) {
      if (w.actions[i].type != Action::Type::kSuspend) continue;
      // The elapsed unhealthy time includes this step up to the action.
      Duration into = w.actions[i].at - (w.now - step);
      bool db_due =
          st.db == Obs::kUnhealthy && unhealthy_db + into >= std::chrono::seconds(s.window_db);
      bool cache_due = st.cache == Obs::kUnhealthy &&
                       unhealthy_cache + into >= std::chrono::seconds(s.window_cache);
      RC_ASSERT(db_due || cache_due);
    }
    // Track continuous unhealthy time; Unknown freezes, healthy resets.
    if (st.db == Obs::kUnhealthy) unhealthy_db += step;
    if (st.db == Obs::kHealthy) unhealthy_db = {};
    if (st.cache == Obs::kUnhealthy) unhealthy_cache += step;
    if (st.cache == Obs::kHealthy) unhealthy_cache = {};
  }
}

RC_GTEST_PROP(HealthProperty, RatioIsExact, ()) {
  int64_t desired = *rc::gen::inRange<int64_t>(1, 10000);
  int64_t ready = *rc::gen::inRange<int64_t>(0, desired + 1);
  int min = *rc::gen::inRange(1, 101);
  Dependency d;
  d.kind = "Deployment";
  d.name = "x";
  d.namespace_ = "ns";
  d.condition.min_ready_percent = min;
  json o = {{"metadata", {{"generation", 1}}},
            {"spec", {{"replicas", desired}}},
            {"status", {{"observedGeneration", 1}, {"readyReplicas", ready}}}};
  Health h = EvaluateHealth(d, Observation::Object(o), {});
  // Independent oracle in floating point, away from the boundary; exactly on it, healthy.
  double percent = 100.0 * static_cast<double>(ready) / static_cast<double>(desired);
  RC_PRE(std::abs(percent - min) > 1e-9 || ready * 100 == static_cast<int64_t>(min) * desired);
  bool expect = percent > min || ready * 100 == static_cast<int64_t>(min) * desired;
  RC_ASSERT((h.state == DepState::kHealthy) == expect);
}

}  // namespace
}  // namespace tether::deps
