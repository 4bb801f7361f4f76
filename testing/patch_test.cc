#include "testing/patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#ifdef TETHER_HAVE_RAPIDCHECK
#include <rapidcheck/gtest.h>
#endif

namespace tether::testing {
namespace {

using ::testing::HasSubstr;

Json J(const char* text) { return Json::parse(text); }

const char kRejected[] = "the server rejected our request due to an error in our request";

// The ConfigMap "patchme" of 05-patches, as it was before the first patch.
Json PatchMe() {
  return J(R"({"apiVersion":"v1","kind":"ConfigMap",
               "metadata":{"name":"patchme","namespace":"default","labels":{"a":"1","b":"2"}},
               "data":{"x":"1","y":"2"}})");
}

// ----------------------------------------------------------------------------- JSON patch --

TEST(JsonPatch, TranscriptTestReplaceAddRemove) {
  // 05-patches/01 then 03.
  Json doc = *ApplyMergePatch(
      PatchMe(), J(R"({"metadata":{"labels":{"a":"10","b":null}},"data":{"y":null,"z":"3"}})"));
  EXPECT_EQ(doc["data"], J(R"({"x":"1","z":"3"})"));
  EXPECT_EQ(doc["metadata"]["labels"], J(R"({"a":"10"})"));

  auto r = ApplyJsonPatch(doc, J(R"([{"op":"test","path":"/data/x","value":"1"},
                                     {"op":"replace","path":"/data/x","value":"11"},
                                     {"op":"add","path":"/data/w","value":"4"},
                                     {"op":"remove","path":"/data/z"}])"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["data"], J(R"({"w":"4","x":"11"})"));
  EXPECT_EQ((*r)["metadata"]["labels"], J(R"({"a":"10"})"));
}

void ExpectRejected(const Result<Json>& r, std::string_view detail_substr,
                    const std::string& detail) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 422);
  EXPECT_EQ(r.error().reason, "Invalid");
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(r.error().message, kRejected);
  EXPECT_THAT(detail, HasSubstr(std::string(detail_substr)));
}

TEST(JsonPatch, TranscriptFailuresAre422WithKubesGenericMessage) {
  Json doc = J(R"({"data":{"x":"11"}})");
  std::string detail;
  // 05-patches/04: failing test; nothing after it applies.
  ExpectRejected(ApplyJsonPatch(doc, J(R"([{"op":"test","path":"/data/x","value":"wrong"},
                                      {"op":"replace","path":"/data/x","value":"never"}])"),
                                &detail),
                 "testing value /data/x failed", detail);
  // 05-patches/05: removing a missing path.
  ExpectRejected(ApplyJsonPatch(doc, J(R"([{"op":"remove","path":"/data/nope"}])"), &detail),
                 "Unable to remove nonexistent key: nope", detail);
  // 05-patches/06: unknown op.
  ExpectRejected(ApplyJsonPatch(doc, J(R"([{"op":"frobnicate","path":"/data/x"}])"), &detail),
                 "Unexpected kind: frobnicate", detail);
}

TEST(JsonPatch, TranscriptObjectBodyIs400) {
  // 05-patches/07
  auto r = ApplyJsonPatch(J(R"({})"), J(R"({"op":"replace","path":"/data/x","value":"1"})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().reason, "BadRequest");
  EXPECT_EQ(r.error().message,
            "error decoding patch: json: cannot unmarshal object into Go value of type "
            "[]handlers.jsonPatchOp");
  auto bad_field = ApplyJsonPatch(J(R"({})"), J(R"([{"op":5,"path":"/a"}])"));
  ASSERT_FALSE(bad_field);
  EXPECT_EQ(bad_field.error().message,
            "error decoding patch: json: cannot unmarshal number into Go struct field "
            "jsonPatchOp.op of type string");
  auto bad_item = ApplyJsonPatch(J(R"({})"), J(R"(["add"])"));
  ASSERT_FALSE(bad_item);
  EXPECT_EQ(bad_item.error().message,
            "error decoding patch: json: cannot unmarshal string into Go value of type "
            "handlers.jsonPatchOp");
}

TEST(JsonPatch, TranscriptSchedulingGateRemovalByTestAndRemove) {
  // 06-scheduling-gates/05 and 06: test the name at index 0, then remove index 0.
  Json pod = J(R"({"spec":{"schedulingGates":[{"name":"example.com/quota"},
                                               {"name":"example.com/approval"}]}})");
  Json patch =
      J(R"([{"op":"test","path":"/spec/schedulingGates/0/name","value":"example.com/quota"},
                     {"op":"remove","path":"/spec/schedulingGates/0"}])");
  auto once = ApplyJsonPatch(pod, patch);
  ASSERT_TRUE(once);
  EXPECT_EQ((*once)["spec"]["schedulingGates"], J(R"([{"name":"example.com/approval"}])"));
  std::string detail;
  ExpectRejected(ApplyJsonPatch(*once, patch, &detail), "testing value", detail);
}

