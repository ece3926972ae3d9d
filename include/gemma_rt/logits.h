// Log-probabilities from a row of logits, for scoring (log-likelihoods, perplexity, KL
// divergence) and logprobs: the row's normalizer computed once with the library's SIMD
// kernels, then log p(id) = logit[id] - max - log_sum for any id.
#pragma once

#include <cstdint>
#include <span>

namespace gemma_rt {

struct LogitsNormalizer {
  float max = 0;       // the largest logit
  int32_t argmax = 0;  // its id (the lowest one on ties)
  // log(sum over the row of exp(logit - max)): each exp in float32 within 1 ulp, the sum in
  // double (256,000 terms), as llama-perplexity computes it.
  double log_sum = 0;
  double LogProb(std::span<const float> row, int32_t id) const {
    return static_cast<double>(row[static_cast<size_t>(id)]) - max - log_sum;
  }
};

// Throws std::invalid_argument for an empty row.
LogitsNormalizer NormalizeLogits(std::span<const float> row);

}  // namespace gemma_rt
