// How many prompt rows a step may take while other sequences generate, from the step times
// the engine measures as it runs.
//
// Every generating sequence waits for the whole step, so a step that also computes part of a
// new prompt is a pause in all their streams. A fixed number of rows bounds that pause only on
// the machine it was chosen for (64 rows cost a few milliseconds on a large server and most of
// a second on two cores). The pacer bounds it in time instead: a step with prompt rows should
// take at most `slowdown` times a step without them. It keeps two running estimates, the time
// of a step that only generates and the time one prompt row adds, and gives prompts the rows
// that fit in the difference, at least one, so a prompt always moves on.
#pragma once

#include <cstddef>

namespace gemma {

class PrefillPacer {
 public:
  // slowdown > 1 (Error kInvalidArgument otherwise).
  explicit PrefillPacer(double slowdown);

  // Prompt rows for a step in which sequences also generate: `fallback` until both estimates
  // exist, then the rows that keep the step within the slowdown (>= 1, <= fallback when
  // fallback is not 0).
  size_t PromptRows(size_t fallback) const;

  // A finished step: `generated_rows` rows of sequences that generate, `prompt_rows` prompt
  // rows, `seconds` its forward pass.
  void Record(size_t generated_rows, size_t prompt_rows, double seconds);

  double generate_step_seconds() const { return generate_step_seconds_; }  // 0: not yet known
  double prompt_row_seconds() const { return prompt_row_seconds_; }        // 0: not yet known

 private:
  double slowdown_;
  double generate_step_seconds_ = 0;
  double prompt_row_seconds_ = 0;
};

}  // namespace gemma
