#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gemma_rt::server {
namespace {

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buffer[64];
  // The shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, end);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                       bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[i];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot s{.bounds = bounds_, .sum = sum_};
  uint64_t total = 0;
  for (const uint64_t c : counts_) s.cumulative.push_back(total += c);
  s.count = total;
  return s;
}

void PrometheusWriter::Header(const std::string& name, const std::string& help, const char* type) {
  text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusWriter::Gauge(const std::string& name, const std::string& help, double value) {
  Header(name, help, "gauge");
  text_ += name + " " + Number(value) + "\n";
}

void PrometheusWriter::Counter(const std::string& name, const std::string& help, double value) {
  Header(name, help, "counter");
  text_ += name + " " + Number(value) + "\n";
}

void PrometheusWriter::LabeledCounter(const std::string& name, const std::string& help,
                                      const std::string& label,
                                      const std::map<std::string, uint64_t>& values) {
  Header(name, help, "counter");
  for (const auto& [key, value] : values) {
    text_ += name + "{" + label + "=\"" + key + "\"} " + Number(double(value)) + "\n";
  }
}

void PrometheusWriter::HistogramFamily(const std::string& name, const std::string& help,
                                       const Histogram::Snapshot& h) {
  Header(name, help, "histogram");
  for (size_t i = 0; i <= h.bounds.size(); ++i) {
    const std::string le = i < h.bounds.size() ? Number(h.bounds[i]) : "+Inf";
    text_ += name + "_bucket{le=\"" + le + "\"} " + Number(double(h.cumulative[i])) + "\n";
  }
  text_ += name + "_sum " + Number(h.sum) + "\n";
  text_ += name + "_count " + Number(double(h.count)) + "\n";
}

void RateWindow::Add(double seconds, double total) {
  std::lock_guard lock(mutex_);
  samples_.emplace_back(seconds, total);
  // Keep one sample at or before the window's start, so the rate covers the whole window.
  while (samples_.size() > 2 && samples_[1].first <= seconds - window_) {
    samples_.erase(samples_.begin());
  }
}

double RateWindow::rate() const {
  std::lock_guard lock(mutex_);
  if (samples_.size() < 2) return 0;
  const double dt = samples_.back().first - samples_.front().first;
  return dt > 0 ? (samples_.back().second - samples_.front().second) / dt : 0;
}

ServerMetrics::ServerMetrics()
    : request_seconds({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      first_token_seconds({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}) {}

void ServerMetrics::CountStatus(int status) {
  std::lock_guard lock(status_mutex);
  ++responses_by_status[std::to_string(status)];
}

}  // namespace gemma_rt::server
