// Log-probabilities of tokens from a logits row: log_softmax(logits)[id] = logit - logsumexp,
// the sum in double. These are the model's own probabilities (before sampling's penalties,
// temperature and truncation), as OpenAI and vLLM report them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace gemma_rt::server {

struct TokenLogprob {
  int32_t id = -1;
  double logprob = 0;
  std::vector<std::pair<int32_t, double>> top;  // the most likely ids, most likely first
};

double LogSumExp(std::span<const float> logits);

// The `k` most likely ids of the row (ties: lower id first) with their log-probabilities.
std::vector<std::pair<int32_t, double>> TopLogprobs(std::span<const float> logits,
                                                    double log_sum_exp, size_t k);

// id's log-probability and the top `k` of the row.
TokenLogprob LogprobOf(std::span<const float> logits, int32_t id, size_t k);

}  // namespace gemma_rt::server