TEST(JsonPatch, AllOperations) {
  Json doc = J(R"({"a":{"b":[1,2,3]},"c":"x"})");
  auto r = ApplyJsonPatch(doc, J(R"([
      {"op":"add","path":"/a/b/1","value":9},
      {"op":"add","path":"/a/b/-","value":10},
      {"op":"move","from":"/c","path":"/d"},
      {"op":"copy","from":"/a/b","path":"/e"},
      {"op":"replace","path":"/a/b/0","value":0},
      {"op":"remove","path":"/a/b/-1"},
      {"op":"test","path":"/d","value":"x"},
      {"op":"add","path":"/k~1l~0m","value":true}])"));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, J(R"({"a":{"b":[0,9,2,3]},"d":"x","e":[1,9,2,3,10],"k/l~m":true})"));
}

TEST(JsonPatch, Failures) {
  Json doc = J(R"({"a":[1],"o":{}})");
  std::string detail;
  auto fails = [&](const char* patch) {
    auto r = ApplyJsonPatch(doc, J(patch), &detail);
    EXPECT_FALSE(r) << patch;
    if (!r) {
      EXPECT_EQ(r.error().http_status, 422);
    }
    return detail;
  };
  EXPECT_THAT(fails(R"([{"op":"add","path":"/a/5","value":1}])"), HasSubstr("invalid index"));
  EXPECT_THAT(fails(R"([{"op":"add","path":"/missing/x","value":1}])"), HasSubstr("missing"));
  EXPECT_THAT(fails(R"([{"op":"replace","path":"/nope","value":1}])"), HasSubstr("missing key"));
  EXPECT_THAT(fails(R"([{"op":"remove","path":"/a/1"}])"), HasSubstr("invalid index"));
  EXPECT_THAT(fails(R"([{"op":"add","path":"/o/x"}])"), HasSubstr("missing value"));
  EXPECT_THAT(fails(R"([{"op":"move","from":"/o","path":"/o/x"}])"), HasSubstr("own child"));
  EXPECT_THAT(fails(R"([{"op":"copy","from":"/zz","path":"/x"}])"), HasSubstr("missing"));
  EXPECT_THAT(fails(R"([{"op":"test","path":"/a/0","value":2}])"), HasSubstr("test failed"));
  EXPECT_THAT(fails(R"([{"op":"add","path":"a","value":1}])"), HasSubstr("must start with"));
  EXPECT_THAT(fails(R"([{"op":"add","path":"","value":1}])"), HasSubstr("missing path"));
  EXPECT_THAT(fails(R"([{"op":"replace","path":"","value":1}])"), HasSubstr("missing path"));
  EXPECT_THAT(fails(R"([{"op":"remove","path":""}])"), HasSubstr("whole document"));
  // The input document is never modified, even by a partly applied patch.
  EXPECT_EQ(doc, J(R"({"a":[1],"o":{}})"));
}

TEST(JsonPatch, TestOnMissingPathWithNullValueSucceeds) {
  EXPECT_TRUE(ApplyJsonPatch(J("{}"), J(R"([{"op":"test","path":"/x","value":null}])")));
  EXPECT_TRUE(ApplyJsonPatch(J(R"({"n":1})"), J(R"([{"op":"test","path":"/n","value":1.0}])")));
}

TEST(JsonPatch, TooManyOperations) {
  Json patch = Json::array();
  for (size_t i = 0; i <= kMaxJsonPatchOperations; ++i) {
    patch.push_back({{"op", "test"}, {"path", "/a"}, {"value", 1}});
  }
  auto r = ApplyJsonPatch(J(R"({"a":1})"), patch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 413);
  EXPECT_EQ(r.error().message,
            "The allowed maximum operations in a JSON patch is 10000, got 10001");
}

