#include "eval/nll_stats.h"

#include <cmath>

namespace gemma::eval {

double NllStats::MeanNll() const { return count == 0 ? 0.0 : sum / static_cast<double>(count); }

double NllStats::MeanNllError() const {
  if (count < 2) return 0.0;
  const double n = static_cast<double>(count);
  const double mean = sum / n;
  const double variance = sum2 / n - mean * mean;
  return variance > 0 ? std::sqrt(variance / (n - 1)) : 0.0;
}

double NllStats::Perplexity() const { return std::exp(MeanNll()); }

double NllStats::PerplexityError() const { return Perplexity() * MeanNllError(); }

MeanAndError MeanWithError(double sum, double sum2, size_t count) {
  if (count < 1) return {};
  const double n = static_cast<double>(count);
  const double mean = sum / n;
  const double variance = sum2 / n - mean * mean;
  return {.mean = mean, .error = variance > 0 && count > 10 ? std::sqrt(variance / (n - 1)) : 0.0};
}

double CovarianceOfMeans(double sum_a, double sum_b, double sum_ab, size_t count) {
  if (count < 10) return 0.0;
  const double n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

}  // namespace gemma::eval
