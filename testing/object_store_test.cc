#include "testing/object_store.h"

#include <gtest/gtest.h>

namespace tether::testing {
namespace {

ApiResult<Json> Put(ObjectStore& s, const std::string& ns, const std::string& name, Json obj) {
  return s.Mutate("configmaps", ns, name,
                  [&](const Json*) -> ApiResult<Mutation> { return Mutation::Put(obj); });
}

Json Obj(const std::string& ns, const std::string& name, const std::string& v) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}}, {"data", {{"v", v}}}};
}

TEST(ObjectStoreTest, StampsMonotonicResourceVersions) {
  ObjectStore s;
  auto a = Put(s, "ns", "a", Obj("ns", "a", "1"));
  auto b = Put(s, "ns", "b", Obj("ns", "b", "1"));
  ASSERT_TRUE(a && b);
  EXPECT_LT(std::stoll((*a)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll((*b)["metadata"]["resourceVersion"].get<std::string>()));
  EXPECT_EQ(std::to_string(s.current_rv()), (*b)["metadata"]["resourceVersion"]);
}

TEST(ObjectStoreTest, ListsPointInTimeSnapshots) {
  ObjectStore s;
  Put(s, "ns", "a", Obj("ns", "a", "1"));
  std::int64_t rv = s.current_rv();
  Put(s, "ns", "a", Obj("ns", "a", "2"));
  Put(s, "ns", "b", Obj("ns", "b", "1"));
  Put(s, "other", "c", Obj("other", "c", "1"));
  auto then = s.List("configmaps", "ns", rv, "", 0, nullptr);
  ASSERT_TRUE(then);
  ASSERT_EQ(then->items.size(), 1u);
  EXPECT_EQ(then->items[0]["data"]["v"], "1");
  auto now = s.List("configmaps", "ns", 0, "", 0, nullptr);
  ASSERT_EQ(now->items.size(), 2u);
  auto all = s.List("configmaps", "", 0, "", 0, nullptr);
  EXPECT_EQ(all->items.size(), 3u);
  auto page = s.List("configmaps", "", 0, "", 2, nullptr);
  EXPECT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->last_key, "ns/b");
  EXPECT_EQ(page->remaining, 1);
  auto rest = s.List("configmaps", "", 0, page->last_key, 2, nullptr);
  EXPECT_EQ(rest->items.size(), 1u);
  EXPECT_TRUE(rest->last_key.empty());

  s.Compact();
  auto old = s.List("configmaps", "ns", rv, "", 0, nullptr);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, 410);
  EXPECT_EQ(s.List("configmaps", "ns", 0, "", 0, nullptr)->items.size(), 2u);
}

TEST(ObjectStoreTest, EventHistoryAndCompaction) {
  ObjectStore s;
  std::int64_t start = s.current_rv();
  Put(s, "ns", "a", Obj("ns", "a", "1"));
  Put(s, "ns", "a", Obj("ns", "a", "2"));
  s.Mutate("configmaps", "ns", "a",
           [](const Json* cur) -> ApiResult<Mutation> { return Mutation::Delete(*cur); });
  auto batch = s.EventsAfter("configmaps", start);
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->events.size(), 3u);
  EXPECT_EQ(batch->events[0].type, "ADDED");
  EXPECT_EQ(batch->events[1].type, "MODIFIED");
  EXPECT_EQ(batch->events[1].prev["data"]["v"], "1");
  EXPECT_EQ(batch->events[2].type, "DELETED");
  EXPECT_EQ(batch->up_to, s.current_rv());
  EXPECT_FALSE(s.Get("configmaps", "ns", "a"));
  s.Compact();
  auto expired = s.EventsAfter("configmaps", start);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().reason, "Expired");
  EXPECT_TRUE(s.EventsAfter("configmaps", s.current_rv()));
}

TEST(ObjectStoreTest, AutomaticCompactionBoundsHistory) {
  ObjectStore s(16);
  std::int64_t start = s.current_rv();
  for (int i = 0; i < 100; ++i) Put(s, "ns", "a", Obj("ns", "a", std::to_string(i)));
  EXPECT_GT(s.compacted_rv(), start);
  EXPECT_FALSE(s.EventsAfter("configmaps", start));
  EXPECT_EQ((*s.Get("configmaps", "ns", "a"))["data"]["v"], "99");
}

TEST(ObjectStoreTest, FailedMutationChangesNothing) {
  ObjectStore s;
  std::int64_t rv = s.current_rv();
  auto r = s.Mutate("configmaps", "ns", "x", [](const Json*) -> ApiResult<Mutation> {
    return Err(ApiError{409, "Conflict", "no", nullptr});
  });
  EXPECT_FALSE(r);
  EXPECT_EQ(s.current_rv(), rv);
  EXPECT_TRUE(s.Keys("configmaps", "").empty());
}

}  // namespace
}  // namespace tether::testing
