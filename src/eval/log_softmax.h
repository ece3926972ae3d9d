// Log-probabilities from one logits row, in double where it matters: the normalizer
// log(sum(exp(logit - max))) sums 256,000 terms, so the sum is a double (each term's
// exp in float32 is exact to 1 ulp, as llama-perplexity computes it; the library's SIMD
// kernel, gemma_rt::NormalizeLogits), and the result logit - max - log(sum) is formed in
// double.
#pragma once

#include <cstdint>
#include <span>

namespace gemma::eval {

struct RowSoftmax {
  float max = 0;       // the largest logit
  int32_t argmax = 0;  // its id (the lowest one on ties)
  double log_sum = 0;  // log(sum over the row of exp(logit - max))
  double LogProb(std::span<const float> row, int32_t id) const {
    return static_cast<double>(row[static_cast<size_t>(id)]) - max - log_sum;
  }
};

// Throws std::invalid_argument for an empty row.
RowSoftmax AnalyzeRow(std::span<const float> row);

// Kullback-Leibler divergence KL(P || Q) = sum_i p_i (log p_i - log q_i) of the
// distributions two rows of one vocabulary define (P: the reference), in double.
double KlDivergence(std::span<const float> p_row, const RowSoftmax& p, std::span<const float> q_row,
                    const RowSoftmax& q);

}  // namespace gemma::eval
