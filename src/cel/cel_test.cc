#include "cel/cel.h"

#include <gtest/gtest.h>

#include <thread>

namespace tether::cel {
namespace {

// Evaluates `expr` with `resource` bound to `json` and returns the result as JSON, or the
// error message prefixed with "error: ".
std::string Eval(std::string_view expr, const nlohmann::json& resource = nlohmann::json::object(),
                 EvalOptions options = {}) {
  Env env;
  env.variables = {"resource", "this"};
  env.enable_now = true;
  auto program = Compile(expr, env);
  if (!program) return "compile error: " + program.error().message;
  Activation act;
  act.BindJson("resource", resource);
  auto v = (*program)->Evaluate(act, options);
  if (!v) return "error: " + v.error().message;
  return TypeName(*v) + " " + ToJson(*v).dump();
}

TEST(CelCore, Literals) {
  EXPECT_EQ(Eval("1"), "int 1");
  EXPECT_EQ(Eval("-9223372036854775808"), "int -9223372036854775808");
  EXPECT_EQ(Eval("1u"), "uint 1");
  EXPECT_EQ(Eval("0x1F"), "int 31");
  EXPECT_EQ(Eval("1.5"), "double 1.5");
  EXPECT_EQ(Eval("'a\\tb'"), "string \"a\\tb\"");
  EXPECT_EQ(Eval("r'a\\tb'"), "string \"a\\\\tb\"");
  EXPECT_EQ(Eval("'''x\ny'''"), "string \"x\\ny\"");
  EXPECT_EQ(Eval("b'abc'"), "bytes \"YWJj\"");
  EXPECT_EQ(Eval("'\\u00e9'"), "string \"\xc3\xa9\"");
  EXPECT_EQ(Eval("null"), "null_type null");
  EXPECT_EQ(Eval("[1, 'a', true]"), "list [1,\"a\",true]");
  EXPECT_EQ(Eval("{'a': 1}.a"), "int 1");
}

TEST(CelCore, ArithmeticAndOverflow) {
  EXPECT_EQ(Eval("1 + 2 * 3"), "int 7");
  EXPECT_EQ(Eval("7 / 2"), "int 3");
  EXPECT_EQ(Eval("-7 % 3"), "int -1");
  EXPECT_EQ(Eval("9223372036854775807 + 1"), "error: 1:21: integer overflow");
  EXPECT_EQ(Eval("1 / 0"), "error: 1:3: division by zero");
  EXPECT_EQ(Eval("1 % 0"), "error: 1:3: modulus by zero");
  EXPECT_EQ(Eval("0u - 1u"), "error: 1:4: integer overflow");
  EXPECT_EQ(Eval("1.0 / 0.0 > 1e308"), "bool true");
  EXPECT_EQ(Eval("'ab' + 'cd'"), "string \"abcd\"");
  EXPECT_EQ(Eval("[1] + [2]"), "list [1,2]");
  EXPECT_EQ(Eval("1 + 1u").substr(0, 6), "error:");
}

TEST(CelCore, HeterogeneousEqualityAndOrdering) {
  EXPECT_EQ(Eval("1 == 1u"), "bool true");
  EXPECT_EQ(Eval("1 == 1.0"), "bool true");
  EXPECT_EQ(Eval("1u < 2.5"), "bool true");
  EXPECT_EQ(Eval("-1 < 1u"), "bool true");
  EXPECT_EQ(Eval("1 == 'a'"), "bool false");
  EXPECT_EQ(Eval("[1, 2] == [1.0, 2u]"), "bool true");
  EXPECT_EQ(Eval("{'a': 1} == {'a': 1.0}"), "bool true");
  EXPECT_EQ(Eval("1 < 'a'").substr(0, 6), "error:");
  EXPECT_EQ(Eval("'a' < 'b'"), "bool true");
}

TEST(CelCore, LogicAbsorbsErrorsCommutatively) {
  EXPECT_EQ(Eval("false && 1 / 0 == 1"), "bool false");
  EXPECT_EQ(Eval("1 / 0 == 1 && false"), "bool false");
  EXPECT_EQ(Eval("true || 1 / 0 == 1"), "bool true");
  EXPECT_EQ(Eval("1 / 0 == 1 || true"), "bool true");
  EXPECT_EQ(Eval("1 / 0 == 1 || false"), "error: 1:3: division by zero");
  EXPECT_EQ(Eval("true ? 1 : 1 / 0"), "int 1");
}

TEST(CelCore, JsonFieldsAndErrorsWithPositions) {
  nlohmann::json obj = {{"status", {{"readyReplicas", 2}, {"ratio", 0.5}}},
                        {"spec", {{"items", {1, 2, 3}}}}};
  EXPECT_EQ(Eval("resource.status.readyReplicas >= 1", obj), "bool true");
  EXPECT_EQ(Eval("resource.status.ratio", obj), "double 0.5");
  EXPECT_EQ(Eval("resource.spec.items[1]", obj), "int 2");
  EXPECT_EQ(Eval("resource.status.missing", obj), "error: 1:16: no such key: missing");
  EXPECT_EQ(Eval("has(resource.status.missing)", obj), "bool false");
  EXPECT_EQ(Eval("has(resource.status.ratio)", obj), "bool true");
  EXPECT_EQ(Eval("resource.spec.items[5]", obj).substr(0, 27), "error: 1:20: index out of r");
  EXPECT_EQ(Eval("resource.spec", obj), "map {\"items\":[1,2,3]}");
}

TEST(CelCore, CompileErrors) {
  Env env;
  env.variables = {"resource"};
  auto p = Compile("resorce.status", env);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(p.error().message, "1:1: undeclared reference to 'resorce'");
  auto q = Compile("resource.a +", env);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("1:13"), std::string::npos) << q.error().message;
  auto n = Compile("now()", env);
  ASSERT_FALSE(n);
  auto bad_re = Compile("'a'.matches('(')", env);
  ASSERT_FALSE(bad_re);
  EXPECT_NE(bad_re.error().message.find("invalid regular expression"), std::string::npos);
}

TEST(CelCore, Macros) {
  nlohmann::json obj = {{"status",
                         {{"conditions",
                           {{{"type", "Ready"}, {"status", "True"}},
                            {{"type", "Progressing"}, {"status", "False"}}}}}}};
  EXPECT_EQ(
      Eval("resource.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')", obj),
      "bool true");
  EXPECT_EQ(Eval("resource.status.conditions.all(c, c.status == 'True')", obj), "bool false");
  EXPECT_EQ(Eval("resource.status.conditions.exists_one(c, c.type == 'Ready')", obj), "bool true");
  EXPECT_EQ(Eval("resource.status.conditions.map(c, c.type)", obj),
            "list [\"Ready\",\"Progressing\"]");
  EXPECT_EQ(Eval("[1, 2, 3, 4].filter(x, x % 2 == 0)"), "list [2,4]");
  EXPECT_EQ(Eval("[1, 2, 3].map(x, x > 1, x * 10)"), "list [20,30]");
  EXPECT_EQ(Eval("{'a': 1, 'b': 2}.all(k, k != 'c')"), "bool true");
  EXPECT_EQ(Eval("[1, 0].exists(x, 1 / x == 1)"), "bool true");
  EXPECT_EQ(Eval("[0, 1].exists(x, 1 / x == 1)"), "bool true");
  EXPECT_EQ(Eval("[0].exists(x, 1 / x == 1)"), "error: 1:17: division by zero");
  EXPECT_EQ(Eval("[1, 2].all(i, v, v > i)"), "bool true");
  EXPECT_EQ(Eval("[10, 20].transformList(i, v, v + i)"), "list [10,21]");
  EXPECT_EQ(Eval("{'a': 1}.transformMap(k, v, v * 2)"), "map {\"a\":2}");
  EXPECT_EQ(Eval("cel.bind(x, 2, x * x)"), "int 4");
}

TEST(CelCore, Conversions) {
  EXPECT_EQ(Eval("int('42')"), "int 42");
  EXPECT_EQ(Eval("int(2.9)"), "int 2");
  EXPECT_EQ(Eval("uint(-1)").substr(0, 12), "error: 1:5: ");
  EXPECT_EQ(Eval("double('1.5')"), "double 1.5");
  EXPECT_EQ(Eval("string(1.5)"), "string \"1.5\"");
  EXPECT_EQ(Eval("string(b'hi')"), "string \"hi\"");
  EXPECT_EQ(Eval("type(1) == int"), "bool true");
  EXPECT_EQ(Eval("type('a')"), "type \"string\"");
  EXPECT_EQ(Eval("bool('true')"), "bool true");
  EXPECT_EQ(Eval("dyn(1) == 1"), "bool true");
  EXPECT_EQ(Eval("size('h\xc3\xa9llo')"), "int 5");
}

TEST(CelCore, TimestampsAndDurations) {
  EXPECT_EQ(Eval("timestamp('2024-01-02T03:04:05Z') + duration('1h30m')"),
            "google.protobuf.Timestamp \"2024-01-02T04:34:05Z\"");
  EXPECT_EQ(Eval("duration('1.5s')"), "google.protobuf.Duration \"1.5s\"");
  EXPECT_EQ(Eval("timestamp('2024-01-02T03:04:05Z') - timestamp('2024-01-02T03:04:00Z')"),
            "google.protobuf.Duration \"5s\"");
  EXPECT_EQ(Eval("timestamp('2024-03-10T12:00:00Z').getHours('America/Los_Angeles')"), "int 5");
  EXPECT_EQ(Eval("timestamp('2024-01-10T12:00:00Z').getHours('America/Los_Angeles')"), "int 4");
  EXPECT_EQ(Eval("timestamp('2024-01-10T12:00:00Z').getHours('+05:30')"), "int 17");
  EXPECT_EQ(Eval("timestamp('2024-01-01T00:00:00Z').getDayOfWeek()"), "int 1");
  EXPECT_EQ(Eval("timestamp('2024-12-31T00:00:00Z').getDayOfYear()"), "int 365");
  EXPECT_EQ(Eval("timestamp('2024-02-29T00:00:00Z').getMonth()"), "int 1");
  EXPECT_EQ(Eval("duration('90m').getHours()"), "int 1");
  EXPECT_EQ(Eval("timestamp('bad')").substr(0, 36), "error: 1:10: cannot parse timestamp ");
  EvalOptions opts;
  ParseRfc3339("2026-06-15T03:00:00Z", &opts.now.emplace());
  EXPECT_EQ(Eval("now() > timestamp('2026-06-15T02:59:50Z') + duration('5s')", {}, opts),
            "bool true");
  EXPECT_EQ(Eval("now()").substr(0, 12), "error: 1:4: ");
}

TEST(CelApi, UsesNowAndSource) {
  Env env;
  env.enable_now = true;
  auto p = Compile("now() > timestamp('2020-01-01T00:00:00Z')", env);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE((*p)->UsesNow());
  EXPECT_EQ((*p)->source(), "now() > timestamp('2020-01-01T00:00:00Z')");
  auto q = Compile("1 == 1", env);
  ASSERT_TRUE(q);
  EXPECT_FALSE((*q)->UsesNow());
}

TEST(CelApi, EvaluateBoolRejectsNonBool) {
  Env env;
  env.variables = {"resource"};
  Activation act;
  act.Bind("resource", std::make_shared<const nlohmann::json>(nlohmann::json{{"a", 1}}));
  auto r = EvaluateBool("resource.a", env, act);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must evaluate to bool"), std::string::npos);
  auto ok = EvaluateBool("resource.a == 1", env, act);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);
}

