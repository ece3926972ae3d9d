// KL divergence between two weight formats in one process: a model against itself gives
// exactly 0 (and the same perplexity as a plain run); llama.cpp's Q8_0 and Q4_0 files of a
// small model against its F32 file match a direct computation from both models' Session
// logits in long double; the summary follows llama-perplexity's formulas.
#include "eval/kl_divergence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "eval/direct_scoring.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {
namespace {

using eval_test::ArgMax;
using eval_test::Kl;
using eval_test::LogProb;
using eval_test::RelativeError;
using eval_test::SessionRows;

const std::string kGgufDir = std::string(GEMMA_TEST_DATA_DIR) + "/gguf/small-2b-256/";

gemma_rt::Model LoadExact(const std::string& path) {
  return gemma_rt::Model::Load({.path = path, .threads = 2, .exact_quantized_products = true});
}

std::vector<int32_t> RandomText(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = 3 + static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab - 3));
  ids[0] = 2;
  return ids;
}

TEST(KlDivergence, AModelAgainstItselfIsExactlyZero) {
  const gemma_rt::Model a = LoadExact(kGgufDir + "model-q4_0.gguf");
  const gemma_rt::Model b = LoadExact(kGgufDir + "model-q4_0.gguf");
  const std::vector<int32_t> text = RandomText(4 * 32, 1024, 1);
  const PerplexityOptions options{.context = 32};
  size_t progress_calls = 0;
  const KlResult r = ComputeKlDivergence(a, b, text, options, [&](const KlProgress& p) {
    ++progress_calls;
    EXPECT_EQ(p.so_far->count(), p.chunks_done * 15);
  });
  EXPECT_EQ(progress_calls, 4u);
  const KlSummary& s = r.summary;
  EXPECT_EQ(s.tokens, 4u * 15);
  EXPECT_EQ(s.kl_mean.mean, 0.0);
  EXPECT_EQ(s.kl_max, 0.0);
  EXPECT_EQ(s.kl_median, 0.0);
  EXPECT_EQ(s.kl_p99, 0.0);
  EXPECT_EQ(s.top1_agreement.mean, 1.0);
  EXPECT_EQ(s.dp_rms.mean, 0.0);
  EXPECT_EQ(s.ppl_model.mean, s.ppl_reference.mean);
  EXPECT_EQ(s.ln_ppl_ratio.mean, 0.0);
  // The same engine path and sums as a plain perplexity run.
  const PerplexityResult plain = ComputePerplexity(a, text, options);
  EXPECT_EQ(r.accumulator.model.Perplexity(), plain.nll.Perplexity());
  EXPECT_EQ(r.accumulator.model.PerplexityError(), plain.nll.PerplexityError());
}

struct DirectPosition {
  long double kl, nll_model, nll_reference;
  bool same_top;
};

std::vector<DirectPosition> DirectPositions(const gemma_rt::Model& model,
                                            const gemma_rt::Model& reference,
                                            const std::vector<int32_t>& text, size_t context,
                                            size_t chunks) {
  std::vector<DirectPosition> out;
  const size_t first = context / 2;
  for (size_t c = 0; c < chunks; ++c) {
    std::vector<int32_t> ids(text.begin() + c * context, text.begin() + (c + 1) * context);
    ids[0] = 2;
    std::vector<size_t> positions(context - 1 - first);
    std::iota(positions.begin(), positions.end(), first);
    const auto m = SessionRows(model, ids, positions);
    const auto r = SessionRows(reference, ids, positions);
    for (size_t i = 0; i < positions.size(); ++i) {
      const int32_t next = ids[positions[i] + 1];
      out.push_back({Kl(r[i], m[i]), -LogProb(m[i], next), -LogProb(r[i], next),
                     ArgMax(m[i]) == ArgMax(r[i])});
    }
  }
  return out;
}

double Quantile(std::vector<double> v, double fraction) {
  std::sort(v.begin(), v.end());
  const double at = fraction * (v.size() - 1);
  const size_t i = static_cast<size_t>(at);
  const double w = at - i;
  return i + 1 < v.size() ? (1 - w) * v[i] + w * v[i + 1] : v[i];
}

