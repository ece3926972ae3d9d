// Samplers over a logits span, as small composable steps (llama.cpp's sampler chain):
// each step narrows or reshapes the candidate set, the last one picks an id. A seed makes
// every random pick reproducible.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sampling/candidates.h"

namespace gemma {

// A seeded generator with a uniform draw defined here (not by the standard library's
// distributions, whose output may differ between implementations).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  double Uniform();  // in [0, 1)

 private:
  uint64_t state_;
};

// One step of a chain. `history` holds the ids seen so far (prompt and generated).
class SamplerStep {
 public:
  virtual ~SamplerStep() = default;
  virtual void Apply(Candidates& candidates, std::span<const int32_t> history) = 0;
};

// Each factory validates its argument and throws Error(kInvalidArgument) naming it.
// Adds a bias to the logits of the given ids (OpenAI's logit_bias; a large negative bias
// bans an id). Ids must be in the vocabulary (checked when applied) and biases finite.
std::unique_ptr<SamplerStep> LogitBias(std::vector<std::pair<int32_t, float>> bias);
// Divides logits of ids in the last `window` history ids by `penalty` when positive and
// multiplies them when negative (the CTRL / Hugging Face rule); penalty >= 1 discourages.
std::unique_ptr<SamplerStep> RepetitionPenalty(float penalty, size_t window);
// Subtracts presence + frequency x count from the logit of each id seen in the last `window`
// history ids (OpenAI's presence_penalty and frequency_penalty, each in [-2, 2]).
std::unique_ptr<SamplerStep> PresenceFrequencyPenalty(float presence, float frequency,
                                                      size_t window);
// Divides every logit by temperature (> 0).
std::unique_ptr<SamplerStep> Temperature(float temperature);
// Keeps the k most likely ids (k >= 1).
std::unique_ptr<SamplerStep> TopK(size_t k);
// Keeps the most likely ids whose probabilities first sum to at least p (0 < p <= 1).
std::unique_ptr<SamplerStep> TopP(float p);
// Keeps ids whose probability is at least p times the most likely one's (0 <= p <= 1).
std::unique_ptr<SamplerStep> MinP(float p);

enum class Pick : uint8_t { kGreedy, kRandom };

// The vocabulary-sized buffers of one pick (2 MB of candidates and 1 MB of probabilities on
// a 256,000-token vocabulary). Kept out of the chain so that many sequences sampled one
// after another (the batched engine) share one set instead of holding 3 MB each.
struct SamplerScratch {
  Candidates candidates;
  std::vector<float> probabilities;
};

// The steps in order, then the pick: greedy takes the largest logit (lower id on ties),
// random draws from the softmax of what is left.
class SamplerChain {
 public:
  SamplerChain(std::vector<std::unique_ptr<SamplerStep>> steps, Pick pick, uint64_t seed);

  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history,
                 SamplerScratch& scratch);
  // With buffers of the chain's own (allocated on the first call).
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history) {
    return Sample(logits, history, own_scratch_);
  }

 private:
  std::vector<std::unique_ptr<SamplerStep>> steps_;
  Pick pick_;
  Rng rng_;
  SamplerScratch own_scratch_;
};

struct SamplingOptions {
  float temperature = 1.0f;     // 0 means greedy
  size_t top_k = 0;             // 0: off
  float top_p = 1.0f;           // 1: off
  float min_p = 0.0f;           // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  size_t repeat_window = 64;    // how many recent ids the penalty looks at
  uint64_t seed = 0;
  std::vector<std::pair<int32_t, float>> logit_bias;  // (id, added to its logit), first
  float presence_penalty = 0.0f;                      // 0: off; over the same repeat_window ids
  float frequency_penalty = 0.0f;                     // 0: off
};

// logit bias -> repetition penalty -> presence/frequency penalty -> temperature -> top-k -> top-p
// -> min-p -> pick (the order of Hugging Face's logits warpers). temperature 0 gives greedy after
// the penalty.
SamplerChain MakeSampler(const SamplingOptions& options);

}  // namespace gemma
