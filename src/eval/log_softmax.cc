#include "eval/log_softmax.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "gemma_rt/logits.h"

namespace gemma::eval {

RowSoftmax AnalyzeRow(std::span<const float> row) {
  const gemma_rt::LogitsNormalizer n = gemma_rt::NormalizeLogits(row);
  return {.max = n.max, .argmax = n.argmax, .log_sum = n.log_sum};
}

double KlDivergence(std::span<const float> p_row, const RowSoftmax& p, std::span<const float> q_row,
                    const RowSoftmax& q) {
  if (p_row.size() != q_row.size()) {
    throw std::invalid_argument("KL divergence of rows of " + std::to_string(p_row.size()) +
                                " and " + std::to_string(q_row.size()) + " logits");
  }
  const double p_shift = p.max + p.log_sum;
  const double q_shift = q.max + q.log_sum;
  double sum = 0;
  for (size_t i = 0; i < p_row.size(); ++i) {
    const double log_p = p_row[i] - p_shift;
    const double log_q = q_row[i] - q_shift;
    sum += std::exp(log_p) * (log_p - log_q);
  }
  return sum;
}

}  // namespace gemma::eval
