#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace tether::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterFamilyRendersHelpTypeAndSortedSeries) {
  Registry r;
  auto& f =
      r.AddCounter("tether_reconcile_total", "Reconciles by result.", {"controller", "result"});
  f.WithLabels({"deps", "success"})->Inc();
  f.WithLabels({"deps", "success"})->Inc(2);
  f.WithLabels({"deps", "error"})->Inc();
  EXPECT_EQ(r.Serialize(),
            "# HELP tether_reconcile_total Reconciles by result.\n"
            "# TYPE tether_reconcile_total counter\n"
            "tether_reconcile_total{controller=\"deps\",result=\"error\"} 1\n"
            "tether_reconcile_total{controller=\"deps\",result=\"success\"} 3\n");
}

TEST(MetricsTest, CounterIgnoresNegativeIncrements) {
  Counter c;
  c.Inc(5);
  c.Inc(-3);
  c.Inc(std::nan(""));
  EXPECT_EQ(c.Value(), 5);
}

TEST(MetricsTest, UnlabelledGaugeAndCallback) {
  Registry r;
  auto& g = r.AddGauge("tether_leader", "1 while this replica leads.");
  g.WithLabels({})->Set(1);
  int calls = 0;
  auto& depth = r.AddGauge("queue_depth", "Depth.", {"name"});
  depth.WithLabels({"q"})->SetCallback([&] { return static_cast<double>(++calls * 10); });
  std::string text = r.Serialize();
  EXPECT_THAT(text, HasSubstr("\ntether_leader 1\n"));
  EXPECT_THAT(text, HasSubstr("queue_depth{name=\"q\"} 10\n"));
  EXPECT_THAT(r.Serialize(), HasSubstr("queue_depth{name=\"q\"} 20\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("d_seconds", "Durations.", {"verb"}, {0.1, 1});
  auto s = h.WithLabels({"GET"});
  s->Observe(0.05);
  s->Observe(0.1);  // le is inclusive
  s->Observe(0.5);
  s->Observe(7);
  EXPECT_EQ(r.Serialize(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{verb=\"GET\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{verb=\"GET\",le=\"1\"} 3\n"
            "d_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{verb=\"GET\"} 7.65\n"
            "d_seconds_count{verb=\"GET\"} 4\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  auto& f = r.AddGauge("g", "line1\nback\\slash \"quotes stay\"", {"path"});
  f.WithLabels({"a\"b\\c\nd"})->Set(-2.5);
  EXPECT_EQ(r.Serialize(),
            "# HELP g line1\\nback\\\\slash \"quotes stay\"\n"
            "# TYPE g gauge\n"
            "g{path=\"a\\\"b\\\\c\\nd\"} -2.5\n");
}

TEST(MetricsTest, SpecialValues) {
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(3), "3");
}

TEST(MetricsTest, RemoveDropsSeriesButHolderStaysUsable) {
  Registry r;
  auto& f = r.AddGauge("dep_state", "State.", {"namespace", "name"});
  auto held = f.WithLabels({"ns", "gone"});
  held->Set(1);
  f.WithLabels({"ns", "kept"})->Set(2);
  EXPECT_TRUE(f.Remove({"ns", "gone"}));
  EXPECT_FALSE(f.Remove({"ns", "gone"}));
  held->Set(3);  // no crash, not exported
  std::string text = r.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("gone")));
  EXPECT_THAT(text, HasSubstr("dep_state{namespace=\"ns\",name=\"kept\"} 2\n"));
  // Re-creating after removal starts from zero.
  EXPECT_EQ(f.WithLabels({"ns", "gone"})->Value(), 0);
}

TEST(MetricsTest, SameRegistrationSharesFamilyClashIsDetached) {
  Registry r;
  auto& a = r.AddCounter("c_total", "C.", {"name"});
  auto& b = r.AddCounter("c_total", "C.", {"name"});
  EXPECT_EQ(&a, &b);
  auto& clash = r.AddGauge("c_total", "C.", {"name"});
  clash.WithLabels({"x"})->Set(9);
  a.WithLabels({"x"})->Inc();
  std::string text = r.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE c_total counter\n"));
  EXPECT_THAT(text, Not(HasSubstr("gauge")));
  EXPECT_THAT(text, HasSubstr("c_total{name=\"x\"} 1\n"));
}

TEST(MetricsTest, MissingLabelValuesRenderEmpty) {
  Registry r;
  r.AddCounter("c_total", "C.", {"a", "b"}).WithLabels({"x"})->Inc();
  EXPECT_THAT(r.Serialize(), HasSubstr("c_total{a=\"x\",b=\"\"} 1\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& f = r.AddCounter("c_total", "C.", {"t"});
  auto& h = r.AddHistogram("h", "H.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        f.WithLabels({"x"})->Inc();
        h.WithLabels({})->Observe(0.5);
      }
    });
  }
  for (int i = 0; i < 20; ++i) (void)r.Serialize();
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.WithLabels({"x"})->Value(), 40000);
  EXPECT_EQ(h.WithLabels({})->Read().count, 40000u);
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1}));
}

TEST(MetricsTest, DefaultRegistryIsShared) {
  EXPECT_EQ(&Registry::Default(), &Registry::Default());
}

}  // namespace
}  // namespace tether::metrics
