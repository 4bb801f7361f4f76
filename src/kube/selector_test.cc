#include "kube/selector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#ifdef TETHER_HAVE_RAPIDCHECK
#include <rapidcheck/gtest.h>
#endif

namespace tether::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kNameRegexMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kValueRegexMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

std::string ParseError(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  if (r) return "<parsed: " + r->String() + ">";
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().reason, "BadRequest");
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  return r.error().message;
}

LabelSelector MustParse(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  EXPECT_TRUE(r.has_value()) << s << ": " << (r ? "" : r.error().message);
  return r ? *r : LabelSelector::Nothing();
}

// ------------------------------------------------------------------------- validation --

TEST(Validation, QualifiedNames) {
  EXPECT_TRUE(IsQualifiedName("app").empty());
  EXPECT_TRUE(IsQualifiedName("app.kubernetes.io/name").empty());
  EXPECT_TRUE(IsQualifiedName("A_b-c.D").empty());
  EXPECT_TRUE(IsQualifiedName(std::string(63, 'a')).empty());
  EXPECT_THAT(IsQualifiedName(std::string(64, 'a')),
              ElementsAre("name part must be no more than 63 characters"));
  EXPECT_THAT(IsQualifiedName(""), ElementsAre("name part must be non-empty", kNameRegexMsg));
  EXPECT_THAT(IsQualifiedName("-a"), ElementsAre(kNameRegexMsg));
  EXPECT_THAT(IsQualifiedName("/a"), ElementsAre("prefix part must be non-empty"));
  EXPECT_THAT(
      IsQualifiedName("Example.com/a"),
      ElementsAre("prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                  "alphanumeric characters, '-' or '.', and must start and end with an "
                  "alphanumeric character (e.g. 'example.com', regex used for validation "
                  "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
  EXPECT_THAT(IsQualifiedName("a/b/c"),
              ElementsAre(HasSubstr("a qualified name must consist of alphanumeric characters")));
  EXPECT_THAT(
      IsQualifiedName("a/b/c")[0],
      HasSubstr("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
}

TEST(Validation, Dns1123Subdomain) {
  EXPECT_TRUE(IsDNS1123Subdomain("example.com").empty());
  EXPECT_TRUE(IsDNS1123Subdomain("a-b.c").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("a..b").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("a.").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("-a").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("a_b").empty());
  std::string long_name(254, 'a');
  EXPECT_EQ(IsDNS1123Subdomain(long_name).at(0), "must be no more than 253 characters");
}

TEST(Validation, LabelValues) {
  EXPECT_TRUE(IsValidLabelValue("").empty());
  EXPECT_TRUE(IsValidLabelValue("a").empty());
  EXPECT_TRUE(IsValidLabelValue("my_value-1.2").empty());
  EXPECT_THAT(IsValidLabelValue("bad value"), ElementsAre(kValueRegexMsg));
  EXPECT_THAT(IsValidLabelValue(std::string(64, 'x')),
              ElementsAre("must be no more than 63 characters"));
  EXPECT_THAT(IsValidLabelValue("_x"), ElementsAre(kValueRegexMsg));
  // Go's $ does not match before a trailing newline.
  EXPECT_FALSE(IsValidLabelValue("a\n").empty());
}

// --------------------------------------------------------------------- label selectors --

TEST(LabelSelectorParse, TranscriptInvalidSyntax) {
  // 01-errors/40: GET ...configmaps?labelSelector=app in (a
  EXPECT_EQ(ParseError("app in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
}

TEST(LabelSelectorParse, SyntaxErrorsMatchKubeApiserver) {
  EXPECT_EQ(ParseError("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(ParseError("a=b c"), "found 'c', expected: ',' or 'end of string'");
  EXPECT_EQ(ParseError("a=b,"), "found '', expected: identifier after ','");
  EXPECT_EQ(ParseError("a=b,,c"), "found ',', expected: identifier after ','");
  EXPECT_EQ(ParseError(",a"), "found ',', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(ParseError("=a"), "found '=', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(ParseError("!"), "unable to parse requirement: found '', expected: identifier");
  EXPECT_EQ(ParseError("!=a"), "found '!=', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(ParseError("a in b"), "unable to parse requirement: found 'b' expected: '('");
  EXPECT_EQ(ParseError("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'");
  EXPECT_EQ(ParseError("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier");
  EXPECT_EQ(ParseError("a in (b,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier");
  EXPECT_EQ(ParseError("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
  EXPECT_EQ(ParseError("a (b)"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(ParseError("!a=b"), "found '=', expected: ',' or 'end of string'");
  EXPECT_EQ(ParseError("a=>b"), "unable to parse requirement: found '>', expected: identifier");
  EXPECT_EQ(ParseError("a=!"), "unable to parse requirement: found '!', expected: identifier");
  EXPECT_EQ(ParseError("a<>b"), "unable to parse requirement: found '>', expected: identifier");
  EXPECT_EQ(ParseError("a!!b"),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt");
}

TEST(LabelSelectorParse, InvalidKeysAndValues) {
  EXPECT_EQ(
      ParseError("app:monolith"),
      "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": " + kNameRegexMsg);
  EXPECT_EQ(
      ParseError("a=bad_"),
      "unable to parse requirement: values[0][a]: Invalid value: \"bad_\": " + kValueRegexMsg);
  EXPECT_EQ(ParseError("a in (ok,-x,_y)"),
            "unable to parse requirement: [values[0][a]: Invalid value: \"-x\": " + kValueRegexMsg +
                ", values[1][a]: Invalid value: \"_y\": " + kValueRegexMsg + "]");
  EXPECT_EQ(ParseError("a=" + std::string(64, 'v')),
            "unable to parse requirement: values[0][a]: Invalid value: \"" + std::string(64, 'v') +
                "\": must be no more than 63 characters");
  EXPECT_EQ(ParseError("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' "
            "operators, the value must be an integer");
}

TEST(LabelSelectorParse, AllOperators) {
  auto s = MustParse("x in (b, a ,a), y notin (c), z, !w, v=1, u==2, t!=3, r>4, q<5");
  ASSERT_EQ(s.requirements().size(), 9u);
  // Sorted by key.
  EXPECT_EQ(s.String(), "q<5,r>4,t!=3,u==2,v=1,!w,x in (a,b),y notin (c),z");
  EXPECT_EQ(s.requirements()[6].values, (std::vector<std::string>{"a", "b"}));
}

TEST(LabelSelectorParse, EmptyValuesAndWhitespace) {
  EXPECT_EQ(MustParse("").String(), "");
  EXPECT_TRUE(MustParse("   ").Empty());
  EXPECT_EQ(MustParse("a=").String(), "a=");
  EXPECT_EQ(MustParse("a=,b!=").String(), "a=,b!=");
  EXPECT_EQ(MustParse("a in ()").String(), "a in ()");
  EXPECT_EQ(MustParse("a in (,x)").String(), "a in (,x)");
  EXPECT_EQ(MustParse("a in (x,)").String(), "a in (,x)");
  EXPECT_EQ(MustParse("a in (x,,y)").String(), "a in (,x,y)");
  EXPECT_EQ(MustParse("\ta\n=\rb ").String(), "a=b");
  // "in"/"notin" are plain identifiers where a key or a value is expected.
  EXPECT_EQ(MustParse("in=notin").String(), "in=notin");
  EXPECT_EQ(MustParse("x in (in,notin)").String(), "x in (in,notin)");
  // Requirements with the same key are all kept, in input order.
  EXPECT_EQ(MustParse("a!=2,a!=1").String(), "a!=2,a!=1");
}

TEST(LabelSelectorMatch, TranscriptSelectors) {
  // 02-list-paging/10 and 11 select from cm-1..cm-7 labelled app/tier.
  Labels a{{"app", "demo"}, {"tier", "a"}};
  Labels b{{"app", "demo"}, {"tier", "b"}};
  Labels b_missing{{"app", "demo"}, {"tier", "b"}, {"missing", "x"}};
  EXPECT_TRUE(MustParse("app=demo,tier=a").Matches(a));
  EXPECT_FALSE(MustParse("app=demo,tier=a").Matches(b));
  EXPECT_TRUE(MustParse("tier in (b),!missing").Matches(b));
  EXPECT_FALSE(MustParse("tier in (b),!missing").Matches(b_missing));
  EXPECT_FALSE(MustParse("app=nope").Matches(a));
}

TEST(LabelSelectorMatch, Semantics) {
  Labels l{{"a", "1"}, {"b", "x"}, {"n", "10"}, {"e", ""}};
  auto m = [&](std::string_view s) { return MustParse(s).Matches(l); };
  EXPECT_TRUE(m(""));
  EXPECT_TRUE(m("a"));
  EXPECT_FALSE(m("zz"));
  EXPECT_TRUE(m("!zz"));
  EXPECT_FALSE(m("!a"));
  EXPECT_TRUE(m("a=1"));
  EXPECT_TRUE(m("a==1"));
  EXPECT_FALSE(m("a=2"));
  EXPECT_TRUE(m("a!=2"));
  EXPECT_TRUE(m("zz!=2"));  // missing label: != matches
  EXPECT_FALSE(m("zz=2"));
  EXPECT_TRUE(m("zz notin (1)"));
  EXPECT_FALSE(m("zz in (1)"));
  EXPECT_TRUE(m("b in (x,y)"));
  EXPECT_FALSE(m("b notin (x,y)"));
  EXPECT_TRUE(m("e="));
  EXPECT_TRUE(m("e in ()"));
  EXPECT_FALSE(m("zz="));  // "=" with empty value still requires the label
  EXPECT_TRUE(m("n>9"));
  EXPECT_FALSE(m("n>10"));
  EXPECT_TRUE(m("n<11"));
  EXPECT_FALSE(m("b>1"));  // non-integer label value never matches gt/lt
  EXPECT_FALSE(m("zz<1"));
  EXPECT_TRUE(m("a=1,b=x"));
  EXPECT_FALSE(m("a=1,b=y"));
}

TEST(LabelSelectorMatch, JsonLabels) {
  auto s = MustParse("app=web,!canary");
  EXPECT_TRUE(s.MatchesJson(Json{{"app", "web"}}));
  EXPECT_FALSE(s.MatchesJson(Json{{"app", "web"}, {"canary", "true"}}));
  EXPECT_FALSE(s.MatchesJson(Json()));
  EXPECT_TRUE(MustParse("!x").MatchesJson(Json()));
  Json pod = {{"metadata", {{"name", "p"}, {"labels", {{"app", "web"}}}}}};
  EXPECT_TRUE(s.MatchesObject(pod));
  EXPECT_FALSE(s.MatchesObject(Json{{"metadata", {{"name", "p"}}}}));
  EXPECT_TRUE(LabelSelector::Everything().MatchesObject(Json::object()));
  EXPECT_FALSE(LabelSelector::Nothing().MatchesObject(pod));
  EXPECT_FALSE(LabelSelector::Nothing().Matches({}));
}

TEST(LabelSelectorJson, FromStructured) {
  auto s = LabelSelector::FromJson(Json::parse(R"({
    "matchLabels": {"app": "web", "tier": "front"},
    "matchExpressions": [
      {"key": "env", "operator": "In", "values": ["prod", "staging"]},
      {"key": "canary", "operator": "DoesNotExist"},
      {"key": "zone", "operator": "NotIn", "values": ["b"]},
      {"key": "team", "operator": "Exists"}
    ]})"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->String(), "app=web,!canary,env in (prod,staging),team,tier=front,zone notin (b)");
  EXPECT_TRUE(s->Matches({{"app", "web"}, {"tier", "front"}, {"env", "prod"}, {"team", "t"}}));
  EXPECT_FALSE(s->Matches({{"app", "web"}, {"tier", "front"}, {"env", "dev"}, {"team", "t"}}));

  auto back = s->ToJson();
  ASSERT_TRUE(back);
  auto again = LabelSelector::FromJson(*back);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->String(), s->String());

  auto nothing = LabelSelector::FromJson(Json());
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->IsNothing());
  auto everything = LabelSelector::FromJson(Json::object());
  ASSERT_TRUE(everything);
  EXPECT_TRUE(everything->Empty());
  EXPECT_TRUE(everything->Matches({{"x", "y"}}));
}

TEST(LabelSelectorJson, StructuredErrors) {
  auto bad_op = LabelSelector::FromJson(
      Json::parse(R"({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})"));
  ASSERT_FALSE(bad_op);
  EXPECT_EQ(bad_op.error().message, "\"Gt\" is not a valid label selector operator");

  auto empty_in = LabelSelector::FromJson(
      Json::parse(R"({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})"));
  ASSERT_FALSE(empty_in);
  EXPECT_EQ(empty_in.error().message,
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be "
            "empty");

  auto exists_values = LabelSelector::FromJson(Json::parse(
      R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})"));
  ASSERT_FALSE(exists_values);
  EXPECT_EQ(exists_values.error().message,
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does "
            "not exist");

  auto bad_key = LabelSelector::FromJson(Json::parse(R"({"matchLabels": {"a b": "x"}})"));
  ASSERT_FALSE(bad_key);
  EXPECT_EQ(bad_key.error().message, "key: Invalid value: \"a b\": " + kNameRegexMsg);

  EXPECT_FALSE(LabelSelector::FromJson(Json::parse(R"({"matchLabels": {"a": 1}})")));
  EXPECT_FALSE(LabelSelector::FromJson(Json::parse(R"({"matchExpressions": {}})")));
  EXPECT_FALSE(LabelSelector::FromJson(Json::array()));
}

TEST(LabelSelectorJson, ToJsonShapes) {
  auto j = MustParse("a=1,b!=2,c,!d").ToJson();
  ASSERT_TRUE(j);
  EXPECT_EQ(*j, Json::parse(R"({
    "matchLabels": {"a": "1"},
    "matchExpressions": [
      {"key": "b", "operator": "NotIn", "values": ["2"]},
      {"key": "c", "operator": "Exists"},
      {"key": "d", "operator": "DoesNotExist"}]})"));
  auto gt = MustParse("a>1").ToJson();
  ASSERT_FALSE(gt);
  EXPECT_EQ(gt.error().message, "\"gt\" isn't supported in label selectors");
  EXPECT_FALSE(LabelSelector::Nothing().ToJson());
}

TEST(LabelSelectorFromLabels, ExactMatch) {
  auto s = LabelSelector::FromLabels({{"app", "web"}, {"tier", "x"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->String(), "app=web,tier=x");
  EXPECT_FALSE(LabelSelector::FromLabels({{"app", "bad value"}}));
}

// --------------------------------------------------------------------- field selectors --

FieldSelector MustParseField(std::string_view s) {
  auto r = FieldSelector::Parse(s);
  EXPECT_TRUE(r.has_value()) << s << ": " << (r ? "" : r.error().message);
  return r ? *r : FieldSelector();
}

TEST(FieldSelectorParse, Basics) {
  EXPECT_TRUE(MustParseField("").Empty());
  auto s = MustParseField("status.phase=Pending,spec.nodeName!=");
  ASSERT_EQ(s.requirements().size(), 2u);
  // Terms are sorted, as fields.ParseSelector does.
  EXPECT_EQ(s.String(), "spec.nodeName!=,status.phase=Pending");
  EXPECT_EQ(MustParseField("a==b").String(), "a=b");
  EXPECT_EQ(MustParseField("a=b,,c=d").String(), "a=b,c=d");
  EXPECT_EQ(MustParseField("a=b").RequiresExactMatch("a"), "b");
  EXPECT_EQ(MustParseField("a!=b").RequiresExactMatch("a"), std::nullopt);
}

TEST(FieldSelectorParse, EqualityIgnoresTermOrder) {
  // Found by fuzzing: "==" renders as "=", which changes kube's raw-term sort order, so a
  // re-parsed selector lists the same terms in another order.
  auto first = MustParseField("==\x7f*,=b");
  auto again = MustParseField(first.String());
  EXPECT_EQ(first, again);
  EXPECT_EQ(MustParseField("a=1,b=2"), MustParseField("b=2,a=1"));
  EXPECT_FALSE(MustParseField("a=1") == MustParseField("a!=1"));
}

TEST(FieldSelectorParse, Escaping) {
  auto s = MustParseField(R"(a=x\,y\=z\\w,b=c)");
  ASSERT_EQ(s.requirements().size(), 2u);
  EXPECT_EQ(s.requirements()[0].value, R"(x,y=z\w)");
  EXPECT_EQ(s.String(), R"(a=x\,y\=z\\w,b=c)");
  EXPECT_EQ(EscapeFieldValue("a,b=c\\"), R"(a\,b\=c\\)");
  EXPECT_EQ(*UnescapeFieldValue(R"(a\,b\=c\\)"), "a,b=c\\");
}

TEST(FieldSelectorParse, Errors) {
  auto err = [](std::string_view s) {
    auto r = FieldSelector::Parse(s);
    if (r) return std::string("<parsed>");
    EXPECT_EQ(r.error().http_status, 400);
    return r.error().message;
  };
  EXPECT_EQ(err("abc"), "invalid selector: 'abc'; can't understand 'abc'");
  EXPECT_EQ(err("a=b,zzz"), "invalid selector: 'a=b,zzz'; can't understand 'zzz'");
  EXPECT_EQ(err("a=b=c"), "invalid field selector: unescaped character in value: 61");
  EXPECT_EQ(err("a=\\x"), "invalid field selector: invalid escape sequence: \\x");
  EXPECT_EQ(err("a=b\\"), "invalid field selector: invalid escape sequence: \\");
  // "a===b": "==" wins at the first position, leaving "=b" which has an unescaped '='.
  EXPECT_EQ(err("a===b"), "invalid field selector: unescaped character in value: 61");
}

TEST(FieldSelectorKinds, TranscriptUnsupportedField) {
  // 01-errors/41: configmaps?fieldSelector=data.k=v
  auto s = MustParseField("data.k=v").ForKind("", "ConfigMap");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            "\"data.k\" is not a known field selector: only \"metadata.name\", "
            "\"metadata.namespace\"");
  EXPECT_EQ(s.error().http_status, 400);
}

TEST(FieldSelectorKinds, PerKindFields) {
  EXPECT_TRUE(MustParseField("metadata.name=x,metadata.namespace=y").ForKind("", "ConfigMap"));
  EXPECT_TRUE(MustParseField("spec.nodeName=,status.phase=Pending").ForKind("", "Pod"));
  auto pod_bad = MustParseField("spec.containers=x").ForKind("", "Pod");
  ASSERT_FALSE(pod_bad);
  EXPECT_EQ(pod_bad.error().message, "field label not supported: spec.containers");
  auto host = MustParseField("spec.host=n1").ForKind("", "Pod");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->String(), "spec.nodeName=n1");

  EXPECT_TRUE(
      MustParseField("involvedObject.name=web,reason=ScalingReplicaSet").ForKind("", "Event"));
  EXPECT_EQ(MustParseField("message=x").ForKind("", "Event").error().message,
            "field label not supported: message");
  EXPECT_TRUE(MustParseField("type=Opaque").ForKind("", "Secret"));
  EXPECT_TRUE(MustParseField("status.phase=Active").ForKind("", "Namespace"));
  EXPECT_FALSE(MustParseField("metadata.namespace=x").ForKind("", "Namespace"));
  EXPECT_TRUE(MustParseField("status.successful=1").ForKind("batch", "Job"));
  EXPECT_TRUE(MustParseField("status.replicas=1").ForKind("apps", "ReplicaSet"));
  EXPECT_FALSE(MustParseField("status.replicas=1").ForKind("apps", "Deployment"));

  // Custom resources: metadata.name always, metadata.namespace when namespaced, plus the
  // CRD's selectableFields.
  EXPECT_TRUE(
      MustParseField("metadata.namespace=x").ForKind("capture.example.com", "Widget", true));
  auto cluster = MustParseField("metadata.namespace=x")
                     .ForKind("capture.example.com", "Widget", true, /*cluster_scoped=*/true);
  ASSERT_FALSE(cluster);
  EXPECT_EQ(cluster.error().message, "field label not supported: metadata.namespace");
  EXPECT_TRUE(MustParseField("spec.color=blue")
                  .ForKind("capture.example.com", "Widget", true, false, {".spec.color"}));
  EXPECT_FALSE(MustParseField("spec.size=1").ForKind("capture.example.com", "Widget", true));
}

Json Pod(std::string name, std::string node, std::string phase) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "paging"}}},
            {"spec", {{"restartPolicy", "Always"}, {"containers", Json::array()}}},
            {"status", {{"phase", phase}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  return p;
}

TEST(FieldSelectorMatch, TranscriptPodSelectors) {
  // 02-list-paging/16..19: one unscheduled pod, one on node-a.
  Json unscheduled = Pod("p-unsched", "", "Pending");
  Json on_a = Pod("p-a", "node-a", "Pending");
  auto m = [](std::string_view s, const Json& o) {
    auto sel = FieldSelector::Parse(s)->ForKind("", "Pod");
    EXPECT_TRUE(sel) << s;
    return sel && sel->Matches(o);
  };
  EXPECT_TRUE(m("spec.nodeName=", unscheduled));
  EXPECT_FALSE(m("spec.nodeName=", on_a));
  EXPECT_TRUE(m("spec.nodeName=node-a", on_a));
  EXPECT_TRUE(m("status.phase=Pending,spec.nodeName!=", on_a));
  EXPECT_FALSE(m("status.phase=Pending,spec.nodeName!=", unscheduled));
  EXPECT_TRUE(m("spec.restartPolicy=Always", on_a));
  EXPECT_TRUE(m("spec.hostNetwork=false", on_a));
  EXPECT_TRUE(m("spec.host=node-a", on_a));
  on_a["spec"]["hostNetwork"] = true;
  on_a["status"]["podIPs"] = Json::array({{{"ip", "10.0.0.7"}}});
  EXPECT_TRUE(m("spec.hostNetwork=true", on_a));
  EXPECT_TRUE(m("status.podIP=10.0.0.7", on_a));
}

TEST(FieldSelectorMatch, MetadataAndOtherKinds) {
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "cm-3"}, {"namespace", "paging"}}}};
  EXPECT_TRUE(MustParseField("metadata.name=cm-3").Matches(cm));
  EXPECT_FALSE(MustParseField("metadata.name!=cm-3").Matches(cm));
  EXPECT_TRUE(MustParseField("metadata.namespace=paging").Matches(cm));

  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"involvedObject", {{"name", "web"}, {"kind", "Deployment"}}},
             {"reason", "ScalingReplicaSet"},
             {"source", {{"component", "deployment-controller"}}}};
  EXPECT_TRUE(MustParseField("involvedObject.name=web,reason=ScalingReplicaSet").Matches(ev));
  EXPECT_TRUE(MustParseField("source=deployment-controller").Matches(ev));

  Json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"status", Json::object()}};
  EXPECT_TRUE(MustParseField("status.successful=0").Matches(job));
  job["status"]["succeeded"] = 2;
  EXPECT_TRUE(MustParseField("status.successful=2").Matches(job));

  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"spec", Json::object()}};
  EXPECT_TRUE(MustParseField("spec.unschedulable=false").Matches(node));
}

TEST(FieldSelectorMatch, ValueWithEscapedComma) {
  Json cm = {{"metadata", {{"name", "a,b"}}}};
  EXPECT_TRUE(MustParseField(R"(metadata.name=a\,b)").Matches(cm));
}

// ------------------------------------------------------------------ property tests --

#ifdef TETHER_HAVE_RAPIDCHECK

rc::Gen<std::string> GenName() {
  return rc::gen::map(
      rc::gen::pair(rc::gen::elementOf(std::string("abcxyzAZ09")),
                    rc::gen::container<std::string>(rc::gen::elementOf(std::string("ab-_.1")))),
      [](const std::pair<char, std::string>& p) {
        std::string s = std::string(1, p.first) + p.second.substr(0, 10);
        if (s.size() > 1 && !std::isalnum(static_cast<unsigned char>(s.back()))) s += 'z';
        return s;
      });
}

rc::Gen<LabelRequirement> GenRequirement() {
  return rc::gen::map(
      rc::gen::tuple(GenName(), rc::gen::inRange(0, 9),
                     rc::gen::resize(4, rc::gen::container<std::vector<std::string>>(GenName()))),
      [](const std::tuple<std::string, int, std::vector<std::string>>& t) {
        auto [key, op_index, values] = t;
        auto op = static_cast<LabelOperator>(op_index);
        switch (op) {
          case LabelOperator::kExists:
          case LabelOperator::kDoesNotExist:
            values.clear();
            break;
          case LabelOperator::kGreaterThan:
          case LabelOperator::kLessThan:
            values = {std::to_string(values.size())};
            break;
          case LabelOperator::kIn:
          case LabelOperator::kNotIn:
            if (values.empty()) values.push_back("v");
            break;
          default:
            values = {values.empty() ? std::string("v") : values[0]};
        }
        return *LabelRequirement::Make(key, op, values);
      });
}

RC_GTEST_PROP(LabelSelectorProperty, RenderParseRoundTrips, ()) {
  auto reqs =
      *rc::gen::resize(8, rc::gen::container<std::vector<LabelRequirement>>(GenRequirement()));
  std::string text;
  for (size_t i = 0; i < reqs.size(); ++i) text += (i ? "," : "") + reqs[i].String();
  auto parsed = LabelSelector::Parse(text);
  RC_ASSERT(parsed.has_value());
  auto reparsed = LabelSelector::Parse(parsed->String());
  RC_ASSERT(reparsed.has_value());
  RC_ASSERT(*reparsed == *parsed);
  RC_ASSERT(parsed->requirements().size() == reqs.size());
}

// Token soup from the selector alphabet: mostly invalid, sometimes valid, never a crash; every
// accepted selector re-parses from its rendering to the same selector.
RC_GTEST_PROP(LabelSelectorProperty, TokenSoupParsesConsistently, ()) {
  const std::vector<std::string> tokens = {
      "a", "b", "x.io/k", "in", "notin", "=",  "==", "!=", "!", "(",
      ")", ",", " ",      ">",  "<",     "12", "-1", "_",  "\t"};
  auto parts = *rc::gen::resize(
      12, rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(tokens)));
  std::string s;
  for (const auto& p : parts) s += p;
  auto parsed = LabelSelector::Parse(s);
  if (parsed) {
    auto again = LabelSelector::Parse(parsed->String());
    RC_ASSERT(again.has_value());
    RC_ASSERT(*again == *parsed);
  } else {
    RC_ASSERT(!parsed.error().message.empty());
  }
}

RC_GTEST_PROP(FieldSelectorProperty, EscapedValuesRoundTrip,
              (const std::string& field_seed, const std::string& value)) {
  std::string field = "f" + std::to_string(field_seed.size());
  FieldSelector sel = *FieldSelector::Parse(field + "=" + EscapeFieldValue(value));
  RC_ASSERT(sel.requirements().size() == 1u);
  RC_ASSERT(sel.requirements()[0].value == value);
  RC_ASSERT(*FieldSelector::Parse(sel.String()) == sel);
}

#endif  // TETHER_HAVE_RAPIDCHECK

}  // namespace
}  // namespace tether::kube
