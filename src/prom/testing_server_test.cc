#include "prom/testing_server.h"

#include <gtest/gtest.h>

#include "prom/client.h"

namespace tether::prom {
namespace {

TEST(PrometheusServer, ServesQueriesOverTheControlledTarget) {
  if (!PrometheusServer::Available()) {
    GTEST_SKIP() << "/usr/bin/prometheus not installed (Debian package `prometheus`)";
  }
  auto s = PrometheusServer::Start();
  ASSERT_TRUE(s) << s.error().ToString();
  (*s)->SetMetrics("queue_depth{queue=\"a\"} 3\nqueue_depth{queue=\"b\"} 5\n");
  ASSERT_TRUE((*s)->WaitForSamples("queue_depth", 2));

  auto c = Client::Create({.url = (*s)->url()});
  ASSERT_TRUE(c);
  auto v = (*c)->Query("queue_depth > 4");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->type, QueryResult::Type::kVector);
  ASSERT_EQ(v->SampleCount(), 1u);
  EXPECT_EQ(v->series[0].labels.at("queue"), "b");
  EXPECT_DOUBLE_EQ(v->series[0].points[0].value, 5);

  auto scalar = (*c)->Query("scalar(sum(queue_depth))");
  ASSERT_TRUE(scalar) << scalar.error().message;
  EXPECT_EQ(scalar->type, QueryResult::Type::kScalar);
  EXPECT_DOUBLE_EQ(scalar->scalar.value, 8);

  auto m = (*c)->Query("queue_depth[10s]");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, QueryResult::Type::kMatrix);

  // A syntax error comes back with Prometheus' own message.
  auto bad = (*c)->Query("sum(queue_depth");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_NE(bad.error().message.find("parse error"), std::string::npos) << bad.error().message;

  // A series that disappears from the target goes stale: the query becomes empty.
  (*s)->SetMetrics("queue_depth{queue=\"a\"} 3\n");
  EXPECT_TRUE((*s)->WaitForSamples("queue_depth > 4", 0));
}

}  // namespace
}  // namespace tether::prom
