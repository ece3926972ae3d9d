#include "engine/prefill_pacer.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace gemma {
namespace {

// Weight of the newest measurement in each running estimate: a few steps follow a change
// (more sequences generating, a longer context), one noisy step moves it by a fifth.
constexpr double kNewWeight = 0.2;

void Blend(double& estimate, double sample) {
  estimate = estimate == 0 ? sample : estimate + kNewWeight * (sample - estimate);
}

}  // namespace

PrefillPacer::PrefillPacer(double slowdown) : slowdown_(slowdown) {
  if (!(slowdown > 1) || !std::isfinite(slowdown)) {
    Fail(ErrorCode::kInvalidArgument, "prefill pacing: the slowdown must be a number above 1, not ",
         slowdown);
  }
}

size_t PrefillPacer::PromptRows(size_t fallback) const {
  if (generate_step_seconds_ == 0 || prompt_row_seconds_ == 0) return fallback;
  const double rows = (slowdown_ - 1) * generate_step_seconds_ / prompt_row_seconds_;
  // Compared as doubles first: the quotient of a tiny row time can exceed size_t.
  const double bound = fallback == 0 ? 1e9 : static_cast<double>(fallback);
  return std::max<size_t>(1, static_cast<size_t>(std::min(std::floor(rows), bound)));
}

void PrefillPacer::Record(size_t generated_rows, size_t prompt_rows, double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return;
  if (prompt_rows == 0) {
    if (generated_rows > 0) Blend(generate_step_seconds_, seconds);
    return;
  }
  if (generated_rows == 0) {
    // A prompt-only step: its time per row, weight reads included, is an upper bound of
    // what a row adds to a step that reads the weights anyway; a start until mixed steps
    // are measured.
    if (prompt_row_seconds_ == 0) prompt_row_seconds_ = seconds / double(prompt_rows);
    return;
  }
  if (generate_step_seconds_ == 0) return;
  const double added = (seconds - generate_step_seconds_) / double(prompt_rows);
  // A step faster than the estimate of one without prompt rows says only that the machine
  // was quicker this time; it teaches nothing about the rows.
  if (added > 0) Blend(prompt_row_seconds_, added);
}

}  // namespace gemma
