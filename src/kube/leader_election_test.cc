#include "kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace tether::kube {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

// In-memory Lease collection with resourceVersion checks (409 on stale writes).
struct LeaseBackend {
  std::mutex mu;
  std::optional<Json> lease;
  int rv = 0;
  int writes = 0;
};

class FakeLeaseStore final : public LeaseStore {
 public:
  // `before_request`, when set, runs at the start of every request (e.g. to model latency).
  FakeLeaseStore(std::shared_ptr<LeaseBackend> b, std::shared_ptr<std::atomic<bool>> broken,
                 const std::function<void()>* before_request = nullptr)
      : b_(std::move(b)), broken_(std::move(broken)), before_request_(before_request) {}
  Result<Json> Get(const std::string&, const std::string&) override {
    BeforeRequest();
    std::lock_guard lock(b_->mu);
    if (*broken_) return Fail(ErrorCode::kUnavailable, "connection refused");
    if (!b_->lease) return Fail(ErrorCode::kNotFound, "leases \"lock\" not found");
    return *b_->lease;
  }
  Result<Json> Create(const std::string& ns, const Json& lease) override {
    BeforeRequest();
    std::lock_guard lock(b_->mu);
    if (*broken_) return Fail(ErrorCode::kUnavailable, "connection refused");
    if (b_->lease) return Fail(ErrorCode::kAlreadyExists, "already exists");
    b_->lease = lease;
    (*b_->lease)["metadata"]["resourceVersion"] = std::to_string(++b_->rv);
    ++b_->writes;
    return *b_->lease;
  }
  Result<Json> Update(const std::string&, const Json& lease) override {
    BeforeRequest();
    std::lock_guard lock(b_->mu);
    if (*broken_) return Fail(ErrorCode::kUnavailable, "connection refused");
    if (!b_->lease) return Fail(ErrorCode::kNotFound, "not found");
    if (lease["metadata"]["resourceVersion"] != (*b_->lease)["metadata"]["resourceVersion"]) {
      return Fail(ErrorCode::kConflict, "the object has been modified");
    }
    b_->lease = lease;
    (*b_->lease)["metadata"]["resourceVersion"] = std::to_string(++b_->rv);
    ++b_->writes;
    return *b_->lease;
  }

 private:
  void BeforeRequest() {
    if (before_request_ != nullptr && *before_request_) (*before_request_)();
  }
  std::shared_ptr<LeaseBackend> b_;
  std::shared_ptr<std::atomic<bool>> broken_;
  const std::function<void()>* before_request_;
};

struct Replica {
  std::shared_ptr<std::atomic<bool>> broken = std::make_shared<std::atomic<bool>>(false);
  std::function<void()> before_request;  // runs at the start of each of its Lease requests
  int started = 0, stopped = 0;
  std::vector<std::string> leaders_seen;
  std::unique_ptr<LeaderElector> elector;
  TimePoint next{};
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void Add(Replica& r, const std::string& id) {
    LeaderElectionConfig c;
    c.lease_namespace = "tether-system";
    c.lease_name = "tether-controller";
    c.identity = id;
    c.registry = &registry_;
    c.seed = 7;
    c.on_started_leading = [&r] { ++r.started; };
    c.on_stopped_leading = [&r] { ++r.stopped; };
    c.on_new_leader = [&r](const std::string& who) { r.leaders_seen.push_back(who); };
    r.elector = std::make_unique<LeaderElector>(
        std::make_unique<FakeLeaseStore>(backend_, r.broken, &r.before_request), clock_,
        std::move(c));
  }
  // Runs every replica's due steps in deadline order up to `until`, checking after each step
  // that at most one replica believes it leads.
  void RunUntil(TimePoint until, std::vector<Replica*> rs) {
    while (true) {
      Replica* next = nullptr;
      for (Replica* r : rs) {
        if (!next || r->next < next->next) next = r;
      }
      if (next->next > until) break;
      if (next->next > clock_.Now()) clock_.Set(next->next);
      next->next = next->elector->Step();
      int leaders = 0;
      for (Replica* r : rs) leaders += r->elector->IsLeader() ? 1 : 0;
      ASSERT_LE(leaders, 1) << "two leaders at " << FormatRfc3339(clock_.Now());
    }
    clock_.Set(until);
  }
  LeaseRecord Record() {
    std::lock_guard lock(backend_->mu);
    return ParseLeaseRecord(*backend_->lease);
  }

