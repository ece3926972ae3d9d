#include "eval/log_softmax.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace gemma::eval {

RowSoftmax AnalyzeRow(std::span<const float> row) {
  if (row.empty()) throw std::invalid_argument("log-softmax of an empty logits row");
  RowSoftmax r;
  r.max = row[0];
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] > r.max) {
      r.max = row[i];
      r.argmax = static_cast<int32_t>(i);
    }
  }
  // Four partial sums keep the adds independent (the loop is bound by expf, not by them).
  double sums[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= row.size(); i += 4) {
    for (size_t k = 0; k < 4; ++k) sums[k] += std::exp(row[i + k] - r.max);
  }
  for (; i < row.size(); ++i) sums[0] += std::exp(row[i] - r.max);
  r.log_sum = std::log((sums[0] + sums[1]) + (sums[2] + sums[3]));
  return r;
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