// ---------------------------------------------------------------------------- merge patch --

TEST(MergePatch, Rfc7386Examples) {
  struct Case {
    const char* doc;
    const char* patch;
    const char* want;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"({"e":null})", R"({"a":1})", R"({"a":1,"e":null})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases) {
    auto r = ApplyMergePatch(J(c.doc), J(c.patch));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, J(c.want)) << c.doc << " + " << c.patch;
  }
}

TEST(MergePatch, TranscriptDryRunResult) {
  // 05-patches/09: data merged, other keys kept.
  auto r = ApplyMergePatch(J(R"({"data":{"w":"4","x":"11"}})"), J(R"({"data":{"dry":"run"}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["data"], J(R"({"dry":"run","w":"4","x":"11"})"));
}

TEST(MergePatch, ListsAreReplacedWholesale) {
  // 04-deployments-scale/07: a merge patch replaces the whole conditions list.
  Json dep = J(R"({"status":{"conditions":[{"type":"Progressing","status":"True"},
                                           {"type":"Available","status":"False"}]}})");
  auto r =
      ApplyMergePatch(dep, J(R"({"status":{"conditions":[{"type":"Custom","status":"True"}]}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["status"]["conditions"], J(R"([{"type":"Custom","status":"True"}])"));
}

TEST(MergePatch, NonObjectPatchIs400) {
  auto r = ApplyMergePatch(J("{}"), J("[1]"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().message, "Invalid JSON Patch");
}

TEST(MergePatch, CreateMergePatchReproducesTarget) {
  Json from = J(R"({"a":1,"b":{"c":2,"d":[1,2]},"e":"x"})");
  Json to = J(R"({"a":1,"b":{"c":3,"d":[2]},"f":{"g":true}})");
  Json patch = CreateMergePatch(from, to);
  EXPECT_EQ(patch, J(R"({"b":{"c":3,"d":[2]},"e":null,"f":{"g":true}})"));
  EXPECT_EQ(*ApplyMergePatch(from, patch), to);
}

// ------------------------------------------------------------------ strategic merge patch --

Json SmpPod() {
  return J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"smp-pod","namespace":"default"},
    "spec":{"schedulingGates":[{"name":"example.com/gate-a"},{"name":"example.com/gate-b"}],
            "containers":[{"name":"c","image":"busybox","command":["sleep","3600"],
                           "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                           "ports":[{"containerPort":80,"protocol":"TCP"}],
                           "volumeMounts":[{"name":"v","mountPath":"/data"}]}],
            "volumes":[{"name":"v","emptyDir":{}}],
            "tolerations":[{"key":"k","operator":"Exists"}]}})");
}

Json Smp(const Json& doc, const char* patch, std::string_view api_version = "v1",
         std::string_view kind = "Pod") {
  auto r = ApplyStrategicMergePatch(doc, J(patch), api_version, kind);
  EXPECT_TRUE(r) << patch << ": " << (r ? "" : r.error().message);
  return r ? *r : Json();
}

TEST(StrategicMergePatch, TranscriptRemoveOneSchedulingGate) {
  // 05-patches/10
  Json out =
      Smp(SmpPod(),
          R"({"spec":{"schedulingGates":[{"name":"example.com/gate-a","$patch":"delete"}]}})");
  EXPECT_EQ(out["spec"]["schedulingGates"], J(R"([{"name":"example.com/gate-b"}])"));
  EXPECT_EQ(out["spec"]["containers"], SmpPod()["spec"]["containers"]);
}

TEST(StrategicMergePatch, TranscriptListReplaceWithNothing) {
  // 05-patches/11: [{"$patch":"replace"}] empties the list.
  Json out = Smp(SmpPod(), R"({"spec":{"schedulingGates":[{"$patch":"replace"}]}})");
  EXPECT_EQ(out["spec"]["schedulingGates"], Json::array());
}

TEST(StrategicMergePatch, TranscriptChangeOneContainerImage) {
  // 05-patches/12: containers merged by name; other container fields kept.
  Json out = Smp(SmpPod(), R"({"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}})");
  ASSERT_EQ(out["spec"]["containers"].size(), 1u);
  EXPECT_EQ(out["spec"]["containers"][0]["image"], "busybox:1.36");
  EXPECT_EQ(out["spec"]["containers"][0]["command"], J(R"(["sleep","3600"])"));
}

