// Tests of the extension and Kubernetes libraries, including their error cases.
#include <gtest/gtest.h>

#include <chrono>

#include "cel/cel.h"

namespace tether::cel {
namespace {

// "<type> <json>" for a result, "error: <message>" for an evaluation error,
// "compile error: <message>" otherwise.
std::string Eval(std::string_view expr) {
  Env env;
  auto program = Compile(expr, env);
  if (!program) return "compile error: " + program.error().message;
  auto v = (*program)->Evaluate(Activation{});
  if (!v) return "error: " + v.error().message;
  return TypeName(*v) + " " + ToJson(*v).dump();
}

bool IsError(const std::string& r) { return r.rfind("error: ", 0) == 0; }

struct Case {
  const char* expr;
  const char* want;  // exact result, or "error" for any evaluation error
};

void Check(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    std::string got = Eval(c.expr);
    if (std::string(c.want) == "error") {
      EXPECT_TRUE(IsError(got)) << c.expr << " => " << got;
    } else {
      EXPECT_EQ(got, c.want) << c.expr;
    }
  }
}

TEST(CelStrings, Functions) {
  Check({
      {"'hello'.charAt(1)", "string \"e\""},
      {"'hello'.charAt(5)", "string \"\""},
      {"'hello'.charAt(6)", "error"},
      {"'h\xc3\xa9llo'.indexOf('l')", "int 2"},
      {"'hello'.indexOf('l', 3)", "int 3"},
      {"'hello'.indexOf('z')", "int -1"},
      {"'hello'.indexOf('l', 10)", "error"},
      {"'hello'.lastIndexOf('l')", "int 3"},
      {"'Hello'.lowerAscii()", "string \"hello\""},
      {"'Hello'.upperAscii()", "string \"HELLO\""},
      {"'a.b.c'.replace('.', '/')", "string \"a/b/c\""},
      {"'a.b.c'.replace('.', '/', 1)", "string \"a/b.c\""},
      {"'a,b,c'.split(',')", "list [\"a\",\"b\",\"c\"]"},
      {"'a,b,c'.split(',', 2)", "list [\"a\",\"b,c\"]"},
      {"'hello'.substring(1, 3)", "string \"el\""},
      {"'hello'.substring(3, 1)", "error"},
      {"'hello'.substring(9)", "error"},
      {"'  x \\t'.trim()", "string \"x\""},
      {"['a', 'b'].join('-')", "string \"a-b\""},
      {"['a', 'b'].join()", "string \"ab\""},
      {"[1, 'b'].join()", "error"},
      {"strings.quote('a\"b\\n')", "string \"\\\"a\\\\\\\"b\\\\n\\\"\""},
      {"'abc'.reverse()", "string \"cba\""},
      {"'%s has %d items costing %.2f'.format(['cart', 3, 1.5])",
       "string \"cart has 3 items costing 1.50\""},
      {"'%x %X %o %b'.format([255, 255, 8, 5])", "string \"ff FF 10 101\""},
      {"'%d'.format(['x'])", "error"},
      {"'%s %s'.format([1])", "error"},
  });
}

TEST(CelRegex, FindAndMatches) {
  Check({
      {"'abc123def456'.find('[0-9]+')", "string \"123\""},
      {"'abc'.find('[0-9]+')", "string \"\""},
      {"'abc123def456'.findAll('[0-9]+')", "list [\"123\",\"456\"]"},
      {"'abc123def456'.findAll('[0-9]+', 1)", "list [\"123\"]"},
      {"'abc'.find('(')", "error"},
      {"'foobar'.matches('^foo')", "bool true"},
      {"matches('foobar', 'bar$')", "bool true"},
      {"'x'.matches('a++')",
       "compile error: 1:13: invalid regular expression 'a++': bad repetition operator: ++"},
  });
}

TEST(CelLists, Functions) {
  Check({
      {"[1, 2, 3].isSorted()", "bool true"},
      {"[3, 1].isSorted()", "bool false"},
      {"[1, 2, 3].sum()", "int 6"},
      {"[1.5, 2.5].sum()", "double 4.0"},
      {"[].sum()", "int 0"},
      {"[9223372036854775807, 1].sum()", "error"},
      {"[3, 1, 2].min()", "int 1"},
      {"[3, 1, 2].max()", "int 3"},
      {"[].min()", "error"},
      {"[1, 'a'].max()", "error"},
      {"[1, 2, 3, 2].indexOf(2)", "int 1"},
      {"[1, 2, 3, 2].lastIndexOf(2)", "int 3"},
      {"[1, 2, 3, 4].slice(1, 3)", "list [2,3]"},
      {"[1, 2].slice(1, 5)", "error"},
      {"[[1, 2], [3, [4]]].flatten()", "list [1,2,3,[4]]"},
      {"[[1, 2], [3, [4]]].flatten(2)", "list [1,2,3,4]"},
      {"[1, 2, 1, 3].distinct()", "list [1,2,3]"},
      {"[3, 1, 2].sort()", "list [1,2,3]"},
      {"['b', 'a'].sort()", "list [\"a\",\"b\"]"},
      {"[1, 2].reverse()", "list [2,1]"},
      {"[1, 2].first().value()", "int 1"},
      {"[].last().hasValue()", "bool false"},
      {"lists.range(3)", "list [0,1,2]"},
      {"sets.contains([1, 2, 3], [2, 3])", "bool true"},
      {"sets.contains([1, 2], [4])", "bool false"},
      {"sets.equivalent([1, 2], [2, 1, 1])", "bool true"},
      {"sets.intersects([1, 2], [2, 5])", "bool true"},
      {"sets.intersects([1], [5])", "bool false"},
  });
}

TEST(CelQuantity, Functions) {
  Check({
      {"quantity('1Gi')", "kubernetes.Quantity \"1Gi\""},
      {"quantity('1.5Gi')", "kubernetes.Quantity \"1536Mi\""},
      {"quantity('1000')", "kubernetes.Quantity \"1k\""},
      {"quantity('0.5')", "kubernetes.Quantity \"500m\""},
      {"quantity('100m')", "kubernetes.Quantity \"100m\""},
      {"quantity('1e3')", "kubernetes.Quantity \"1e3\""},
      {"quantity('512Mi').compareTo(quantity('1Gi'))", "int -1"},
      {"quantity('1Gi').compareTo(quantity('1024Mi'))", "int 0"},
      {"quantity('1Gi') == quantity('1024Mi')", "bool true"},
      {"quantity('2').isGreaterThan(quantity('1500m'))", "bool true"},
      {"quantity('2').isLessThan(quantity('1500m'))", "bool false"},
      {"quantity('1.5').isInteger()", "bool false"},
      {"quantity('2k').asInteger()", "int 2000"},
      {"quantity('1.5').asInteger()", "error"},
      {"quantity('1.5').asApproximateFloat()", "double 1.5"},
      {"quantity('-1').sign()", "int -1"},
      {"quantity('1').add(quantity('500m'))", "kubernetes.Quantity \"1500m\""},
      {"quantity('1').add(2)", "kubernetes.Quantity \"3\""},
      {"quantity('1').sub(quantity('500m'))", "kubernetes.Quantity \"500m\""},
      {"isQuantity('1Gi')", "bool true"},
      {"isQuantity('1Gb')", "bool false"},
      {"quantity('abc')", "error"},
  });
}

TEST(CelSemver, Functions) {
  Check({
      {"semver('1.2.3').major()", "int 1"},
      {"semver('1.2.3').minor()", "int 2"},
      {"semver('1.2.3').patch()", "int 3"},
      {"semver('1.2.3').isLessThan(semver('1.10.0'))", "bool true"},
      {"semver('1.0.0-alpha').compareTo(semver('1.0.0'))", "int -1"},
      {"semver('1.0.0-alpha.1').compareTo(semver('1.0.0-alpha.beta'))", "int -1"},
      {"semver('2.0.0').isGreaterThan(semver('1.9.9'))", "bool true"},
      {"semver('1.2.3') == semver('1.2.3')", "bool true"},
      {"isSemver('1.2')", "bool false"},
      {"isSemver('v1.2', true)", "bool true"},
      {"semver('v1.2', true)", "kubernetes.Semver \"1.2.0\""},
      {"semver('01.2.3')", "error"},
  });
}

TEST(CelNetwork, IpAndCidr) {
  Check({
      {"ip('192.168.0.1').family()", "int 4"},
      {"ip('::1').family()", "int 6"},
      {"ip('::1').isLoopback()", "bool true"},
      {"ip('127.0.0.1').isLoopback()", "bool true"},
      {"ip('0.0.0.0').isUnspecified()", "bool true"},
      {"ip('169.254.1.1').isLinkLocalUnicast()", "bool true"},
      {"ip('224.0.0.1').isLinkLocalMulticast()", "bool true"},
      {"ip('8.8.8.8').isGlobalUnicast()", "bool true"},
      {"string(ip('2001:db8:0:0:0:0:0:1'))", "string \"2001:db8::1\""},
      {"ip.isCanonical('2001:db8::1')", "bool true"},
      {"ip.isCanonical('2001:DB8::1')", "bool false"},
      {"isIP('1.2.3')", "bool false"},
      {"isIP('01.2.3.4')", "bool false"},
      {"ip('::ffff:1.2.3.4')", "error"},
      {"ip('nope')", "error"},
      {"cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))", "bool true"},
      {"cidr('10.0.0.0/8').containsIP('11.1.2.3')", "bool false"},
      {"cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')", "bool true"},
      {"cidr('10.1.0.0/16').containsCIDR(cidr('10.0.0.0/8'))", "bool false"},
      {"cidr('10.1.2.3/8').masked()", "net.CIDR \"10.0.0.0/8\""},
      {"cidr('10.1.2.3/8').ip()", "net.IP \"10.1.2.3\""},
      {"cidr('10.0.0.0/8').prefixLength()", "int 8"},
      {"isCIDR('10.0.0.0/33')", "bool false"},
      {"cidr('10.0.0.0')", "error"},
  });
}

TEST(CelUrl, Functions) {
  Check({
      {"url('https://example.com:8080/a/b?x=1&y=2&x=3').getScheme()", "string \"https\""},
      {"url('https://example.com:8080/a/b').getHost()", "string \"example.com:8080\""},
      {"url('https://example.com:8080/a/b').getHostname()", "string \"example.com\""},
      {"url('https://example.com:8080/a/b').getPort()", "string \"8080\""},
      {"url('https://[::1]:80/').getHostname()", "string \"::1\""},
      {"url('https://example.com/a%20b').getEscapedPath()", "string \"/a%20b\""},
      {"url('https://e.com/?x=1&y=2&x=3').getQuery()", "map {\"x\":[\"1\",\"3\"],\"y\":[\"2\"]}"},
      {"url('/just/a/path').getScheme()", "string \"\""},
      {"isURL('https://example.com')", "bool true"},
      {"isURL('not a url')", "bool false"},
      {"url('example.com')", "error"},
  });
}

TEST(CelMath, Functions) {
  Check({
      {"math.greatest(1, 2.5, 2u)", "double 2.5"},
      {"math.least([3, 1, 2])", "int 1"},
      {"math.greatest([])", "error"},
      {"math.ceil(1.2)", "double 2.0"},
      {"math.floor(-1.2)", "double -2.0"},
      {"math.round(2.5)", "double 3.0"},
      {"math.trunc(-2.7)", "double -2.0"},
      {"math.abs(-5)", "int 5"},
      {"math.abs(-9223372036854775807 - 1)", "error"},
      {"math.sign(-3.5)", "double -1.0"},
      {"math.isNaN(0.0 / 0.0)", "bool true"},
      {"math.isInf(1.0 / 0.0)", "bool true"},
      {"math.bitAnd(6, 3)", "int 2"},
      {"math.bitOr(6u, 3u)", "uint 7"},
      {"math.bitXor(6, 3)", "int 5"},
      {"math.bitNot(0)", "int -1"},
      {"math.bitShiftLeft(1, 4)", "int 16"},
      {"math.bitShiftRight(-16, 2)", "int 4611686018427387900"},
      {"math.bitShiftLeft(1, -1)", "error"},
      {"math.sqrt(16)", "double 4.0"},
  });
}

TEST(CelOptionals, Functions) {
  Check({
      {"optional.of(1).value()", "int 1"},
      {"optional.none().hasValue()", "bool false"},
      {"optional.none().value()", "error"},
      {"optional.none().orValue(5)", "int 5"},
      {"optional.none().or(optional.of(2)).value()", "int 2"},
      {"optional.ofNonZeroValue('').hasValue()", "bool false"},
      {"{'a': {'b': 1}}.?a.?b.orValue(0)", "int 1"},
      {"{'a': {'b': 1}}.?x.?b.orValue(0)", "int 0"},
      {"{'a': 1}[?'a'].value()", "int 1"},
      {"[1, 2][?5].hasValue()", "bool false"},
      {"[?optional.of(1), ?optional.none(), 3]", "list [1,3]"},
      {"{?'a': optional.of(1), ?'b': optional.none()}", "map {\"a\":1}"},
      {"optional.of(2).optMap(x, x * 2).value()", "int 4"},
      {"optional.of(2).optFlatMap(x, optional.none()).hasValue()", "bool false"},
  });
}

TEST(CelEncoders, Base64) {
  Check({
      {"base64.encode(b'hello')", "string \"aGVsbG8=\""},
      {"base64.decode('aGVsbG8=')", "bytes \"aGVsbG8=\""},
      {"base64.decode('aGVsbG8')", "bytes \"aGVsbG8=\""},
      {"base64.decode('!!')", "error"},
  });
}

TEST(CelAdversarial, EndQuicklyWithAnError) {
  // Exponential string growth through join and concatenation hits the cost budget.
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(
      IsError(Eval("lists.range(1000).map(i, lists.range(1000).map(j, 'xxxxxxxxxx')."
                   "join('')).join('')")));
  EXPECT_TRUE(IsError(
      Eval("cel.bind(a, 'xxxxxxxxxxxxxxxx', cel.bind(b, a + a + a + a + a + a + a + a, "
           "cel.bind(c, b + b + b + b + b + b + b + b, cel.bind(d, c + c + c + c + c + c + c + c, "
           "cel.bind(e, d + d + d + d + d + d + d + d, cel.bind(f, e + e + e + e + e + e + e + e, "
           "cel.bind(g, f + f + f + f + f + f + f + f, g + g + g + g + g + g + g + g)))))))")));
  EXPECT_TRUE(IsError(Eval("lists.range(100000000).size()")));
  // Nested comprehensions with exponential work.
  EXPECT_TRUE(
      IsError(Eval("lists.range(50).all(a, lists.range(50).all(b, lists.range(50).all(c, "
                   "lists.range(50).all(d, a + b + c + d >= 0))))")));
  // Pathological regexes are linear-time in RE2.
  std::string big = "'" + std::string(5000, 'a') + "'.matches('(a+)+$')";
  EXPECT_EQ(Eval(big), "bool true");
  std::string backref = "'aa'.matches('(a)\\\\1')";
  EXPECT_TRUE(Eval(backref).rfind("compile error", 0) == 0) << Eval(backref);
  // Everything above must have finished promptly; a generous bound catches hangs only.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace tether::cel