  FakeClock clock_;
  metrics::Registry registry_;
  std::shared_ptr<LeaseBackend> backend_ = std::make_shared<LeaseBackend>();
};

TEST_F(LeaderElectionTest, FirstCandidateCreatesLeaseAndLeads) {
  Replica a;
  Add(a, "pod-a");
  a.next = a.elector->Step();
  EXPECT_TRUE(a.elector->IsLeader());
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.elector->Leader(), "pod-a");
  LeaseRecord rec = Record();
  EXPECT_EQ(rec.holder, "pod-a");
  EXPECT_EQ(rec.lease_duration_seconds, 15);
  EXPECT_EQ(rec.lease_transitions, 0);
  EXPECT_EQ(rec.acquire_time, clock_.Now());
  EXPECT_THAT(registry_.Serialize(), HasSubstr("tether_leader{lease=\"tether-controller\"} 1\n"));
  // Renewals keep acquireTime and advance renewTime.
  TimePoint acquired = clock_.Now();
  RunUntil(clock_.Now() + seconds(60), {&a});
  rec = Record();
  EXPECT_EQ(rec.acquire_time, acquired);
  EXPECT_GT(*rec.renew_time, acquired + seconds(55));
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 0);
}

TEST_F(LeaderElectionTest, TwoCandidatesElectExactlyOneAndCleanReleaseHandsOverAtOnce) {
  Replica a, b;
  Add(a, "pod-a");
  Add(b, "pod-b");
  RunUntil(clock_.Now() + seconds(120), {&a, &b});
  EXPECT_NE(a.elector->IsLeader(), b.elector->IsLeader());
  Replica& leader = a.elector->IsLeader() ? a : b;
  Replica& standby = a.elector->IsLeader() ? b : a;
  EXPECT_EQ(standby.started, 0);
  EXPECT_EQ(standby.elector->Leader(), leader.elector->config().identity);
  // Clean shutdown of the leader: the Lease is released...
  leader.elector->Release();
  EXPECT_FALSE(leader.elector->IsLeader());
  EXPECT_EQ(leader.stopped, 1);
  EXPECT_EQ(Record().holder, "");
  // ...so the standby takes over at its next retry, not after the lease duration.
  TimePoint released = clock_.Now();
  RunUntil(released + seconds(3), {&standby});
  EXPECT_TRUE(standby.elector->IsLeader());
  EXPECT_EQ(Record().holder, standby.elector->config().identity);
  EXPECT_EQ(Record().lease_transitions, 1);
}

TEST_F(LeaderElectionTest, LeaderThatCannotRenewStopsBeforeStandbyTakesOver) {
  Replica a, b;
  Add(a, "pod-a");
  Add(b, "pod-b");
  a.next = a.elector->Step();
  b.next = clock_.Now();
  RunUntil(clock_.Now() + seconds(10), {&a, &b});
  ASSERT_TRUE(a.elector->IsLeader());
  ASSERT_FALSE(b.elector->IsLeader());
  // pod-a loses the API server (network partition): it must stop within the renew deadline
  // (plus one retry period), and pod-b must not lead before the lease has expired.
  TimePoint last_renew = *Record().renew_time;
  *a.broken = true;
  RunUntil(last_renew + seconds(12), {&a, &b});
  EXPECT_FALSE(a.elector->IsLeader()) << "leader kept acting without renewing";
  EXPECT_EQ(a.stopped, 1);
  EXPECT_FALSE(b.elector->IsLeader()) << "standby took over before the lease expired";
  // Failover within lease duration + one (jittered) retry period.
  RunUntil(last_renew + seconds(15) + seconds(5), {&a, &b});
  EXPECT_TRUE(b.elector->IsLeader());
  EXPECT_EQ(Record().holder, "pod-b");
  EXPECT_EQ(Record().lease_transitions, 1);
  EXPECT_THAT(b.leaders_seen, ::testing::ElementsAre("pod-a", "pod-b"));
  // pod-a comes back: it sees pod-b holding a fresh lease and stays a follower.
  *a.broken = false;
  RunUntil(clock_.Now() + seconds(60), {&a, &b});
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_TRUE(b.elector->IsLeader());
}