TEST(StrategicMergePatch, TranscriptFinalizers) {
  Json cm = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fin-cm",
                 "finalizers":["example.com/a","example.com/b","example.com/c"]}})");
  // 05-patches/13
  Json out = Smp(cm, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["example.com/b"]}})",
                 "v1", "ConfigMap");
  EXPECT_EQ(out["metadata"]["finalizers"], J(R"(["example.com/a","example.com/c"])"));
  // 05-patches/14: union, new items first.
  out = Smp(out, R"({"metadata":{"finalizers":["example.com/d"]}})", "v1", "ConfigMap");
  EXPECT_EQ(out["metadata"]["finalizers"],
            J(R"(["example.com/d","example.com/a","example.com/c"])"));
}

TEST(StrategicMergePatch, TranscriptDeploymentConditionsMergedByType) {
  // 04-deployments-scale/08
  Json dep = J(R"({"apiVersion":"apps/v1","kind":"Deployment","status":{"conditions":[
      {"type":"Custom","status":"True"},{"type":"Progressing","status":"True"},
      {"type":"Available","status":"False"}]}})");
  Json out =
      Smp(dep, R"({"status":{"conditions":[{"type":"Custom2","status":"False","reason":"Test"}]}})",
          "apps/v1", "Deployment");
  std::vector<std::string> types;
  for (const auto& c : out["status"]["conditions"]) types.push_back(c["type"]);
  EXPECT_THAT(types, ::testing::ElementsAre("Custom2", "Custom", "Progressing", "Available"));
}

TEST(StrategicMergePatch, NestedKeyedListsAndReplacedLists) {
  Json out = Smp(SmpPod(), R"({"spec":{
      "containers":[{"name":"c","env":[{"name":"B","value":"22"},{"name":"C","value":"3"}],
                     "ports":[{"containerPort":8080}],
                     "volumeMounts":[{"mountPath":"/data","readOnly":true}],
                     "command":["true"]},
                    {"name":"side","image":"sidecar"}],
      "tolerations":[{"key":"other","operator":"Exists"}]}})");
  const Json& c = out["spec"]["containers"][0];
  EXPECT_EQ(c["env"],
            J(R"([{"name":"A","value":"1"},{"name":"B","value":"22"},{"name":"C","value":"3"}])"));
  EXPECT_EQ(c["ports"], J(R"([{"containerPort":8080},{"containerPort":80,"protocol":"TCP"}])"));
  EXPECT_EQ(c["volumeMounts"], J(R"([{"name":"v","mountPath":"/data","readOnly":true}])"));
  EXPECT_EQ(c["command"], J(R"(["true"])"));  // no patch strategy: replaced
  EXPECT_EQ(out["spec"]["containers"][1], J(R"({"name":"side","image":"sidecar"})"));
  EXPECT_EQ(out["spec"]["tolerations"], J(R"([{"key":"other","operator":"Exists"}])"));
}

TEST(StrategicMergePatch, Directives) {
  // null deletes; $patch: replace on a map replaces just that map.
  Json pod = SmpPod();
  pod["spec"]["containers"][0]["resources"] = J(R"({"limits":{"cpu":"2","memory":"1Gi"}})");
  Json out = Smp(pod, R"({"metadata":{"namespace":null},
      "spec":{"containers":[{"name":"c","resources":{"$patch":"replace","limits":{"cpu":"1"}}}]}})");
  EXPECT_FALSE(out["metadata"].contains("namespace"));
  EXPECT_EQ(out["spec"]["containers"][0]["resources"], J(R"({"limits":{"cpu":"1"}})"));
  EXPECT_EQ(out["spec"]["containers"][0]["image"], "busybox");
  // A list item carrying "$patch: replace" is the list-level directive: the list becomes the
  // other items of the patch (none here).
  out = Smp(SmpPod(), R"({"spec":{"containers":[{"name":"c","$patch":"replace","image":"x"}]}})");
  EXPECT_EQ(out["spec"]["containers"], Json::array());
  out = Smp(SmpPod(), R"({"spec":{"$patch":"delete"}})");
  EXPECT_EQ(out["spec"], Json::object());
  out = Smp(SmpPod(), R"({"$patch":"replace","kind":"Pod"})");
  EXPECT_EQ(out, J(R"({"kind":"Pod"})"));
  // $setElementOrder orders the merged list.
  out = Smp(SmpPod(), R"({"spec":{"containers":[{"name":"c",
      "$setElementOrder/env":[{"name":"B"},{"name":"A"}]}]}})");
  EXPECT_EQ(out["spec"]["containers"][0]["env"],
            J(R"([{"name":"B","value":"2"},{"name":"A","value":"1"}])"));
  // $retainKeys drops live keys not listed (volume source switch).
  out = Smp(SmpPod(), R"({"spec":{"volumes":[{"name":"v","$retainKeys":["name","configMap"],
                                               "configMap":{"name":"cm"}}]}})");
  EXPECT_EQ(out["spec"]["volumes"], J(R"([{"name":"v","configMap":{"name":"cm"}}])"));
}

