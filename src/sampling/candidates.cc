#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>

namespace gemma {

void Candidates::Reset(std::span<const float> logits) {
  items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    items[i] = {.id = static_cast<int32_t>(i), .logit = logits[i]};
  }
  sorted = false;
}

void Candidates::SortDescending() {
  if (sorted) return;
  std::sort(items.begin(), items.end(), [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  });
  sorted = true;
}

void Candidates::Probabilities(std::vector<float>& probabilities) const {
  probabilities.resize(items.size());
  if (items.empty()) return;
  float max = items[0].logit;
  for (const Candidate& c : items) max = std::max(max, c.logit);
  // Accumulate in double: over 256,000 terms a float sum loses the small tail.
  double sum = 0.0;
  for (size_t i = 0; i < items.size(); ++i) {
    probabilities[i] = std::exp(items[i].logit - max);
    sum += probabilities[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (float& p : probabilities) p *= inv;
}

}  // namespace gemma
