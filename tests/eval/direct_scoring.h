// The independent path the evaluation tests compare with: logits from
// Session::PrefillWithLogits (the Session's kernels, not the engine's) and log-softmax in
// long double, written here without the eval library.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "gemma_rt/gemma_rt.h"

namespace gemma::eval_test {

// Rows [positions.size()][vocab] of one forward pass over ids in a fresh session.
inline std::vector<std::vector<float>> SessionRows(const gemma_rt::Model& model,
                                                   std::span<const int32_t> ids,
                                                   std::span<const size_t> positions) {
  gemma_rt::Session session(model, {.context = ids.size()});
  const std::vector<float> flat = session.PrefillWithLogits(ids, positions);
  const size_t vocab = static_cast<size_t>(model.info().vocab_size);
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < positions.size(); ++i) {
    rows.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                      flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
  }
  return rows;
}

inline long double LogSumExp(std::span<const float> row) {
  const long double max = *std::max_element(row.begin(), row.end());
  long double sum = 0;
  for (float v : row) sum += std::exp(static_cast<long double>(v) - max);
  return max + std::log(sum);
}

inline long double LogProb(std::span<const float> row, int32_t id) {
  return static_cast<long double>(row[static_cast<size_t>(id)]) - LogSumExp(row);
}

// sum_i p_i (log p_i - log q_i)
inline long double Kl(std::span<const float> p_row, std::span<const float> q_row) {
  const long double p_norm = LogSumExp(p_row), q_norm = LogSumExp(q_row);
  long double sum = 0;
  for (size_t i = 0; i < p_row.size(); ++i) {
    const long double log_p = p_row[i] - p_norm, log_q = q_row[i] - q_norm;
    sum += std::exp(log_p) * (log_p - log_q);
  }
  return sum;
}

inline size_t ArgMax(std::span<const float> row) {
  return static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

inline double RelativeError(double value, double expected) {
  return std::abs(value - expected) / std::max(std::abs(expected), 1e-300);
}

}  // namespace gemma::eval_test
