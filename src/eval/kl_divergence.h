// KL divergence between two weight formats of one model (llama-perplexity
// --kl-divergence), with both models in one process: each chunk of the text (chunked as in
// perplexity.h) runs on both, and each scored position's two logits rows are compared as
// they are produced, so no logits are stored (with a 256,000-id vocabulary a logits file
// holds ~1 MB per scored token). Memory: both models' weights, each engine's buffers, and one
// double per scored token for the percentiles.
//
// KL(P_reference || P_model) per scored position, exact in double (llama-perplexity rounds
// the reference's log-probabilities to 16 bits in its file); both perplexities from the
// same tokens, their ratio and difference with llama-perplexity's error formulas (which
// use the covariance of the two models' per-token NLLs), top-1 agreement and the change
// in the probability of the right token (Δp).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "eval/nll_stats.h"
#include "eval/perplexity.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

struct KlAccumulator {
  NllStats model, reference;   // per-token NLL of each
  double sum_nll_product = 0;  // sum of NLL_model * NLL_reference
  double sum_kl = 0, sum_kl2 = 0;
  double sum_dp = 0, sum_dp2 = 0, sum_dp4 = 0;  // Δp = p_model(right id) - p_reference(...)
  size_t same_top = 0;                          // positions where both argmaxes agree
  std::vector<double> kl;                       // every position's KL, in order
  std::vector<double> dp;                       // every position's Δp, in order

  // One scored position: both rows and the id that follows.
  void Add(std::span<const float> model_row, std::span<const float> reference_row, int32_t target);
  size_t count() const { return kl.size(); }
};

struct KlSummary {
  size_t tokens = 0;
  MeanAndError ppl_model, ppl_reference;  // exp(mean NLL) +- its error
  MeanAndError ln_ppl_ratio;              // ln(PPL(model) / PPL(reference))
  MeanAndError ppl_ratio, ppl_difference;
  double nll_correlation = 0;  // of the two models' per-token NLLs
  MeanAndError kl_mean;
  double kl_median = 0, kl_p90 = 0, kl_p99 = 0, kl_p999 = 0, kl_max = 0, kl_min = 0;
  MeanAndError top1_agreement;  // fraction of positions
  MeanAndError dp_mean, dp_rms;
  double dp_median = 0, dp_p1 = 0, dp_p99 = 0;
};
// The figures llama-perplexity prints, from its formulas (percentiles linearly
// interpolated between sorted values).
KlSummary Summarize(const KlAccumulator& kl);

struct KlProgress {
  size_t chunks_done = 0, chunks = 0;
  const KlAccumulator* so_far = nullptr;
  double seconds = 0;
};

struct KlResult {
  KlAccumulator accumulator;
  KlSummary summary;
  size_t chunks = 0, context = 0;
  size_t tokens_evaluated = 0;  // chunks * context, per model
  double seconds = 0;
};

// `model` is compared with `reference` (the unquantized one) on `tokens` (the text's ids,
// <bos> first); both must have the same vocabulary. Each model's engine runs one chunk at a
// time (options.parallel is not used): the two engines' threads meet at every scored
// position, so that both rows exist at once without a copy.
KlResult ComputeKlDivergence(const gemma_rt::Model& model, const gemma_rt::Model& reference,
                             std::span<const int32_t> tokens, const PerplexityOptions& options,
                             const std::function<void(const KlProgress&)>& progress = {});

}  // namespace gemma::eval