TEST(StrategicMergePatch, NewListsAndMapsNeverKeepDirectives) {
  Json pod = J(R"({"spec":{}})");
  Json out = Smp(pod, R"({"spec":{"schedulingGates":[{"name":"a"},{"name":"b","$patch":"delete"}],
                                  "nodeSelector":{"x":"y","z":null}}})");
  EXPECT_EQ(out["spec"]["schedulingGates"], J(R"([{"name":"a"}])"));
  EXPECT_EQ(out["spec"]["nodeSelector"], J(R"({"x":"y"})"));
}

TEST(StrategicMergePatch, UnknownKindsReplaceLists) {
  Json widget = J(R"({"spec":{"items":[{"name":"a"}],"m":{"k":"v"}}})");
  Json out = Smp(widget, R"({"spec":{"items":[{"name":"b"}],"m":{"k2":"v2"}}})",
                 "capture.example.com/v1", "Widget");
  EXPECT_EQ(out, J(R"({"spec":{"items":[{"name":"b"}],"m":{"k":"v","k2":"v2"}}})"));
}

TEST(StrategicMergePatch, Errors) {
  auto missing_key = ApplyStrategicMergePatch(
      SmpPod(), J(R"({"spec":{"containers":[{"image":"x"}]}})"), "v1", "Pod");
  ASSERT_FALSE(missing_key);
  EXPECT_EQ(missing_key.error().http_status, 500);
  EXPECT_EQ(missing_key.error().message,
            "map: map[image:x] does not contain declared merge key: name");

  auto bad_directive =
      ApplyStrategicMergePatch(SmpPod(), J(R"({"spec":{"$patch":"frob"}})"), "v1", "Pod");
  ASSERT_FALSE(bad_directive);
  EXPECT_THAT(bad_directive.error().message, HasSubstr("unknown patch type: frob in map:"));

  auto bad_retain =
      ApplyStrategicMergePatch(SmpPod(), J(R"({"spec":{"$retainKeys":["a"],"b":1}})"), "v1", "Pod");
  ASSERT_FALSE(bad_retain);
  EXPECT_EQ(bad_retain.error().http_status, 400);
  EXPECT_EQ(bad_retain.error().message, "invalid patch format of retainKeys");

  auto not_object = ApplyStrategicMergePatch(SmpPod(), J("[]"), "v1", "Pod");
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error().http_status, 400);
}