TEST(CelApi, UnboundVariableIsAnErrorOnlyWhenUsed) {
  Env env;
  env.variables = {"resource", "this"};
  Activation act;
  act.BindJson("resource", nlohmann::json{{"a", 1}});
  EXPECT_TRUE(*EvaluateBool("resource.a == 1", env, act));
  auto r = EvaluateBool("this.a == 1", env, act);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no value bound for variable 'this'"), std::string::npos);
}

TEST(CelApi, ConcurrentEvaluationOfOneProgram) {
  Env env;
  env.variables = {"resource"};
  auto p = Compile("resource.items.filter(x, x % 2 == 0).size() == 50", env);
  ASSERT_TRUE(p);
  auto doc = std::make_shared<nlohmann::json>();
  for (int i = 0; i < 100; ++i) (*doc)["items"].push_back(i);
  std::shared_ptr<const nlohmann::json> cdoc = doc;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        Activation act;
        act.Bind("resource", cdoc);
        auto r = (*p)->EvaluateBool(act);
        if (r && *r) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST(CelLimits, CostBudgetStopsHugeWork) {
  Env env;
  auto p = Compile(
      "[1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, "
      "[1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, "
      "[1,2,3,4,5,6,7,8,9,10].map(e, [1,2,3,4,5,6,7,8,9,10].map(f, a+b+c+d+e+f))))))",
      env);
  ASSERT_TRUE(p) << p.error().message;
  auto r = (*p)->Evaluate(Activation{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(r.error().message.find("cost"), std::string::npos);
  EvalDetails details;
  EvalOptions small;
  small.cost_budget = 10;
  auto q = Compile("[1,2,3].all(x, x > 0)", env);
  ASSERT_TRUE(q);
  EXPECT_TRUE((*q)->Evaluate(Activation{}, {}, &details));
  EXPECT_GT(details.cost, 0);
  EXPECT_FALSE((*p)->Evaluate(Activation{}, small));
}

TEST(CelLimits, DeepNestingIsACompileError) {
  Env env;
  std::string deep(10000, '(');
  deep += "1";
  deep += std::string(10000, ')');
  auto p = Compile(deep, env);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("nesting"), std::string::npos);
  std::string chain = "1";
  for (int i = 0; i < 20000; ++i) chain += " + 1";
  auto q = Compile(chain, env);
  ASSERT_FALSE(q);
  // Operator chains nested inside parentheses must not multiply into a deep tree.
  std::string mixed;
  for (int level = 0; level < 80; ++level) {
    for (int i = 0; i < 200; ++i) mixed += "1 + ";
    mixed += "(";
  }
  mixed += "1" + std::string(80, ')');
  auto m = Compile(mixed, env);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("nesting"), std::string::npos);
  std::string members = "{'a': 1}";
  for (int i = 0; i < 5000; ++i) members += ".a";
  EXPECT_FALSE(Compile(members, env));
  std::string neg(5000, '-');
  neg += "1";
  EXPECT_FALSE(Compile(neg, env));
  std::string bangs(5000, '!');
  bangs += "true";
  EXPECT_FALSE(Compile(bangs, env));
}

}  // namespace
}  // namespace tether::cel

namespace tether::cel {
namespace {

TEST(CelApi, ContainerAndQualifiedNames) {
  Env env;
  env.variables = {"a.b.c", "x.y"};
  env.container = "x";
  Activation act;
  act.Bind("a.b.c", Value(int64_t{7}));
  act.Bind("x.y", Value(std::string("in container")));
  auto p = Compile("a.b.c + 1", env);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->Evaluate(act)->AsInt(), 8);
  auto q = Compile("y", env);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ((*q)->Evaluate(act)->AsString(), "in container");
  EXPECT_FALSE(Compile(".y", env));
}

}  // namespace
}  // namespace tether::cel
