// Running sums of per-token negative log-likelihoods and the figures llama-perplexity
// derives from them: perplexity = exp(mean NLL) and its standard error
// perplexity * sqrt(var(NLL) / (count - 1)), var = mean(NLL^2) - mean(NLL)^2.
#pragma once

#include <cstddef>

namespace gemma::eval {

struct NllStats {
  size_t count = 0;
  double sum = 0;   // sum of NLL
  double sum2 = 0;  // sum of NLL^2

  void Add(double nll) {
    ++count;
    sum += nll;
    sum2 += nll * nll;
  }
  void Add(const NllStats& other) {
    count += other.count;
    sum += other.sum;
    sum2 += other.sum2;
  }
  double MeanNll() const;
  // Standard error of the mean NLL (0 for fewer than 2 values or a variance <= 0).
  double MeanNllError() const;
  double Perplexity() const;
  double PerplexityError() const;  // Perplexity() * MeanNllError()
};

// A mean and its standard error, llama-perplexity's `mean_and_uncertainty` (the error is 0
// for 10 values or fewer, where it would mean little).
struct MeanAndError {
  double mean = 0, error = 0;
};
MeanAndError MeanWithError(double sum, double sum2, size_t count);
// The covariance of the two means (0 below 10 values), llama-perplexity's `covariance`.
double CovarianceOfMeans(double sum_a, double sum_b, double sum_ab, size_t count);

}  // namespace gemma::eval
