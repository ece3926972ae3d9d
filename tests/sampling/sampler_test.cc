// Samplers against hand-computed expectations. With logits {1, 2, 3, 4} the softmax is
// e^i / (e + e^2 + e^3 + e^4) = {0.0321, 0.0871, 0.2369, 0.6439}.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "base/error.h"
#include "sampling/sampler.h"

namespace gemma {
namespace {

const std::vector<float> kLogits = {1.0f, 2.0f, 3.0f, 4.0f};

std::vector<int32_t> Surviving(SamplerStep& step, std::vector<float> logits,
                               std::span<const int32_t> history = {}) {
  Candidates c;
  c.Reset(logits);
  step.Apply(c, history);
  std::vector<int32_t> ids;
  for (const Candidate& x : c.items) ids.push_back(x.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Greedy, TakesTheLargestLogitAndTheLowerIdOnTies) {
  SamplerChain greedy = MakeSampler({.temperature = 0.0f});
  EXPECT_EQ(greedy.Sample(kLogits, {}), 3);
  const std::vector<float> tie = {0.5f, 7.0f, -1.0f, 7.0f};
  EXPECT_EQ(greedy.Sample(tie, {}), 1);
}

TEST(TopK, KeepsTheKLargest) {
  auto step = TopK(2);
  EXPECT_EQ(Surviving(*step, kLogits), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(Surviving(*TopK(10), kLogits), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_THROW(TopK(0), Error);
}

TEST(TopP, KeepsTheSmallestPrefixReachingP) {
  // 0.6439 < 0.6 is false: p = 0.6 keeps only id 3.
  EXPECT_EQ(Surviving(*TopP(0.6f), kLogits), (std::vector<int32_t>{3}));
  // 0.6439 < 0.7, 0.6439 + 0.2369 = 0.8808 >= 0.7: ids 2 and 3.
  EXPECT_EQ(Surviving(*TopP(0.7f), kLogits), (std::vector<int32_t>{2, 3}));
  // 0.8808 < 0.9, + 0.0871 = 0.9679: ids 1, 2, 3.
  EXPECT_EQ(Surviving(*TopP(0.9f), kLogits), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_THROW(TopP(0.0f), Error);
  EXPECT_THROW(TopP(1.5f), Error);
}

// The reference top-p: a full sort, then the shortest prefix whose probabilities reach p
// (normalized over every candidate, the sum taken in the candidates' order before sorting).
std::vector<int32_t> FullSortTopP(const std::vector<Candidate>& items, float p) {
  float max = items[0].logit;
  for (const Candidate& c : items) max = std::max(max, c.logit);
  double total = 0.0;
  for (const Candidate& c : items) total += std::exp(c.logit - max);
  const float inv = static_cast<float>(1.0 / total);
  std::vector<Candidate> sorted = items;
  std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  });
  std::vector<int32_t> kept;
  double sum = 0.0;
  for (const Candidate& c : sorted) {
    kept.push_back(c.id);
    sum += std::exp(c.logit - max) * inv;
    if (sum >= p) break;
  }
  return kept;
}

TEST(TopP, KeepsExactlyWhatAFullSortKeeps) {
  std::mt19937 rng(7);
  for (size_t size : {1u, 2u, 63u, 64u, 65u, 257u, 5000u, 256000u}) {
    for (float scale : {0.5f, 3.0f, 12.0f}) {
      std::normal_distribution<float> normal(0.0f, scale);
      std::vector<float> logits(size);
      // Rounded to a coarse grid so that many logits tie and the id order decides.
      for (float& x : logits) x = std::round(normal(rng) * 8.0f) / 8.0f;
      for (float p : {0.05f, 0.5f, 0.9f, 0.95f, 0.999f, 0.99999f}) {
        Candidates c;
        c.Reset(logits);
        const std::vector<int32_t> expected = FullSortTopP(c.items, p);
        TopP(p)->Apply(c, {});
        std::vector<int32_t> kept;
        for (const Candidate& x : c.items) kept.push_back(x.id);
        ASSERT_EQ(kept, expected) << "size " << size << " scale " << scale << " p " << p;
        ASSERT_TRUE(c.sorted);
      }
    }
  }
}

TEST(Greedy, WithoutStepsEqualsTheCandidateListsArgmax) {
  // The plain greedy path skips the candidate list; a chain with a step that changes
  // nothing (a zero bias) goes through it. Both must agree, ties included.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> level(-20, 20);
  SamplerChain plain = MakeSampler({.temperature = 0.0f});
  SamplerChain listed = MakeSampler({.temperature = 0.0f, .logit_bias = {{0, 0.0f}}});
  for (size_t size : {1u, 3u, 1000u, 256000u}) {
    std::vector<float> logits(size);
    for (float& x : logits) x = static_cast<float>(level(rng)) / 4.0f;
    EXPECT_EQ(plain.Sample(logits, {}), listed.Sample(logits, {})) << size;
  }
}

TEST(MinP, KeepsIdsWithinAFractionOfTheMostLikely) {
  // Relative to p(3) = 0.6439: id 2 is e^-1 = 0.368, id 1 is e^-2 = 0.135, id 0 is 0.0498.
  EXPECT_EQ(Surviving(*MinP(0.3f), kLogits), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(Surviving(*MinP(0.1f), kLogits), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(Surviving(*MinP(0.4f), kLogits), (std::vector<int32_t>{3}));
  EXPECT_THROW(MinP(-0.1f), Error);
}

TEST(Temperature, DividesLogits) {
  Candidates c;
  c.Reset(kLogits);
  Temperature(0.5f)->Apply(c, {});
  EXPECT_FLOAT_EQ(c.items[3].logit, 8.0f);
  EXPECT_FLOAT_EQ(c.items[0].logit, 2.0f);
  EXPECT_THROW(Temperature(0.0f), Error);
  EXPECT_THROW(MakeSampler({.temperature = -1.0f}), Error);
}

TEST(RepetitionPenalty, DividesPositiveAndMultipliesNegativeLogitsOfSeenIds) {
  const std::vector<float> logits = {2.0f, -2.0f, 3.0f, 1.0f};
  const std::vector<int32_t> history = {0, 1, 0, 3};
  Candidates c;
  c.Reset(logits);
  RepetitionPenalty(2.0f, 3)->Apply(c, history);  // window of 3: ids {1, 0, 3}
  EXPECT_FLOAT_EQ(c.items[0].logit, 1.0f);
  EXPECT_FLOAT_EQ(c.items[1].logit, -4.0f);
  EXPECT_FLOAT_EQ(c.items[2].logit, 3.0f);  // not seen
  EXPECT_FLOAT_EQ(c.items[3].logit, 0.5f);
  // In a chain: once id 0 has been seen, its 3 becomes 1.5 and id 1 (2) wins.
  SamplerChain greedy = MakeSampler({.temperature = 0.0f, .repeat_penalty = 2.0f});
  const std::vector<float> tied = {3.0f, 2.0f};
  EXPECT_EQ(greedy.Sample(tied, std::vector<int32_t>{}), 0);
  EXPECT_EQ(greedy.Sample(tied, std::vector<int32_t>{0}), 1);  // 3 / 2 = 1.5 < 2
}

TEST(PresenceFrequencyPenalty, SubtractsPresenceAndCountTimesFrequencyOfSeenIds) {
  const std::vector<float> logits = {2.0f, -2.0f, 3.0f, 1.0f};
  const std::vector<int32_t> history = {2, 0, 1, 0, 3};  // window of 4: {0, 1, 0, 3}
  Candidates c;
  c.Reset(logits);
  PresenceFrequencyPenalty(0.5f, 0.25f, 4)->Apply(c, history);
  EXPECT_FLOAT_EQ(c.items[0].logit, 2.0f - 0.5f - 2 * 0.25f);
  EXPECT_FLOAT_EQ(c.items[1].logit, -2.0f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(c.items[2].logit, 3.0f);  // outside the window
  EXPECT_FLOAT_EQ(c.items[3].logit, 1.0f - 0.5f - 0.25f);
  // In a chain: a presence penalty of 2 turns a greedy repeat of id 0 into id 1.
  SamplingOptions o{.temperature = 0.0f};
  o.presence_penalty = 2.0f;
  SamplerChain greedy = MakeSampler(o);
  const std::vector<float> close = {3.0f, 2.0f};
  EXPECT_EQ(greedy.Sample(close, std::vector<int32_t>{}), 0);
  EXPECT_EQ(greedy.Sample(close, std::vector<int32_t>{0}), 1);  // 3 - 2 < 2
  // Negative values encourage repeats.
  o.presence_penalty = 0.0f;
  o.frequency_penalty = -2.0f;
  SamplerChain repeat = MakeSampler(o);
  EXPECT_EQ(repeat.Sample(std::vector<float>{2.0f, 3.0f}, std::vector<int32_t>{0}), 0);
  EXPECT_THROW(PresenceFrequencyPenalty(2.5f, 0.0f, 64), Error);
  EXPECT_THROW(PresenceFrequencyPenalty(0.0f, std::nanf(""), 64), Error);
}

// Frequencies of 40,000 draws from softmax(log{0.1, 0.2, 0.7}) lie within 5 standard
// deviations (sqrt(p (1 - p) / n) <= 0.0023) of the probabilities.
TEST(RandomPick, FollowsTheSoftmaxDistribution) {
  const std::vector<float> logits = {std::log(0.1f), std::log(0.2f), std::log(0.7f)};
  SamplerChain sampler = MakeSampler({.temperature = 1.0f, .seed = 1234});
  std::vector<int> counts(3);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[sampler.Sample(logits, {})];
  const double expected[] = {0.1, 0.2, 0.7};
  for (int id = 0; id < 3; ++id) {
    const double sigma = std::sqrt(expected[id] * (1 - expected[id]) / n);
    EXPECT_NEAR(counts[id] / double(n), expected[id], 5 * sigma) << "id " << id;
  }
}

TEST(RandomPick, TemperatureSharpensTheDistribution) {
  // At temperature 0.5, probabilities go as p^2: {0.01, 0.04, 0.49} / 0.54.
  const std::vector<float> logits = {std::log(0.1f), std::log(0.2f), std::log(0.7f)};
  SamplerChain sampler = MakeSampler({.temperature = 0.5f, .seed = 99});
  std::vector<int> counts(3);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[sampler.Sample(logits, {})];
  const double expected[] = {0.01 / 0.54, 0.04 / 0.54, 0.49 / 0.54};
  for (int id = 0; id < 3; ++id) {
    const double sigma = std::sqrt(expected[id] * (1 - expected[id]) / n);
    EXPECT_NEAR(counts[id] / double(n), expected[id], 5 * sigma) << "id " << id;
  }
}

TEST(RandomPick, TopKOneIsGreedyWhateverTheSeed) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SamplerChain sampler = MakeSampler({.temperature = 1.5f, .top_k = 1, .seed = seed});
    EXPECT_EQ(sampler.Sample(kLogits, {}), 3);
  }
}

TEST(RandomPick, TheSameSeedGivesTheSameSequenceAndAnotherSeedAnother) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i));
  auto draw = [&](uint64_t seed) {
    SamplerChain sampler = MakeSampler({.temperature = 1.0f, .top_p = 0.95f, .seed = seed});
    std::vector<int32_t> ids;
    for (int i = 0; i < 64; ++i) ids.push_back(sampler.Sample(logits, {}));
    return ids;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(RandomPick, NeverPicksWhatTheStepsRemoved) {
  SamplerChain sampler = MakeSampler({.temperature = 1.0f, .min_p = 0.3f, .seed = 5});
  for (int i = 0; i < 2000; ++i) {
    const int32_t id = sampler.Sample(kLogits, {});
    EXPECT_TRUE(id == 2 || id == 3) << id;
  }
}

TEST(LogitBias, AddsToTheNamedIdsBeforeEveryOtherStep) {
  // Greedy picks id 3 unaided; a bias lifts id 0 over it, a large negative one bans id 3.
  SamplerChain lift = MakeSampler({.temperature = 0.0f, .logit_bias = {{0, 100.0f}}});
  EXPECT_EQ(lift.Sample(kLogits, {}), 0);
  SamplerChain ban = MakeSampler({.temperature = 0.0f, .logit_bias = {{3, -100.0f}}});
  EXPECT_NE(ban.Sample(kLogits, {}), 3);
  // Before the penalty and the truncations: with top-k 1 the biased id is the one kept.
  SamplerChain first = MakeSampler({.temperature = 1.0f, .top_k = 1, .logit_bias = {{1, 50.0f}}});
  EXPECT_EQ(first.Sample(kLogits, {}), 1);
}

TEST(LogitBias, BadIdsAndValuesAreRefusedWithTheirName) {
  EXPECT_THROW(MakeSampler({.logit_bias = {{-1, 1.0f}}}), Error);
  EXPECT_THROW(MakeSampler({.logit_bias = {{0, std::nanf("")}}}), Error);
  SamplerChain outside = MakeSampler({.temperature = 0.0f, .logit_bias = {{1000, 1.0f}}});
  try {
    outside.Sample(kLogits, {});
    FAIL() << "a bias for id 1000 of a 4-id vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gemma
