#include "server/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gemma_rt::server {

double LogSumExp(std::span<const float> logits) {
  float max = -std::numeric_limits<float>::infinity();
  for (const float x : logits) max = std::max(max, x);
  if (!std::isfinite(max)) return max;
  double sum = 0;
  for (const float x : logits) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

std::vector<std::pair<int32_t, double>> TopLogprobs(std::span<const float> logits,
                                                    double log_sum_exp, size_t k) {
  k = std::min(k, logits.size());
  // A min-heap of the k best (id, logit) seen: one pass over the vocabulary.
  const auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::vector<int32_t> heap;
  heap.reserve(k + 1);
  for (size_t i = 0; i < logits.size() && k > 0; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (heap.size() < k) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  std::vector<std::pair<int32_t, double>> top;
  top.reserve(heap.size());
  for (const int32_t id : heap) top.emplace_back(id, static_cast<double>(logits[id]) - log_sum_exp);
  return top;
}

TokenLogprob LogprobOf(std::span<const float> logits, int32_t id, size_t k) {
  const double lse = LogSumExp(logits);
  return {.id = id,
          .logprob = static_cast<double>(logits[static_cast<size_t>(id)]) - lse,
          .top = TopLogprobs(logits, lse, k)};
}

}  // namespace gemma_rt::server
