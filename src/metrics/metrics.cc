#include "metrics/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "common/log.h"

namespace tether::metrics {

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // also rejects NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::Set(double v) { value_.store(v, std::memory_order_relaxed); }
void Gauge::Inc(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

void Gauge::SetCallback(std::function<double()> fn) {
  std::lock_guard lock(mu_);
  has_callback_.store(static_cast<bool>(fn), std::memory_order_relaxed);
  callback_ = std::move(fn);
}

double Gauge::Value() const {
  if (has_callback_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(mu_);
    if (callback_) return callback_();
  }
  return value_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  // Keep only a strictly increasing, finite prefix: a malformed bucket list must not produce
  // an exposition Prometheus rejects.
  std::vector<double> clean;
  for (double b : bounds_) {
    if (!std::isfinite(b)) continue;
    if (!clean.empty() && b <= clean.back()) continue;
    clean.push_back(b);
  }
  bounds_ = std::move(clean);
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The count is the +Inf bucket so that _count always equals the +Inf bucket in one scrape.
  s.count = running;
  return s;
}

std::vector<double> DefaultDurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i) {
    out.push_back(v);
    v *= factor;
  }
  return out;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string FormatLabels(const std::vector<std::string>& names, const LabelValues& values,
                         std::string_view extra_name, std::string_view extra_value) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(i < values.size() ? values[i] : std::string());
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += EscapeLabelValue(extra_value);
    out += '"';
  }
  out += '}';
  return out;
}

void RenderHeader(const FamilyBase& family, std::string* out) {
  static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name(), EscapeHelp(family.help()),
                      family.name(), kTypeNames[static_cast<int>(family.type())]);
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Counter& c, std::string* out) {
  *out += fmt::format("{}{} {}\n", name, FormatLabels(label_names, values), FormatValue(c.Value()));
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Gauge& g, std::string* out) {
  *out += fmt::format("{}{} {}\n", name, FormatLabels(label_names, values), FormatValue(g.Value()));
}

void RenderSeries(const std::string& name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Histogram& h, std::string* out) {
  Histogram::Snapshot s = h.Read();
  for (std::size_t i = 0; i < s.bounds.size(); ++i) {
    *out += fmt::format("{}_bucket{} {}\n", name,
                        FormatLabels(label_names, values, "le", FormatValue(s.bounds[i])),
                        s.cumulative[i]);
  }
  *out += fmt::format("{}_bucket{} {}\n", name, FormatLabels(label_names, values, "le", "+Inf"),
                      s.cumulative.back());
  *out += fmt::format("{}_sum{} {}\n", name, FormatLabels(label_names, values), FormatValue(s.sum));
  *out += fmt::format("{}_count{} {}\n", name, FormatLabels(label_names, values), s.count);
}

FamilyBase* Registry::Find(const std::string& name, MetricType type,
                           const std::vector<std::string>& label_names) {
  auto it = families_.find(name);
  if (it == families_.end()) return nullptr;
  if (it->second->type() == type && it->second->label_names() == label_names) {
    return it->second.get();
  }
  log::Error(
      "metric registered twice with a different type or labels; the second "
      "registration is not exported (fix the metric definition)",
      {{"metric", name}});
  return nullptr;
}

template <typename M>
Family<M>& Registry::Add(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names, MetricType type,
                         typename Family<M>::Factory factory) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (FamilyBase* existing = Find(name, type, label_names)) {
      return static_cast<Family<M>&>(*existing);
    }
    auto detached =
        std::make_unique<Family<M>>(name, help, std::move(label_names), type, std::move(factory));
    auto* raw = detached.get();
    detached_.push_back(std::move(detached));
    return *raw;
  }
  auto family =
      std::make_unique<Family<M>>(name, help, std::move(label_names), type, std::move(factory));
  auto* raw = family.get();
  families_.emplace(name, std::move(family));
  return *raw;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return Add<Counter>(name, help, std::move(label_names), MetricType::kCounter,
                      [] { return std::make_shared<Counter>(); });
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, std::move(label_names), MetricType::kGauge,
                    [] { return std::make_shared<Gauge>(); });
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  return Add<Histogram>(
      name, help, std::move(label_names), MetricType::kHistogram,
      [bounds = std::move(bounds)] { return std::make_shared<Histogram>(bounds); });
}

std::string Registry::Serialize() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  // Families are never removed from a registry, so rendering outside the lock is safe; it
  // keeps a slow gauge callback from blocking registrations.
  std::string out;
  for (const FamilyBase* f : families) f->Render(&out);
  return out;
}

Registry& Registry::Default() {
  static Registry* registry = new Registry();  // never destroyed: used from detached threads
  return *registry;
}

}  // namespace tether::metrics
