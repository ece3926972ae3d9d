// A progress bar on stderr for long runs (perplexity, eval): "[####------] 40/100 <what>
// ETA 1:23". On a terminal one line is redrawn (at most 10 times a second); into a file or
// pipe a line is written every `every_seconds` and at the end, so logs stay short.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "apps/gemma-rt/error_output.h"

namespace gemma::cli {

// "1:02:03" or "2:03".
inline std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const long total = static_cast<long>(seconds + 0.5);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld:%02ld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld", total / 60, total % 60);
  }
  return buffer;
}

class ProgressLine {
 public:
  explicit ProgressLine(double every_seconds = 10.0)
      : terminal_(::isatty(STDERR_FILENO) == 1), every_seconds_(every_seconds) {}

  // `done` of `total` after `seconds`; `detail` follows the count.
  void Update(size_t done, size_t total, double seconds, const std::string& detail) {
    const bool last = done >= total;
    const double since = seconds - printed_at_;
    if (!last && printed_ && since < (terminal_ ? 0.1 : every_seconds_)) return;
    printed_ = true;
    printed_at_ = seconds;
    constexpr int kWidth = 24;
    const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '-');
    const double eta = done == 0 ? -1 : seconds / static_cast<double>(done) * (total - done);
    std::fprintf(stderr, "%s[%s] %zu/%zu %s  %s %s%s", terminal_ ? "\r" : "", bar.c_str(), done,
                 total, detail.c_str(), last ? "took" : "ETA",
                 FormatDuration(last ? seconds : eta).c_str(),
                 terminal_ && !last ? "\x1b[K" : "\n");
    std::fflush(stderr);
    SetStderrLineOpen(terminal_ && !last);  // an error line then starts on a line of its own
  }

 private:
  bool terminal_;
  double every_seconds_;
  bool printed_ = false;
  double printed_at_ = 0;
};

}  // namespace gemma::cli