TEST(StrategicMergePatch, CustomResourcesAreUnsupported) {
  // 01-errors/33
  EXPECT_FALSE(IsStrategicMergePatchSupported("capture.example.com/v1", "Widget"));
  EXPECT_TRUE(IsStrategicMergePatchSupported("v1", "Pod"));
  EXPECT_TRUE(IsStrategicMergePatchSupported("apps/v1", "Deployment"));
  EXPECT_TRUE(IsStrategicMergePatchSupported("coordination.k8s.io/v1", "Lease"));
  Error e = StrategicMergePatchUnsupported();
  EXPECT_EQ(e.http_status, 415);
  EXPECT_EQ(e.message,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml");
}

// ---------------------------------------------------------------------- server-side apply --

ApplyOptions Opts(std::string manager, bool force = false) {
  ApplyOptions o;
  o.manager = std::move(manager);
  o.force = force;
  o.now = "2026-11-22T03:50:20Z";
  return o;
}

Json ManagedFields(const Json& obj) { return obj["metadata"]["managedFields"]; }

TEST(ServerSideApply, TranscriptSequenceAliceBobCarol) {
  // 05-patches/15: alice creates.
  Json alice = J(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"ssa-cm","labels":{"owner":"alice"}},
      "data":{"shared":"from-alice","alice":"a"}})");
  auto created = ApplyServerSideApply(nullptr, alice, Opts("alice"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(ManagedFields(*created), J(R"([{"manager":"alice","operation":"Apply",
      "apiVersion":"v1","time":"2026-11-22T03:50:20Z","fieldsType":"FieldsV1",
      "fieldsV1":{"f:data":{"f:alice":{},"f:shared":{}},"f:metadata":{"f:labels":{"f:owner":{}}}}}])"));
  Json live = *created;
  live["metadata"]["namespace"] = "default";
  live["metadata"]["uid"] = "174da59d";
  live["metadata"]["resourceVersion"] = "495";

  // 05-patches/16: bob changes alice's field → 409 with kube's message.
  Json bob = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa-cm"},
                   "data":{"shared":"from-bob","bob":"b"}})");
  std::vector<ApplyConflict> conflicts;
  ApplyOptions bob_opts = Opts("bob");
  bob_opts.conflicts = &conflicts;
  auto conflict = ApplyServerSideApply(&live, bob, bob_opts);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().http_status, 409);
  EXPECT_EQ(conflict.error().reason, "Conflict");
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_EQ(conflict.error().message,
            "Apply failed with 1 conflict: conflict with \"alice\": .data.shared");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].manager, "\"alice\"");
  EXPECT_EQ(conflicts[0].field, ".data.shared");

  // 05-patches/17: with force bob takes the field over.
  auto forced = ApplyServerSideApply(&live, bob, Opts("bob", true));
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ((*forced)["data"], J(R"({"alice":"a","bob":"b","shared":"from-bob"})"));
  EXPECT_EQ(ManagedFields(*forced), J(R"([
      {"manager":"alice","operation":"Apply","apiVersion":"v1","time":"2026-11-22T03:50:20Z",
       "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:alice":{}},"f:metadata":{"f:labels":{"f:owner":{}}}}},
      {"manager":"bob","operation":"Apply","apiVersion":"v1","time":"2026-11-22T03:50:20Z",
       "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:bob":{},"f:shared":{}}}}])"));
  EXPECT_EQ((*forced)["metadata"]["uid"], "174da59d");  // server fields untouched

  // 05-patches/19: carol adds her own key.
  auto carol = ApplyServerSideApply(
      &*forced,
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa-cm"},"data":{"carol":"c"}})"),
      Opts("carol"));
  ASSERT_TRUE(carol);

  // 05-patches/20: alice omits data.shared, which she no longer owns: it stays.
  auto again = ApplyServerSideApply(
      &*carol,
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa-cm","labels":{"owner":"alice"}},
            "data":{"alice":"a"}})"),
      Opts("alice"));
  ASSERT_TRUE(again);
  // 05-patches/24: the final object.
  EXPECT_EQ((*again)["data"], J(R"({"alice":"a","bob":"b","carol":"c","shared":"from-bob"})"));
  EXPECT_EQ((*again)["metadata"]["labels"], J(R"({"owner":"alice"})"));
  Json fields = Json::array();
  for (const auto& e : ManagedFields(*again)) fields.push_back({e["manager"], e["fieldsV1"]});
  EXPECT_EQ(fields, J(R"([
      ["alice", {"f:data":{"f:alice":{}},"f:metadata":{"f:labels":{"f:owner":{}}}}],
      ["bob", {"f:data":{"f:bob":{},"f:shared":{}}}],
      ["carol", {"f:data":{"f:carol":{}}}]])"));
}

TEST(ServerSideApply, OmittedFieldsOwnedOnlyByTheApplierAreRemoved) {
  Json cfg = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x",
                   "labels":{"a":"1","b":"2"}},"data":{"k":"v","gone":"soon"}})");
  auto v1 = ApplyServerSideApply(nullptr, cfg, Opts("me"));
  ASSERT_TRUE(v1);
  auto v2 = ApplyServerSideApply(&*v1, J(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"x","labels":{"a":"1"}},"data":{"k":"v"}})"),
                                 Opts("me"));
  ASSERT_TRUE(v2);
  EXPECT_EQ((*v2)["data"], J(R"({"k":"v"})"));
  EXPECT_EQ((*v2)["metadata"]["labels"], J(R"({"a":"1"})"));
}

