// The forward pass against Google's reference (tests/data/golden, see its README): logits,
// per-layer hidden states, top-5 ids and 16 greedy tokens, through one batched prefill and
// through token-by-token decode. Then properties the golden data cannot pin down: decode
// with the cache equals recomputing everything, and grouped-query attention (no public
// case has it) matches a slow double-precision reference written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/forward.h"
#include "model/golden_support.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gemma {
namespace {

using testing::GoldenCase;
using testing::LoadGoldenCase;
using testing::MaxAbs;

int32_t ArgMax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

std::vector<int32_t> TopIds(std::span<const float> row, size_t k) {
  std::vector<int32_t> ids(row.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  ids.resize(k);
  return ids;
}

float MaxAbsDiff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Records the observed rows at the golden hidden-state positions.
struct HiddenRecorder {
  std::vector<size_t> positions;
  size_t hidden = 0;
  std::map<std::string, std::map<size_t, std::vector<float>>> rows;  // key -> position -> [H]

  LayerObserver Observer() {
    return [this](std::string_view point, size_t first, size_t tokens, const float* data) {
      for (size_t t = 0; t < tokens; ++t) {
        if (std::find(positions.begin(), positions.end(), first + t) == positions.end()) continue;
        rows[std::string(point)][first + t].assign(data + t * hidden, data + (t + 1) * hidden);
      }
    };
  }
};

void ExpectHiddenStatesMatch(const GoldenCase& g, const HiddenRecorder& recorder) {
  ASSERT_FALSE(g.hidden_states.empty());
  for (const auto& [key, golden_rows] : g.hidden_states) {
    const float bound = testing::kGoldenHiddenTolerance * MaxAbs(golden_rows);
    ASSERT_TRUE(recorder.rows.count(key)) << "the observer never saw " << key;
    for (size_t i = 0; i < g.hidden_states_positions.size(); ++i) {
      const size_t position = g.hidden_states_positions[i];
      const auto& seen = recorder.rows.at(key);
      ASSERT_TRUE(seen.count(position)) << key << " at position " << position;
      EXPECT_LE(MaxAbsDiff(seen.at(position), golden_rows[i]), bound)
          << g.name << ": " << key << " at position " << position;
    }
  }
}

void ExpectLogitsRowMatches(const GoldenCase& g, std::span<const float> row,
                            const std::vector<float>& golden, const std::string& what) {
  EXPECT_LE(MaxAbsDiff(row, golden), testing::kGoldenLogitsTolerance * g.max_abs_logit)
      << g.name << ": " << what;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = LoadGoldenCase(GetParam());
    weights_ = LoadSafetensorsModel(golden_.dir);
  }
  size_t vocab() const { return weights_.config.vocab_size; }

  // logits: [golden logits_positions, vocab], compared with the golden logits and top-5 ids.
  void ExpectGoldenLogitsAndTop5(const std::vector<float>& logits) const {
    const GoldenCase& g = golden_;
    for (size_t i = 0; i < g.logits_positions.size(); ++i) {
      const std::span<const float> row(&logits[i * vocab()], vocab());
      ExpectLogitsRowMatches(g, row, g.logits[i],
                             StrCat("logits at position ", g.logits_positions[i]));
      EXPECT_EQ(TopIds(row, 5), g.top5_ids[i]) << "top-5 at position " << g.logits_positions[i];
    }
  }

  GoldenCase golden_;
  ModelWeights weights_;
  ThreadPool pool_{2};
};

TEST_P(GoldenTest, OnePassPrefillMatchesLogitsHiddenStatesAndTop5) {
  const GoldenCase& g = golden_;
  const size_t n = g.prompt_ids.size();
  KVCache cache(weights_.config, n);
  ForwardWorkspace scratch(weights_.config, n);
  HiddenRecorder recorder{.positions = g.hidden_states_positions,
                          .hidden = static_cast<size_t>(weights_.config.hidden_size)};
  const LayerObserver observer = recorder.Observer();
  std::vector<float> logits(g.logits_positions.size() * vocab());
  Forward(weights_,
          {.tokens = g.prompt_ids,
           .first_position = 0,
           .logits_for = g.logits_positions,
           .logits = logits,
           .observer = &observer},
          cache, scratch, pool_);
  ExpectGoldenLogitsAndTop5(logits);
  ExpectHiddenStatesMatch(g, recorder);
}

// The feed-forward block in slices of 96 intermediate features (the checkpoints have 256
// or 384: the last slice of 256 is partial), as a long prefill runs it on gemma-2b.
TEST_P(GoldenTest, PrefillInFeedForwardSlicesMatchesLogits) {
  const GoldenCase& g = golden_;
  const size_t n = g.prompt_ids.size();
  KVCache cache(weights_.config, n);
  ForwardWorkspace scratch(weights_.config, n, /*ffn_slab=*/96);
  ASSERT_LT(scratch.ffn_slab, static_cast<size_t>(weights_.config.intermediate_size));
  std::vector<float> logits(g.logits_positions.size() * vocab());
  Forward(weights_,
          {.tokens = g.prompt_ids,
           .first_position = 0,
           .logits_for = g.logits_positions,
           .logits = logits},
          cache, scratch, pool_);
  ExpectGoldenLogitsAndTop5(logits);
}

// Without an observer the last layer computes only the rows whose logits are wanted
// (forward.cc, RowsOut): the logits must be those of computing every row, for one row, for
// the golden positions (on tiny-2b-long not consecutive) and for none (the cache only).
TEST_P(GoldenTest, LastLayerOnlyForWantedRowsEqualsEveryRow) {
  const GoldenCase& g = golden_;
  const size_t n = g.prompt_ids.size();
  const LayerObserver watch_everything = [](std::string_view, size_t, size_t, const float*) {};
  const auto run = [&](std::span<const size_t> wanted, bool observed, KVCache& cache) {
    ForwardWorkspace scratch(weights_.config, n);
    std::vector<float> logits(wanted.size() * vocab());
    Forward(weights_,
            {.tokens = g.prompt_ids,
             .first_position = 0,
             .logits_for = wanted,
             .logits = logits,
             .observer = observed ? &watch_everything : nullptr},
            cache, scratch, pool_);
    return logits;
  };
  const size_t last[] = {n - 1};
  for (std::span<const size_t> wanted :
       {std::span<const size_t>(g.logits_positions), std::span<const size_t>(last)}) {
    KVCache full_cache(weights_.config, n), trimmed_cache(weights_.config, n);
    const std::vector<float> full = run(wanted, true, full_cache);
    const std::vector<float> trimmed = run(wanted, false, trimmed_cache);
    EXPECT_LE(MaxAbsDiff(trimmed, full), testing::kSameArithmeticTolerance * g.max_abs_logit)
        << wanted.size() << " rows";
  }
  // No logits wanted: the keys and values of every layer still reach the cache, so a decode
  // step afterwards sees the whole prompt.
  KVCache cache(weights_.config, n);
  std::vector<int32_t> prompt(g.prompt_ids.begin(), g.prompt_ids.end() - 1);
  ForwardWorkspace scratch(weights_.config, n);
  Forward(weights_, {.tokens = prompt, .first_position = 0}, cache, scratch, pool_);
  std::vector<float> logits(vocab());
  const size_t only[] = {0};
  Forward(weights_,
          {.tokens = std::span(g.prompt_ids).subspan(n - 1, 1),
           .first_position = n - 1,
           .logits_for = only,
           .logits = logits},
          cache, scratch, pool_);
  KVCache reference_cache(weights_.config, n);
  EXPECT_LE(MaxAbsDiff(logits, run(last, true, reference_cache)),
            testing::kSameArithmeticTolerance * g.max_abs_logit);
}

TEST_P(GoldenTest, TokenByTokenDecodeMatchesLogitsAndHiddenStates) {
  const GoldenCase& g = golden_;
  const size_t n = g.prompt_ids.size();
  KVCache cache(weights_.config, n);
  ForwardWorkspace scratch(weights_.config, 1);
  HiddenRecorder recorder{.positions = g.hidden_states_positions,
                          .hidden = static_cast<size_t>(weights_.config.hidden_size)};
  const LayerObserver observer = recorder.Observer();
  std::vector<float> logits(vocab());
  const size_t last[] = {0};
  size_t listed = 0;
  for (size_t p = 0; p < n; ++p) {
    Forward(weights_,
            {.tokens = std::span(g.prompt_ids).subspan(p, 1),
             .first_position = p,
             .logits_for = last,
             .logits = logits,
             .observer = &observer},
            cache, scratch, pool_);
    if (listed < g.logits_positions.size() && g.logits_positions[listed] == p) {
      ExpectLogitsRowMatches(g, logits, g.logits[listed], StrCat("decoded logits at position ", p));
      EXPECT_EQ(TopIds(logits, 5), g.top5_ids[listed]) << "top-5 at position " << p;
      ++listed;
    }
  }
  EXPECT_EQ(listed, g.logits_positions.size());
  ExpectHiddenStatesMatch(g, recorder);
}

// The reference's generate(): prefill, then 15 one-token steps reading the cache.
TEST_P(GoldenTest, GreedyGenerationMatchesIdsAndLogits) {
  const GoldenCase& g = golden_;
  const size_t n = g.prompt_ids.size();
  const size_t steps = g.greedy_ids.size();
  KVCache cache(weights_.config, n + steps);
  ForwardWorkspace scratch(weights_.config, n);
  std::vector<float> logits(vocab());
  const size_t prompt_last[] = {n - 1};
  Forward(
      weights_,
      {.tokens = g.prompt_ids, .first_position = 0, .logits_for = prompt_last, .logits = logits},
      cache, scratch, pool_);
  std::vector<int32_t> generated;
  const size_t only[] = {0};
  for (size_t k = 0; k < steps; ++k) {
    ExpectLogitsRowMatches(g, logits, g.greedy_logits[k], StrCat("greedy_logits row ", k));
    const int32_t id = ArgMax(logits);
    generated.push_back(id);
    if (k + 1 == steps) break;
    Forward(weights_,
            {.tokens = std::span(&generated.back(), 1),
             .first_position = n + k,
             .logits_for = only,
             .logits = logits},
            cache, scratch, pool_);
  }
  EXPECT_EQ(generated, g.greedy_ids);
}

// Decoding with the cache must give the logits that a fresh full pass over the same
// sequence gives at its last position.
TEST_P(GoldenTest, DecodeWithCacheEqualsFullRecompute) {
  const GoldenCase& g = golden_;
  std::vector<int32_t> sequence = g.prompt_ids;
  sequence.insert(sequence.end(), g.greedy_ids.begin(), g.greedy_ids.end());
  const size_t n = g.prompt_ids.size();
  KVCache cache(weights_.config, sequence.size());
  ForwardWorkspace scratch(weights_.config, sequence.size());
  std::vector<float> decoded(vocab()), recomputed(vocab());
  const size_t only[] = {0};
  const size_t prompt_last[] = {n - 1};
  Forward(
      weights_,
      {.tokens = g.prompt_ids, .first_position = 0, .logits_for = prompt_last, .logits = decoded},
      cache, scratch, pool_);
  for (size_t p = n; p < sequence.size(); ++p) {
    Forward(weights_,
            {.tokens = std::span(sequence).subspan(p, 1),
             .first_position = p,
             .logits_for = only,
             .logits = decoded},
            cache, scratch, pool_);
    KVCache fresh(weights_.config, p + 1);
    const size_t full_last[] = {p};
    Forward(weights_,
            {.tokens = std::span(sequence).first(p + 1),
             .first_position = 0,
             .logits_for = full_last,
             .logits = recomputed},
            fresh, scratch, pool_);
    EXPECT_LE(MaxAbsDiff(decoded, recomputed), testing::kSameArithmeticTolerance * g.max_abs_logit)
        << "position " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, GoldenTest, ::testing::ValuesIn(testing::GoldenCaseNames()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(GoldenData, EveryCaseIsFound) { EXPECT_GE(testing::GoldenCaseNames().size(), 4u); }

TEST(ForwardErrors, PositionPastTheContextIsAnErrorNotACorruption) {
  const ModelWeights weights = LoadSafetensorsModel(testing::GoldenRoot() + "/tiny-2b-f32");
  ThreadPool pool(1);
  KVCache cache(weights.config, 4);
  ForwardWorkspace scratch(weights.config, 8);
  const std::vector<int32_t> ids = {2, 5, 6, 7, 8};
  try {
    Forward(weights, {.tokens = ids, .first_position = 0}, cache, scratch, pool);
    FAIL() << "5 tokens fit a 4-position cache";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
  const int32_t one[] = {3};
  EXPECT_THROW(Forward(weights, {.tokens = one, .first_position = 4}, cache, scratch, pool), Error);
  EXPECT_NO_THROW(Forward(weights, {.tokens = one, .first_position = 3}, cache, scratch, pool));
  EXPECT_THROW(KVCache(weights.config, weights.config.max_position_embeddings + 1), Error);
}

TEST(ForwardErrors, TokenIdOutsideTheVocabularyIsAnError) {
  const ModelWeights weights = LoadSafetensorsModel(testing::GoldenRoot() + "/tiny-2b-f32");
  ThreadPool pool(1);
  KVCache cache(weights.config, 8);
  ForwardWorkspace scratch(weights.config, 8);
  for (int32_t bad : {-1, static_cast<int32_t>(weights.config.vocab_size)}) {
    const std::vector<int32_t> ids = {2, bad};
    try {
      Forward(weights, {.tokens = ids, .first_position = 0}, cache, scratch, pool);
      FAIL() << "id " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    }
  }
}

}  // namespace
}  // namespace gemma
