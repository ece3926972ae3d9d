#include "engine/prefill_pacer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "base/error.h"

namespace gemma {
namespace {

TEST(PrefillPacer, GivesTheFallbackUntilBothTimesAreMeasured) {
  PrefillPacer pacer(3);
  EXPECT_EQ(pacer.PromptRows(64), 64u);
  EXPECT_EQ(pacer.PromptRows(0), 0u);  // no cap stays no cap
  pacer.Record(8, 0, 0.1);             // a step that only generates
  EXPECT_EQ(pacer.PromptRows(64), 64u);
  pacer.Record(8, 10, 0.05);  // faster than a step without prompt rows: teaches nothing
  EXPECT_EQ(pacer.PromptRows(64), 64u);
  EXPECT_EQ(pacer.prompt_row_seconds(), 0.0);
}

TEST(PrefillPacer, FitsThePromptRowsIntoTheAllowedPause) {
  PrefillPacer pacer(3);
  pacer.Record(8, 0, 0.1);     // generating: 100 ms a step
  pacer.Record(0, 512, 5.12);  // a prompt alone: 10 ms a row
  EXPECT_DOUBLE_EQ(pacer.generate_step_seconds(), 0.1);
  EXPECT_DOUBLE_EQ(pacer.prompt_row_seconds(), 0.01);
  EXPECT_EQ(pacer.PromptRows(64), 20u);  // (3 - 1) x 100 ms / 10 ms
  EXPECT_EQ(pacer.PromptRows(0), 20u);
  EXPECT_EQ(pacer.PromptRows(12), 12u);  // the fixed cap still caps
  // A mixed step says a row adds 20 ms: the estimate moves a fifth of the way.
  pacer.Record(8, 20, 0.1 + 20 * 0.02);
  EXPECT_DOUBLE_EQ(pacer.prompt_row_seconds(), 0.012);
  EXPECT_EQ(pacer.PromptRows(64), 16u);  // 0.2 / 0.012 = 16.7
  // Only the first prompt-only step starts the row estimate; mixed steps refine it.
  pacer.Record(0, 4, 1.0);
  EXPECT_DOUBLE_EQ(pacer.prompt_row_seconds(), 0.012);
}

TEST(PrefillPacer, AlwaysLetsAPromptMoveAndNeverOverflows) {
  PrefillPacer slow(1.5);
  slow.Record(1, 0, 0.001);
  slow.Record(0, 1, 10.0);
  EXPECT_EQ(slow.PromptRows(64), 1u);
  EXPECT_EQ(slow.PromptRows(0), 1u);
  PrefillPacer fast(1000);
  fast.Record(1, 0, 100.0);
  fast.Record(0, 1, 1e-300);
  EXPECT_EQ(fast.PromptRows(64), 64u);
  EXPECT_EQ(fast.PromptRows(0), 1000000000u);
}

TEST(PrefillPacer, IgnoresMeaninglessTimes) {
  PrefillPacer pacer(2);
  for (const double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    pacer.Record(8, 0, bad);
    pacer.Record(0, 8, bad);
  }
  EXPECT_EQ(pacer.generate_step_seconds(), 0.0);
  EXPECT_EQ(pacer.prompt_row_seconds(), 0.0);
}

TEST(PrefillPacer, RefusesASlowdownThatIsNotAboveOne) {
  for (const double bad :
       {1.0, 0.5, 0.0, -2.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW(PrefillPacer{bad}, Error) << bad;
  }
}

// A simulated machine, step time = 20 ms + 4 ms per generated row + 7 ms per prompt row with
// ±5% noise: while a long prompt is computed beside 8 generating sequences, the steps stay
// within the slowdown of the steps that only generate (give or take the noise), and the
// prompt gets nearly all the rows the bound allows.
TEST(PrefillPacer, KeepsMixedStepsWithinTheSlowdownOnASimulatedMachine) {
  const double slowdown = 2.5;
  PrefillPacer pacer(slowdown);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> noise(0.95, 1.05);
  const auto step_seconds = [&](size_t generated, size_t prompt) {
    return (0.020 + 0.004 * double(generated) + 0.007 * double(prompt)) * noise(rng);
  };
  const double generate_only = 0.020 + 0.004 * 8;
  pacer.Record(0, 128, step_seconds(0, 128));  // the clients' own prompts first
  for (int i = 0; i < 5; ++i) pacer.Record(8, 0, step_seconds(8, 0));
  size_t prompt_left = 2048, steps = 0, rows_at_step_30 = 0;
  double worst = 0;
  while (prompt_left > 0) {
    const size_t rows = std::min(prompt_left, pacer.PromptRows(64));
    ASSERT_GE(rows, 1u);
    const double seconds = step_seconds(8, rows);
    pacer.Record(8, rows, seconds);
    prompt_left -= rows;
    if (++steps > 10) worst = std::max(worst, seconds / generate_only);
    if (steps == 30) rows_at_step_30 = rows;
    if (steps % 4 == 0) pacer.Record(8, 0, step_seconds(8, 0));  // a step between chunks
  }
  EXPECT_LE(worst, slowdown * 1.06);  // measured 1.042: the noise
  // The bound allows (2.5 - 1) x 52 ms / 7 ms = 11.1 rows a step.
  EXPECT_GE(rows_at_step_30, 10u);  // measured 11
  EXPECT_LE(rows_at_step_30, 12u);
}

}  // namespace
}  // namespace gemma