TEST(ServerSideApply, SameValueIsSharedNotAConflict) {
  Json cfg =
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"v"}})");
  auto v1 = ApplyServerSideApply(nullptr, cfg, Opts("a"));
  ASSERT_TRUE(v1);
  auto v2 = ApplyServerSideApply(&*v1, cfg, Opts("b"));
  ASSERT_TRUE(v2) << v2.error().message;
  // a stops applying k: b still owns it, so it stays.
  auto v3 = ApplyServerSideApply(&*v2, J(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"x"},"data":{"other":"1"}})"),
                                 Opts("a"));
  ASSERT_TRUE(v3);
  EXPECT_EQ((*v3)["data"], J(R"({"k":"v","other":"1"})"));
}

TEST(ServerSideApply, KeyedListsMergeByKeyAndReportKeyedPaths) {
  Json dep = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
      "spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}})");
  auto v1 = ApplyServerSideApply(nullptr, dep, Opts("ci"));
  ASSERT_TRUE(v1);
  EXPECT_EQ(ManagedFields(*v1)[0]["fieldsV1"], J(R"({"f:spec":{"f:template":{"f:spec":{
      "f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}}})"));
  // Another manager adds a sidecar container: merged by name, no conflict.
  auto v2 = ApplyServerSideApply(&*v1, J(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[
      {"name":"side","image":"envoy"}]}}}})"),
                                 Opts("mesh"));
  ASSERT_TRUE(v2);
  EXPECT_EQ((*v2)["spec"]["template"]["spec"]["containers"].size(), 2u);
  // Changing ci's image conflicts on a keyed path.
  auto v3 = ApplyServerSideApply(&*v2, J(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[
      {"name":"c","image":"nginx:2"}]}}}})"),
                                 Opts("mesh"));
  ASSERT_FALSE(v3);
  EXPECT_EQ(v3.error().message,
            "Apply failed with 1 conflict: conflict with \"ci\": "
            ".spec.template.spec.containers[name=\"c\"].image");
  // ci drops its container: removed; the sidecar stays.
  auto v4 = ApplyServerSideApply(&*v2, J(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web"},"spec":{"replicas":2}})"),
                                 Opts("ci"));
  ASSERT_TRUE(v4);
  EXPECT_EQ((*v4)["spec"]["template"]["spec"]["containers"],
            J(R"([{"name":"side","image":"envoy"}])"));
  EXPECT_EQ((*v4)["spec"]["replicas"], 2);
}

TEST(ServerSideApply, SeveralConflictsGroupedByManager) {
  Json live = *ApplyServerSideApply(
      nullptr,
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1","b":"1"}})"),
      Opts("alice"));
  Json edited = live;
  edited["data"]["c"] = "1";
  live = RecordUpdateManagedFields(&live, edited, "kubectl", "v1", "2026-11-22T04:00:00Z");
  auto r = ApplyServerSideApply(&live, J(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"x"},"data":{"a":"2","b":"2","c":"2"}})"),
                                Opts("bob"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "Apply failed with 3 conflicts: conflicts with \"alice\":\n- .data.a\n- .data.b\n"
            "conflicts with \"kubectl\" using v1 at 2026-11-22T04:00:00Z:\n- .data.c");
}

TEST(ServerSideApply, TranscriptErrors) {
  // 05-patches/22: kind missing.
  auto no_kind = ApplyServerSideApply(nullptr, J(R"({"metadata":{"name":"ssa-cm"}})"), Opts("a"));
  ASSERT_FALSE(no_kind);
  EXPECT_EQ(no_kind.error().http_status, 400);
  EXPECT_EQ(no_kind.error().message, "invalid object type: /, Kind=");
  // 05-patches/18: no fieldManager.
  auto no_manager = ApplyServerSideApply(
      nullptr, J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa-cm"}})"),
      Opts(""));
  ASSERT_FALSE(no_manager);
  EXPECT_EQ(no_manager.error().http_status, 422);
  EXPECT_EQ(no_manager.error().message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required "
            "for apply patch");
}

