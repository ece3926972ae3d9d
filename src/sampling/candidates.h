// The tokens still in the running for the next pick, with their logits. Sampler steps
// narrow or reshape this set; the final pick reads it. Reused across tokens, so a step
// costs no allocation once the vector has reached the vocabulary size.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace gemma {

struct Candidate {
  int32_t id;
  float logit;
};

struct Candidates {
  std::vector<Candidate> items;
  bool sorted = false;  // items in descending logit order (ties: lower id first)

  // Every id of `logits` (id = index), unsorted.
  void Reset(std::span<const float> logits);
  // Sorts the items in descending logit order (ties: lower id first), once.
  void SortDescending();
  // Softmax of the logits, in the items' order: probabilities[i] belongs to items[i].
  void Probabilities(std::vector<float>& probabilities) const;
};

}  // namespace gemma
