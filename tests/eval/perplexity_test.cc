// Perplexity as llama-perplexity computes it, against a direct computation: each chunk's
// ids (the first replaced by <bos>) through Session::PrefillWithLogits, the rows of the
// second half scored in long double. Golden tiny models (512 ids) and a full-vocabulary
// model; several chunk sizes, a tail that is not used, 1 and 3 chunks in flight.
#include "eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "eval/direct_scoring.h"
#include "gemma_rt/gemma_rt.h"
#include "model/golden_support.h"
#include "support/real_vocab_model.h"

namespace gemma::eval {
namespace {

using eval_test::LogProb;
using eval_test::RelativeError;
using eval_test::SessionRows;

std::vector<int32_t> RandomText(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = 3 + static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab - 3));
  ids[0] = 2;  // Tokenize(text, true) puts <bos> first
  return ids;
}

struct Direct {
  double perplexity, stderr;
  size_t count;
};

// llama-perplexity's figures, computed from the Session's logits.
Direct DirectPerplexity(const gemma_rt::Model& model, const std::vector<int32_t>& text,
                        size_t context, size_t chunks) {
  long double sum = 0, sum2 = 0;
  size_t count = 0;
  const size_t first = context / 2;
  for (size_t c = 0; c < chunks; ++c) {
    std::vector<int32_t> ids(text.begin() + c * context, text.begin() + (c + 1) * context);
    ids[0] = 2;
    std::vector<size_t> positions(context - 1 - first);
    std::iota(positions.begin(), positions.end(), first);
    const auto rows = SessionRows(model, ids, positions);
    for (size_t i = 0; i < positions.size(); ++i) {
      const long double nll = -LogProb(rows[i], ids[positions[i] + 1]);
      sum += nll;
      sum2 += nll * nll;
      ++count;
    }
  }
  const long double mean = sum / count;
  const long double ppl = std::exp(mean);
  const long double variance = sum2 / count - mean * mean;
  return {static_cast<double>(ppl), static_cast<double>(ppl * std::sqrt(variance / (count - 1))),
          count};
}

TEST(ChunkPlan, ChunksLikeLlamaPerplexity) {
  const ChunkPlan plan = PlanChunks(1300, {.context = 512});
  EXPECT_EQ(plan.chunks, 2u);  // the 276-token tail is not used
  EXPECT_EQ(plan.first_scored, 256u);
  EXPECT_EQ(plan.scored_per_chunk, 255u);
  EXPECT_EQ(PlanChunks(1300, {.context = 512, .max_chunks = 1}).chunks, 1u);
  EXPECT_EQ(PlanChunks(1300, {.context = 7}).scored_per_chunk, 3u);  // positions 3, 4, 5

  std::vector<int32_t> text(20);
  std::iota(text.begin(), text.end(), 100);
  const std::vector<int32_t> second = ChunkPrompt(text, 1, {.context = 8, .bos_id = 2});
  EXPECT_EQ(second, (std::vector<int32_t>{2, 109, 110, 111, 112, 113, 114}));

  EXPECT_THROW(PlanChunks(511, {.context = 512}), std::invalid_argument);
  try {
    PlanChunks(100, {.context = 512});
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "the text has 100 tokens, fewer than one chunk of 512 (--ctx)");
  }
  EXPECT_THROW(PlanChunks(100, {.context = 2}), std::invalid_argument);
  EXPECT_THROW(PlanChunks(100, {.context = 8, .parallel = 0}), std::invalid_argument);
}

// Engine rows against Session rows over the same float32 arithmetic (summation order
// only): measured at most 9.2e-10 relative on these cases (Zen 5), perplexity and its
// error. The bound is about 20x that (the issue asked for 1e-5; scoring a wrong position
// or a wrong id moves the result by far more).
constexpr double kTolerance = 2e-8;

TEST(Perplexity, GoldenModelsMatchADirectComputation) {
  for (const std::string name : {"tiny-2b-f32", "tiny-7b-f32", "tiny-2b-bf16"}) {
    SCOPED_TRACE(name);
    const auto g = testing::LoadGoldenCase(name);
    const gemma_rt::Model model =
        gemma_rt::Model::Load({.path = g.dir, .threads = 2, .exact_quantized_products = true});
    const std::vector<int32_t> text = RandomText(4 * 48 + 30, 512, 11);
    const Direct direct = DirectPerplexity(model, text, 48, 4);
    double first_ppl = 0;
    for (size_t parallel : {1, 3}) {
      std::vector<size_t> progress;
      const PerplexityResult r = ComputePerplexity(
          model, text, {.context = 48, .parallel = parallel},
          [&](const PerplexityProgress& p) { progress.push_back(p.chunks_done); });
      EXPECT_EQ(r.chunks, 4u);
      EXPECT_EQ(r.nll.count, direct.count);
      EXPECT_EQ(r.tokens_evaluated, 4u * 48);
      EXPECT_LT(RelativeError(r.nll.Perplexity(), direct.perplexity), kTolerance)
          << r.nll.Perplexity() << " vs " << direct.perplexity;
      EXPECT_LT(RelativeError(r.nll.PerplexityError(), direct.stderr), kTolerance);
      EXPECT_EQ(progress, (std::vector<size_t>{1, 2, 3, 4}));
      // Chunks in flight together give the same rows bit for bit, summed in chunk order.
      if (parallel == 1) first_ppl = r.nll.Perplexity();
      EXPECT_EQ(r.nll.Perplexity(), first_ppl);
    }
  }
}

TEST(Perplexity, OddContextAndChunkLimit) {
  const auto g = testing::LoadGoldenCase("tiny-2b-f32");
  const gemma_rt::Model model =
      gemma_rt::Model::Load({.path = g.dir, .threads = 1, .exact_quantized_products = true});
  const std::vector<int32_t> text = RandomText(300, 512, 5);
  const Direct direct = DirectPerplexity(model, text, 37, 2);
  const PerplexityResult r =
      ComputePerplexity(model, text, {.context = 37, .max_chunks = 2, .step_tokens = 16});
  EXPECT_EQ(r.nll.count, 2u * 18);
  EXPECT_LT(RelativeError(r.nll.Perplexity(), direct.perplexity), kTolerance);
}

TEST(Perplexity, FullVocabularyModelMatchesADirectComputation) {
  const std::string dir = testing::RealVocabModelDir();
  ASSERT_FALSE(dir.empty());
  const gemma_rt::Model model =
      gemma_rt::Model::Load({.path = dir, .threads = 2, .exact_quantized_products = true});
  const std::vector<int32_t> text = RandomText(3 * 40 + 7, 256000, 3);
  const Direct direct = DirectPerplexity(model, text, 40, 3);
  // Few rows per step: a chunk's scored rows arrive over several steps.
  const PerplexityResult r =
      ComputePerplexity(model, text, {.context = 40, .parallel = 2, .logit_rows_per_step = 7});
  EXPECT_LT(RelativeError(r.nll.Perplexity(), direct.perplexity), kTolerance);
  EXPECT_LT(RelativeError(r.nll.PerplexityError(), direct.stderr), kTolerance);
}

}  // namespace
}  // namespace gemma::eval