TEST(ServerSideApply, TranscriptStatusSubresource) {
  // 05-patches/23: applying to /status only touches status and records the subresource.
  Json live = J(R"({"apiVersion":"capture.example.com/v1","kind":"Widget",
      "metadata":{"name":"scaled"},"spec":{"color":"blue","replicas":3}})");
  ApplyOptions o = Opts("widget-controller");
  o.subresource = "status";
  o.has_status_subresource = true;
  auto r = ApplyServerSideApply(&live, J(R"({"apiVersion":"capture.example.com/v1",
      "kind":"Widget","metadata":{"name":"scaled"},"spec":{"color":"red"},
      "status":{"phase":"Ready","replicas":3}})"),
                                o);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["spec"]["color"], "blue");
  EXPECT_EQ((*r)["status"], J(R"({"phase":"Ready","replicas":3})"));
  EXPECT_EQ(ManagedFields(*r), J(R"([{"apiVersion":"capture.example.com/v1",
      "fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:phase":{},"f:replicas":{}}},
      "manager":"widget-controller","operation":"Apply","subresource":"status",
      "time":"2026-11-22T03:50:20Z"}])"));
}

TEST(ManagedFields, UpdatesTakeOwnershipOfChangedFields) {
  Json before =
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"}})");
  Json created = RecordUpdateManagedFields(nullptr, before, "kubectl", "v1", "t0");
  EXPECT_EQ(ManagedFields(created), J(R"([{"manager":"kubectl","operation":"Update",
      "apiVersion":"v1","time":"t0","fieldsType":"FieldsV1",
      "fieldsV1":{"f:data":{".":{},"f:a":{}}}}])"));
  Json after = created;
  after["data"]["a"] = "2";
  after["metadata"]["labels"] = {{"x", "y"}};
  Json updated = RecordUpdateManagedFields(&created, after, "ctrl", "v1", "t1");
  ASSERT_EQ(ManagedFields(updated).size(), 2u);
  // kubectl keeps owning the data map itself.
  EXPECT_EQ(ManagedFields(updated)[0]["fieldsV1"], J(R"({"f:data":{}})"));
  EXPECT_EQ(ManagedFields(updated)[1]["fieldsV1"],
            J(R"({"f:data":{"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:x":{}}}})"));
}

#ifdef TETHER_HAVE_RAPIDCHECK

// Objects with keys from a small set (duplicates collapse), so patches and documents overlap.
rc::Gen<Json> GenMap(rc::Gen<Json> values) {
  auto key = rc::gen::elementOf(std::vector<std::string>{"k", "l", "m", "n"});
  return rc::gen::map(
      rc::gen::container<std::vector<std::pair<std::string, Json>>>(rc::gen::pair(key, values)),
      [](const std::vector<std::pair<std::string, Json>>& kvs) {
        Json out = Json::object();
        for (const auto& [k, v] : kvs) out[k] = v;
        return out;
      });
}

rc::Gen<Json> GenJson(int depth) {
  auto scalar =
      rc::gen::oneOf(rc::gen::map(rc::gen::inRange(-5, 5), [](int v) { return Json(v); }),
                     rc::gen::map(rc::gen::elementOf(std::vector<std::string>{"a", "b", "c"}),
                                  [](const std::string& s) { return Json(s); }),
                     rc::gen::just(Json(true)));
  if (depth == 0) return scalar;
  return rc::gen::oneOf(scalar,
                        rc::gen::map(rc::gen::container<std::vector<Json>>(GenJson(depth - 1)),
                                     [](const std::vector<Json>& v) { return Json(v); }),
                        GenMap(GenJson(depth - 1)));
}

rc::Gen<Json> GenObject() { return rc::gen::scale(0.2, GenMap(GenJson(2))); }

RC_GTEST_PROP(MergePatchProperty, PatchOfDiffReproducesTarget, ()) {
  Json from = *GenObject();
  Json to = *GenObject();
  auto r = ApplyMergePatch(from, CreateMergePatch(from, to));
  RC_ASSERT(r.has_value());
  RC_ASSERT(*r == to);
}

RC_GTEST_PROP(StrategicMergePatchProperty, WithoutListsItIsAMergePatch, ()) {
  Json from = *GenObject();
  Json to = *GenObject();
  Json patch = CreateMergePatch(from, to);
  auto smp = ApplyStrategicMergePatch(from, patch, "example.com/v1", "Thing");
  RC_ASSERT(smp.has_value());
  RC_ASSERT(*smp == to);
}

#endif  // TETHER_HAVE_RAPIDCHECK

}  // namespace
}  // namespace tether::testing
