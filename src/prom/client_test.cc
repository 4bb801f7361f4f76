#include "prom/client.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tether::prom {
namespace {

TEST(ParseQueryResponse, Vector) {
  auto r = ParseQueryResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[
          {"metric":{"__name__":"up","job":"db"},"value":[1700000000.5,"1"]},
          {"metric":{"job":"x"},"value":[1700000000.5,"NaN"]}]}})",
      200);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->type, QueryResult::Type::kVector);
  ASSERT_EQ(r->SampleCount(), 2u);
  EXPECT_EQ(r->series[0].labels.at("job"), "db");
  EXPECT_DOUBLE_EQ(r->series[0].points[0].value, 1.0);
  EXPECT_DOUBLE_EQ(r->series[0].points[0].timestamp, 1700000000.5);
  EXPECT_TRUE(std::isnan(r->series[1].points[0].value));
}

TEST(ParseQueryResponse, EmptyVectorHasNoSamples) {
  auto r =
      ParseQueryResponse(R"({"status":"success","data":{"resultType":"vector","result":[]}})", 200);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->SampleCount(), 0u);
}

TEST(ParseQueryResponse, MatrixScalarString) {
  auto m = ParseQueryResponse(
      R"({"status":"success","data":{"resultType":"matrix","result":[
          {"metric":{},"values":[[1,"1"],[2,"+Inf"]]}]}})",
      200);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, QueryResult::Type::kMatrix);
  ASSERT_EQ(m->series[0].points.size(), 2u);
  EXPECT_TRUE(std::isinf(m->series[0].points[1].value));

  auto s = ParseQueryResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[3,"4.5"]}})", 200);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, QueryResult::Type::kScalar);
  EXPECT_DOUBLE_EQ(s->scalar.value, 4.5);

  auto t = ParseQueryResponse(
      R"({"status":"success","data":{"resultType":"string","result":[3,"hello"]},"warnings":["w"]})",
      200);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->string_value, "hello");
  EXPECT_EQ(t->warnings, std::vector<std::string>{"w"});
}

TEST(ParseQueryResponse, PrometheusErrorCarriesItsMessage) {
  auto r = ParseQueryResponse(
      R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected }"})", 400);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("parse error: unexpected }"), std::string::npos);
  EXPECT_EQ(r.error().http_status, 400);

  auto u = ParseQueryResponse(R"({"status":"error","errorType":"unavailable","error":"x"})", 503);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ErrorCode::kUnavailable);
}

TEST(ParseQueryResponse, MalformedBodiesAreErrorsNotCrashes) {
  const char* bad[] = {
      "",
      "<html>502 Bad Gateway</html>",
      "[]",
      R"({"status":"success"})",
      R"({"status":"success","data":[]})",
      R"({"status":"success","data":{"resultType":"vector","result":{}}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"value":"x"}]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"abc"]}]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"values":5}]}})",
      R"({"status":"success","data":{"resultType":"scalar","result":["x","1"]}})",
      R"({"status":"success","data":{"resultType":"string","result":[1,2]}})",
      R"({"status":"success","data":{"resultType":"histogram","result":[]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[7]}})",
  };
  for (const char* body : bad) {
    auto r = ParseQueryResponse(body, 200);
    EXPECT_FALSE(r) << body;
    if (!r) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

TEST(Client, RejectsNonHttpUrl) {
  auto c = Client::Create({.url = "ftp://x"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("http"), std::string::npos);
}

TEST(Client, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto c = Client::Create({.url = "http://127.0.0.1:1", .timeout = std::chrono::seconds(5)});
  ASSERT_TRUE(c);
  auto r = (*c)->Query("up");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace tether::prom
