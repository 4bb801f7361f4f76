#include "deps/notifier.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/log.h"

namespace tether::deps {

using nlohmann::json;

struct Notifier::State : std::enable_shared_from_this<Notifier::State> {
  NotifierOptions options;
  std::shared_ptr<metrics::Counter> ok;
  std::shared_ptr<metrics::Counter> failed;

  struct Job {
    Delivery delivery;
    int attempt = 0;  // attempts already made
    std::function<void(const Result<void>&)> done;
  };

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> ready;
  std::set<Clock::TimerId> timers;
  bool stopping = false;
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<std::jthread> threads;

  Result<void> Attempt(const Delivery& d) const;
  void Loop();
};

namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

std::string SignatureHeader(std::string_view key, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  std::string out = "sha256=";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

Result<void> Notifier::State::Attempt(const Delivery& d) const {
  if (d.url.rfind("http://", 0) != 0 && d.url.rfind("https://", 0) != 0) {
    return Fail(ErrorCode::kInvalid, "notification URL for " + d.description +
                                         " is not http(s); fix spec.notify.webhook or the "
                                         "referenced Secret");
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string sig;
  if (!d.signing_key.empty()) {
    sig = "X-Tether-Signature: " + SignatureHeader(d.signing_key, d.body);
    headers = curl_slist_append(headers, sig.c_str());
  }
  curl_easy_setopt(curl.get(), CURLOPT_URL, d.url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, d.body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(d.body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Discard);
  CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // The URL may hold a secret (Slack hook tokens): name the notification, not the URL.
    return Fail(rc == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                "notification " + d.description + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    Error e(ErrorCodeFromHttp(static_cast<int>(status), ""),
            fmt::format("notification {}: receiver answered HTTP {}", d.description, status));
    e.http_status = static_cast<int>(status);
    return Fail(std::move(e));
  }
  return {};
}

void Notifier::State::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopping || !ready.empty(); });
      if (stopping) return;
      job = std::move(ready.front());
      ready.pop_front();
    }
    Result<void> r = Attempt(job.delivery);
    ++job.attempt;
    if (r) {
      ok->Inc();
      if (job.done) job.done(r);
      continue;
    }
    const bool permanent = r.error().code == ErrorCode::kInvalid;
    if (permanent || job.attempt > static_cast<int>(options.backoff.size())) {
      failed->Inc();
      log::Warn("notification delivery failed", {{"notification", job.delivery.description},
                                                 {"attempts", job.attempt},
                                                 {"error", r.error().message}});
      if (job.done) job.done(r);
      continue;
    }
    std::unique_lock lock(mu);
    if (stopping) return;
    Duration delay = options.backoff[job.attempt - 1];
    std::uniform_real_distribution<double> dist(0.0, options.jitter);
    delay += std::chrono::duration_cast<Duration>(delay * dist(rng));
    // The timer may fire after the Notifier is gone: it holds the State weakly.
    auto id = std::make_shared<Clock::TimerId>(0);
    std::weak_ptr<State> weak = weak_from_this();
    auto shared_job = std::make_shared<Job>(std::move(job));
    lock.unlock();
    Clock::TimerId tid = options.clock->ScheduleAfter(delay, [weak, shared_job, id] {
      auto self = weak.lock();
      if (!self) return;
      std::lock_guard l(self->mu);
      self->timers.erase(*id);
      if (self->stopping) return;
      self->ready.push_back(std::move(*shared_job));
      self->cv.notify_one();
    });
    lock.lock();
    *id = tid;
    if (stopping) {
      options.clock->Cancel(tid);
    } else {
      timers.insert(tid);
    }
  }
}

Notifier::Notifier(NotifierOptions options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  auto* reg = state_->options.registry ? state_->options.registry : &metrics::Registry::Default();
  auto& fam =
      reg->AddCounter("tether_notifications_total",
                      "WorkloadDependency notification deliveries by final result.", {"result"});
  state_->ok = fam.WithLabels({"success"});
  state_->failed = fam.WithLabels({"failure"});
  int n = std::max(1, state_->options.threads);
  for (int i = 0; i < n; ++i) {
    state_->threads.emplace_back([s = state_.get()] { s->Loop(); });
  }
}

Notifier::~Notifier() { Stop(); }

void Notifier::Send(Delivery delivery, std::function<void(const Result<void>&)> done) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->stopping) {
      state_->ready.push_back({std::move(delivery), 0, std::move(done)});
      state_->cv.notify_one();
      return;
    }
  }
  if (done) done(Fail(ErrorCode::kCancelled, "notifier stopped"));
}

void Notifier::Stop() {
  std::set<Clock::TimerId> timers;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping && state_->threads.empty()) return;
    state_->stopping = true;
    timers.swap(state_->timers);
    state_->cv.notify_all();
  }
  for (auto id : timers) state_->options.clock->Cancel(id);
  state_->threads.clear();  // joins (an in-flight attempt ends within its timeout)
  std::lock_guard lock(state_->mu);
  state_->ready.clear();
}

namespace {

json DependenciesJson(const std::vector<DependencyStatus>& deps) {
  json out = json::array();
  for (const auto& d : deps) {
    json e = {{"ref", d.ref}, {"state", std::string(DepStateName(d.state))}};
    if (d.ready) e["ready"] = *d.ready;
    if (d.desired) e["desired"] = *d.desired;
    if (!d.message.empty()) e["message"] = d.message;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

json NotificationJson(const NotificationContext& c) {
  json j = {{"workloadDependency", c.wd_name},
            {"namespace", c.wd_namespace},
            {"phase", std::string(PhaseName(c.phase))},
            {"dependent", c.dependent.name},
            {"dependentKind", std::string(KindName(c.dependent.kind))},
            {"message", c.message},
            {"dependencies", DependenciesJson(c.dependencies)},
            {"timestamp", FormatRfc3339(c.timestamp)}};
  j["previousPhase"] = c.previous_phase ? json(std::string(PhaseName(*c.previous_phase))) : json();
  return j;
}

json NotificationSlack(const NotificationContext& c) {
  std::string text = fmt::format(
      "*{}/{}*: {} → *{}* — {} {}", c.wd_namespace, c.wd_name,
      c.previous_phase ? std::string(PhaseName(*c.previous_phase)) : std::string("(none)"),
      PhaseName(c.phase), c.dependent.KindSlashName(), c.message.empty() ? "" : "· " + c.message);
  for (const auto& d : c.dependencies) {
    text += fmt::format("\n• {}: {}", d.ref, DepStateName(d.state));
    if (!d.message.empty()) text += " (" + d.message + ")";
  }
  return json{{"text", text}};
}

}  // namespace tether::deps
