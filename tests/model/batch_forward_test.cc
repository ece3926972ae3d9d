// The forward pass over batches of several sequences sharing one KV pool: each sequence's
// logits are those of the golden data (where it has them) and bit for bit those of the same
// sequence run alone, however its prompt is chunked and whatever else shares the batch
// (RowArithmetic::kRowInvariant, what the engine uses).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "model/forward.h"
#include "model/golden_support.h"
#include "model/kv_pool.h"
#include "model/sequence_kv.h"

namespace gemma {
namespace {

using testing::GoldenCase;
using testing::LoadGoldenCase;

// A sequence of the test: its tokens and its blocks in a shared pool.
struct Sequence {
  std::vector<int32_t> tokens;
  SequenceKV kv;
  size_t done = 0;  // positions computed
};

// Runs one step: for each (sequence, count) the next `count` tokens, logits for every row.
// Returns each entry's logits rows [count, vocab].
std::vector<std::vector<float>> Step(const ModelWeights& weights, KVPool& pool_kv,
                                     ForwardWorkspace& ws, ThreadPool& pool,
                                     std::vector<std::pair<Sequence*, size_t>> work) {
  const size_t vocab = weights.config.vocab_size;
  std::vector<int32_t> tokens;
  std::vector<Segment> segments;
  std::vector<std::vector<size_t>> wanted(work.size());
  size_t rows = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    auto& [s, count] = work[i];
    EXPECT_TRUE(s->kv.Reserve(count));
    tokens.insert(tokens.end(), s->tokens.begin() + long(s->done),
                  s->tokens.begin() + long(s->done + count));
    for (size_t t = 0; t < count; ++t) wanted[i].push_back(t);
    rows += count;
  }
  for (size_t i = 0; i < work.size(); ++i) {
    segments.push_back({.tokens = work[i].second,
                        .first_position = work[i].first->done,
                        .blocks = work[i].first->kv.blocks(),
                        .logits_for = wanted[i]});
  }
  std::vector<float> logits(rows * vocab);
  Forward(weights,
          {.tokens = tokens,
           .segments = segments,
           .logits = logits,
           .arithmetic = RowArithmetic::kRowInvariant},
          pool_kv, ws, pool);
  std::vector<std::vector<float>> out;
  size_t row = 0;
  for (auto& [s, count] : work) {
    s->kv.Commit(std::span(s->tokens).subspan(s->done, count));
    s->done += count;
    out.emplace_back(logits.begin() + long(row * vocab),
                     logits.begin() + long((row + count) * vocab));
    row += count;
  }
  return out;
}

// Every row's logits of `tokens` computed alone, in one call, in a pool of its own.
std::vector<float> Alone(const ModelWeights& weights, const std::vector<int32_t>& tokens,
                         ThreadPool& pool) {
  KVPool kv(weights.config, 64);
  ForwardWorkspace ws(weights.config, tokens.size());
  Sequence s{.tokens = tokens, .kv = SequenceKV(kv, false)};
  return Step(weights, kv, ws, pool, {{&s, tokens.size()}})[0];
}

std::vector<int32_t> RandomTokens(size_t n, std::mt19937& rng) {
  std::vector<int32_t> t = {2};
  while (t.size() < n) t.push_back(static_cast<int32_t>(3 + rng() % 500));
  return t;
}

TEST(BatchForward, EachSequenceGetsItsGoldenAndItsAloneLogitsInMixedBatches) {
  const GoldenCase g = LoadGoldenCase("tiny-2b-long");  // 200-token prompt
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  const size_t vocab = weights.config.vocab_size;
  ThreadPool pool(2);
  std::mt19937 rng(5);
  // The golden prompt plus its 16 greedy ids, and three random sequences.
  std::vector<int32_t> golden_tokens = g.prompt_ids;
  golden_tokens.insert(golden_tokens.end(), g.greedy_ids.begin(), g.greedy_ids.end());
  const std::vector<std::vector<int32_t>> all = {golden_tokens, RandomTokens(37, rng),
                                                 RandomTokens(5, rng), RandomTokens(90, rng)};
  std::vector<std::vector<float>> alone;
  for (const auto& tokens : all) alone.push_back(Alone(weights, tokens, pool));

  KVPool kv(weights.config, 64);
  ForwardWorkspace ws(weights.config, 256);
  std::vector<std::unique_ptr<Sequence>> seqs;
  for (const auto& tokens : all) {
    seqs.push_back(
        std::make_unique<Sequence>(Sequence{.tokens = tokens, .kv = SequenceKV(kv, false)}));
  }
  std::vector<std::vector<float>> got(all.size());
  auto record = [&](size_t i, const std::vector<float>& rows) {
    got[i].insert(got[i].end(), rows.begin(), rows.end());
  };
  // A schedule mixing prefill chunks of odd sizes and one-token decode steps.
  const std::vector<std::vector<std::pair<size_t, size_t>>> schedule = {
      {{0, 61}, {1, 3}},         {{1, 30}, {2, 5}, {0, 1}}, {{0, 100}, {2, 0}, {3, 7}},
      {{3, 1}, {1, 1}, {0, 38}}, {{0, 1}, {1, 1}, {3, 80}}, {{0, 15}, {1, 2}, {3, 2}},
  };
  for (const auto& step : schedule) {
    std::vector<std::pair<Sequence*, size_t>> work;
    std::vector<size_t> which;
    for (const auto& [i, count] : step) {
      if (count == 0) continue;
      work.emplace_back(seqs[i].get(), count);
      which.push_back(i);
    }
    const auto out = Step(weights, kv, ws, pool, work);
    for (size_t j = 0; j < which.size(); ++j) record(which[j], out[j]);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(seqs[i]->done, all[i].size()) << "the schedule covers sequence " << i;
    EXPECT_TRUE(got[i] == alone[i]) << "sequence " << i << ": batched logits differ from alone";
  }
  // The golden sequence against the reference, at its listed positions and greedy steps.
  for (size_t j = 0; j < g.logits_positions.size(); ++j) {
    const size_t p = g.logits_positions[j];
    float diff = 0;
    for (size_t v = 0; v < vocab; ++v) {
      diff = std::max(diff, std::abs(got[0][p * vocab + v] - g.logits[j][v]));
    }
    EXPECT_LE(diff, testing::kGoldenLogitsTolerance * g.max_abs_logit) << "position " << p;
  }
  for (size_t k = 0; k < g.greedy_ids.size(); ++k) {
    const size_t row = g.prompt_ids.size() - 1 + k;
    const auto begin = got[0].begin() + long(row * vocab);
    EXPECT_EQ(std::max_element(begin, begin + long(vocab)) - begin, g.greedy_ids[k]) << k;
  }
}

TEST(BatchForward, ASequenceSpreadOverScatteredBlocksOfASharedPool) {
  const GoldenCase g = LoadGoldenCase("tiny-7b-f32");
  const ModelWeights weights = LoadSafetensorsModel(g.dir);
  ThreadPool pool(3);
  const std::vector<float> alone = Alone(weights, g.prompt_ids, pool);
  // Another sequence takes blocks in between, so the golden one's blocks are not adjacent.
  KVPool kv(weights.config, 16, /*block_size=*/2);
  ForwardWorkspace ws(weights.config, 16);
  std::mt19937 rng(6);
  Sequence other{.tokens = RandomTokens(12, rng), .kv = SequenceKV(kv, false)};
  Sequence s{.tokens = g.prompt_ids, .kv = SequenceKV(kv, false)};
  std::vector<float> got;
  for (size_t step = 0; step < 6; ++step) {
    const auto out = Step(weights, kv, ws, pool, {{&other, 2}, {&s, 2}});
    got.insert(got.end(), out[1].begin(), out[1].end());
  }
  EXPECT_NE(s.kv.blocks()[1], s.kv.blocks()[0] + 1);
  EXPECT_TRUE(got == alone);
}

}  // namespace
}  // namespace gemma