TEST(KlDivergence, QuantizedFilesAgainstF32MatchADirectComputation) {
  const gemma_rt::Model reference = LoadExact(kGgufDir + "model-f32.gguf");
  const std::vector<int32_t> text = RandomText(5 * 64 + 9, 1024, 2);
  for (const char* file : {"model-q8_0.gguf", "model-q4_0.gguf"}) {
    SCOPED_TRACE(file);
    const gemma_rt::Model model = LoadExact(kGgufDir + file);
    const auto direct = DirectPositions(model, reference, text, 64, 5);
    const KlResult r = ComputeKlDivergence(model, reference, text, {.context = 64});
    const KlAccumulator& acc = r.accumulator;
    ASSERT_EQ(acc.count(), direct.size());
    std::vector<double> kl;
    long double kl_sum = 0, nll = 0, nll_ref = 0;
    size_t same_top = 0;
    double worst = 0;
    for (size_t i = 0; i < direct.size(); ++i) {
      kl.push_back(static_cast<double>(direct[i].kl));
      kl_sum += direct[i].kl;
      nll += direct[i].nll_model;
      nll_ref += direct[i].nll_reference;
      same_top += direct[i].same_top;
      worst = std::max(worst, std::abs(acc.kl[i] - kl.back()) / kl.back());
    }
    EXPECT_GT(kl_sum, 0);
    // The Session and the engine sum in other orders, and the KL of two nearly equal
    // distributions magnifies that. Measured (Zen 5; Q8_0 / Q4_0): one position's KL
    // 1.4e-5 / 5e-8 relative, mean 3.5e-8 / 7.8e-11, median 4.0e-7 / 2.1e-8, 99th
    // percentile 3.4e-8 / 5e-9, perplexities 3.6e-10 / 1.1e-10, ln ratio 5e-8 / 1.2e-10.
    // Bounds about 15x the larger.
    EXPECT_LT(worst, 2e-4);
    const KlSummary& s = r.summary;
    const double n = static_cast<double>(direct.size());
    EXPECT_LT(RelativeError(s.kl_mean.mean, static_cast<double>(kl_sum / n)), 5e-7);
    EXPECT_LT(RelativeError(s.kl_median, Quantile(kl, 0.5)), 6e-6);
    EXPECT_LT(RelativeError(s.kl_p99, Quantile(kl, 0.99)), 5e-7);
    EXPECT_EQ(s.top1_agreement.mean, same_top / n);
    EXPECT_LT(RelativeError(s.ppl_model.mean, std::exp(static_cast<double>(nll / n))), 6e-9);
    EXPECT_LT(RelativeError(s.ppl_reference.mean, std::exp(static_cast<double>(nll_ref / n))),
              6e-9);
    EXPECT_LT(RelativeError(s.ln_ppl_ratio.mean, static_cast<double>((nll - nll_ref) / n)), 8e-7);
  }
}

TEST(KlDivergence, SummaryFollowsLlamaPerplexity) {
  KlAccumulator acc;
  for (int i = 1; i <= 100; ++i) {
    const double kl = i * 0.01;
    acc.kl.push_back(kl);
    acc.sum_kl += kl;
    acc.sum_kl2 += kl * kl;
    acc.dp.push_back(i % 2 ? 0.1 : -0.1);
    acc.sum_dp2 += 0.01;
    acc.sum_dp4 += 1e-4;
    acc.model.Add(2.0 + (i % 3));
    acc.reference.Add(2.0 + (i % 3) * 0.5);
    acc.sum_nll_product += (2.0 + (i % 3)) * (2.0 + (i % 3) * 0.5);
    acc.same_top += i <= 90;
  }
  const KlSummary s = Summarize(acc);
  EXPECT_DOUBLE_EQ(s.kl_mean.mean, 0.505);
  EXPECT_DOUBLE_EQ(s.kl_median, 0.505);            // (0.50 + 0.51) / 2
  EXPECT_DOUBLE_EQ(s.kl_p99, 0.99 + 0.01 * 0.01);  // 0.99 * 99 = 98.01 -> between 0.99 and 1.00
  EXPECT_DOUBLE_EQ(s.kl_max, 1.0);
  EXPECT_DOUBLE_EQ(s.kl_min, 0.01);
  EXPECT_DOUBLE_EQ(s.top1_agreement.mean, 0.9);
  EXPECT_DOUBLE_EQ(s.top1_agreement.error, std::sqrt(0.9 * 0.1 / 99));
  EXPECT_DOUBLE_EQ(s.dp_rms.mean, 0.1);
  // NLLs move together: a correlation of 1, so the ratio's error is the difference of the
  // two errors.
  EXPECT_NEAR(s.nll_correlation, 1.0, 1e-12);
  const MeanAndError a = MeanWithError(acc.model.sum, acc.model.sum2, 100);
  const MeanAndError b = MeanWithError(acc.reference.sum, acc.reference.sum2, 100);
  EXPECT_NEAR(s.ln_ppl_ratio.error, a.error - b.error, 1e-9);
  EXPECT_DOUBLE_EQ(s.ppl_model.mean, std::exp(a.mean));
  EXPECT_DOUBLE_EQ(s.ppl_model.error, std::exp(a.mean) * a.error);
}

TEST(KlDivergence, ModelsOfDifferentVocabulariesAreRefused) {
  const gemma_rt::Model a = LoadExact(kGgufDir + "model-q8_0.gguf");
  const gemma_rt::Model b =
      LoadExact(std::string(GEMMA_TEST_DATA_DIR) + "/golden/tiny-2b-f32");  // 512 ids
  const std::vector<int32_t> text = RandomText(100, 512, 3);
  EXPECT_THROW(ComputeKlDivergence(a, b, text, {.context = 32}), std::invalid_argument);
}

}  // namespace
}  // namespace gemma::eval
