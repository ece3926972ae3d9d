// The server's metrics and their Prometheus text exposition (format 0.0.4: "# HELP" and
// "# TYPE" lines, then samples). Counters and histograms are updated from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gemma_rt::server {

// A histogram with fixed upper bounds (seconds), thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, then +Inf (not cumulative)
  double sum_ = 0;
};

// Writes metric families in the text format.
class PrometheusWriter {
 public:
  void Gauge(const std::string& name, const std::string& help, double value);
  void Counter(const std::string& name, const std::string& help, double value);
  // One family of counters with a label per sample: {label="key"} value.
  void LabeledCounter(const std::string& name, const std::string& help, const std::string& label,
                      const std::map<std::string, uint64_t>& values);
  void HistogramFamily(const std::string& name, const std::string& help,
                       const Histogram::Snapshot& h);
  const std::string& text() const { return text_; }

 private:
  void Header(const std::string& name, const std::string& help, const char* type);
  std::string text_;
};

// Rates over a sliding window of (time, total) samples: prefill and decode tokens/s.
class RateWindow {
 public:
  explicit RateWindow(double window_seconds) : window_(window_seconds) {}
  // Adds a sample of a monotonic total at `seconds` and returns the rate over the window.
  void Add(double seconds, double total);
  double rate() const;

 private:
  mutable std::mutex mutex_;
  double window_;
  std::vector<std::pair<double, double>> samples_;
};

// What the HTTP side counts (the engine's own figures come from EngineStats).
struct ServerMetrics {
  ServerMetrics();
  Histogram request_seconds;      // from arrival to the last byte of a completion
  Histogram first_token_seconds;  // from arrival to the first generated token
  std::mutex status_mutex;
  std::map<std::string, uint64_t> responses_by_status;  // "200", "400", ...
  std::atomic<uint64_t> cancelled_by_disconnect{0};
  void CountStatus(int status);
};

}  // namespace gemma_rt::server