// Against an unreachable API server requests may hang before failing. The renew deadline is
// measured when a failed attempt ends, so the leader stops leading as soon as the deadline has
// passed, not one slow attempt later (when a standby may already lead).
TEST_F(LeaderElectionTest, SlowFailingRenewalsStopLeadingOnceTheRenewDeadlinePasses) {
  Replica a;
  Add(a, "pod-a");  // lease 15s, renew deadline 10s, retry 2s
  a.next = a.elector->Step();
  ASSERT_TRUE(a.elector->IsLeader());
  const TimePoint last_renewal = clock_.Now();
  *a.broken = true;
  a.before_request = [this] { clock_.Advance(seconds(3)); };
  for (int step = 0; step < 20 && a.elector->IsLeader(); ++step) {
    if (a.next > clock_.Now()) clock_.Set(a.next);
    a.next = a.elector->Step();
    if (clock_.Now() - last_renewal >= seconds(10)) {
      EXPECT_FALSE(a.elector->IsLeader())
          << "still leading " << FormatDuration(clock_.Now() - last_renewal)
          << " after the last renewal, past the 10s renew deadline";
    }
  }
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.stopped, 1);
  EXPECT_GE(clock_.Now() - last_renewal, seconds(10)) << "gave up before the renew deadline";
}

TEST_F(LeaderElectionTest, RenewFailureWithinDeadlineKeepsLeading) {
  Replica a;
  Add(a, "pod-a");
  a.next = a.elector->Step();
  *a.broken = true;
  RunUntil(clock_.Now() + seconds(7), {&a});  // fails for < renew deadline
  EXPECT_TRUE(a.elector->IsLeader());
  *a.broken = false;
  RunUntil(clock_.Now() + seconds(30), {&a});
  EXPECT_TRUE(a.elector->IsLeader());
  EXPECT_EQ(a.stopped, 0);
}

TEST_F(LeaderElectionTest, ConcurrentWriteConflictIsRetriedNotFatal) {
  Replica a, b;
  Add(a, "pod-a");
  Add(b, "pod-b");
  // Expired lease held by a dead replica: both candidates race for it.
  {
    std::lock_guard lock(backend_->mu);
    LeaseRecord dead{.holder = "pod-dead",
                     .lease_duration_seconds = 15,
                     .acquire_time = clock_.Now() - seconds(100),
                     .renew_time = clock_.Now() - seconds(100)};
    backend_->lease = Json{{"metadata", {{"name", "tether-controller"}, {"resourceVersion", "1"}}},
                           {"spec", LeaseRecordToSpec(dead)}};
    backend_->rv = 1;
  }
  RunUntil(clock_.Now() + seconds(40), {&a, &b});
  EXPECT_NE(a.elector->IsLeader(), b.elector->IsLeader());
}

TEST_F(LeaderElectionTest, RunReleasesOnStop) {
  Replica a;
  Add(a, "pod-a");
  std::stop_source stop;
  std::atomic<bool> clean{false};
  std::thread t([&] { clean = a.elector->Run(stop.get_token()); });
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!a.elector->IsLeader() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(a.elector->IsLeader());
  stop.request_stop();
  t.join();
  EXPECT_TRUE(clean);
  EXPECT_EQ(Record().holder, "");
  EXPECT_EQ(a.stopped, 1);
}

TEST(LeaderElectionConfigTest, RejectsUnsafeDurations) {
  LeaderElectionConfig c{.lease_namespace = "ns", .lease_name = "l", .identity = "me"};
  EXPECT_TRUE(ValidateLeaderElectionConfig(c));
  c.renew_deadline = seconds(20);
  auto r = ValidateLeaderElectionConfig(c);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("two replicas"));
  c = {.lease_namespace = "ns", .lease_name = "l"};
  EXPECT_FALSE(ValidateLeaderElectionConfig(c));
}

TEST(LeaseRecordTest, MicroTimeRoundTrip) {
  TimePoint t = FakeClock::DefaultStart() + std::chrono::microseconds(742646);
  EXPECT_EQ(FormatMicroTime(t), "2026-06-15T03:00:00.742646Z");
  LeaseRecord r{.holder = "x",
                .lease_duration_seconds = 15,
                .acquire_time = t,
                .renew_time = t,
                .lease_transitions = 3};
  LeaseRecord back = ParseLeaseRecord({{"spec", LeaseRecordToSpec(r)}});
  EXPECT_EQ(back.holder, "x");
  EXPECT_EQ(back.renew_time, t);
  EXPECT_EQ(back.lease_transitions, 3);
}

}  // namespace
}  // namespace tether::kube
