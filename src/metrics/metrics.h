// Prometheus metrics: a small registry of counter, gauge and histogram families with label
// names, rendered in the text exposition format 0.0.4 for /metrics.
//
//   auto& reconciles = registry.AddCounter("tether_reconcile_total", "Reconciles.",
//                                          {"controller", "result"});
//   reconciles.WithLabels({"deps", "success"})->Inc();
//
// A family hands out series as shared_ptr: callers may cache the pointer and increment it with
// one atomic operation. Remove(labels) drops a series from the exposition (e.g. when the object
// it describes is deleted); a caller still holding it keeps a detached, harmless series.
// Gauges may carry a callback evaluated at scrape time.
//
// Thread-safety: every class here is safe to use from any thread. Serialize() may run
// concurrently with increments (each sample is read atomically; a scrape is not a snapshot).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tether::metrics {

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  // Adds `v` (must be >= 0; negative values are ignored: counters never go down).
  void Inc(double v = 1.0);
  [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v);
  void Inc(double v = 1.0);
  void Dec(double v = 1.0) { Inc(-v); }
  // Computes the value at scrape time instead; `fn` must be cheap and thread-safe. An empty
  // function goes back to the stored value.
  void SetCallback(std::function<double()> fn);
  [[nodiscard]] double Value() const;

 private:
  std::atomic<double> value_{0.0};
  mutable std::mutex mu_;  // guards callback_ only
  std::function<double()> callback_;
  std::atomic<bool> has_callback_{false};
};

class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf as the last element
    double sum = 0;
    std::uint64_t count = 0;
  };
  [[nodiscard]] Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (last: +Inf)
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Default buckets for durations in seconds (Prometheus client defaults, 5 ms .. 10 s).
std::vector<double> DefaultDurationBuckets();
// `count` buckets starting at `start`, each `factor` times the previous.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// Type-erased base so the registry can render any family.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names,
             MetricType type)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        type_(type) {}
  virtual ~FamilyBase() = default;
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& help() const { return help_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const { return label_names_; }
  [[nodiscard]] MetricType type() const { return type_; }
  // Appends this family's HELP, TYPE and samples to `out`.
  virtual void Render(std::string* out) const = 0;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  MetricType type_;
};

// Per-type sample rendering used by Family<M>::Render.
void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Counter& c, std::string* out);
void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Gauge& g, std::string* out);
void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Histogram& h, std::string* out);
void RenderHeader(const FamilyBase& family, std::string* out);

template <typename M>
class Family final : public FamilyBase {
 public:
  using Factory = std::function<std::shared_ptr<M>()>;
  Family(std::string name, std::string help, std::vector<std::string> label_names, MetricType type,
         Factory factory)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        factory_(std::move(factory)) {}

  // The series for these label values, created on first use. Missing values are treated as
  // "", extra values are ignored (a programming error, not worth crashing a controller for).
  std::shared_ptr<M> WithLabels(LabelValues values) {
    values.resize(label_names().size());
    std::lock_guard lock(mu_);
    auto& slot = series_[values];
    if (!slot) slot = factory_();
    return slot;
  }
  // Drops the series from the exposition. Returns whether it existed.
  bool Remove(LabelValues values) {
    values.resize(label_names().size());
    std::lock_guard lock(mu_);
    return series_.erase(values) > 0;
  }
  // Drops every series.
  void Clear() {
    std::lock_guard lock(mu_);
    series_.clear();
  }
  [[nodiscard]] std::size_t Size() const {
    std::lock_guard lock(mu_);
    return series_.size();
  }
  void Render(std::string* out) const override {
    RenderHeader(*this, out);
    std::lock_guard lock(mu_);
    for (const auto& [values, series] : series_) {
      RenderSeries(name(), label_names(), values, *series, out);
    }
  }

 private:
  Factory factory_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::shared_ptr<M>> series_;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the existing one of that name when type and label names
  // match (so every work queue can ask for "tether_workqueue_depth"). A clashing
  // re-registration is logged and gets a detached family that is never rendered.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds = DefaultDurationBuckets());

  // Text exposition format 0.0.4; families in name order, series in label-value order.
  [[nodiscard]] std::string Serialize() const;

  // The process-wide registry served on /metrics.
  static Registry& Default();

 private:
  FamilyBase* Find(const std::string& name, MetricType type,
                   const std::vector<std::string>& label_names);
  template <typename M>
  Family<M>& Add(const std::string& name, const std::string& help,
                 std::vector<std::string> label_names, MetricType type,
                 typename Family<M>::Factory factory);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
  std::vector<std::unique_ptr<FamilyBase>> detached_;
};

// Content-Type of Serialize()'s output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposition helpers (exposed for tests and for other exporters).
std::string EscapeLabelValue(std::string_view v);  // \ " and newline
std::string EscapeHelp(std::string_view v);        // \ and newline
std::string FormatValue(double v);                 // Go-compatible: +Inf, -Inf, NaN, shortest
// {a="x",b="y"} (empty string for no labels); `extra` is appended (e.g. le="0.5").
std::string FormatLabels(const std::vector<std::string>& names, const LabelValues& values,
                         std::string_view extra_name = {}, std::string_view extra_value = {});

}  // namespace tether::metrics
