#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "base/error.h"

namespace gemma {

Rng::Rng(uint64_t seed) : state_(seed) {}

// SplitMix64: small, fast, and the same sequence on every platform.
double Rng::Uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

namespace {

class LogitBiasStep : public SamplerStep {
 public:
  explicit LogitBiasStep(std::vector<std::pair<int32_t, float>> bias) : bias_(std::move(bias)) {}
  void Apply(Candidates& candidates, std::span<const int32_t>) override {
    auto& items = candidates.items;
    for (const auto& [id, bias] : bias_) {
      if (static_cast<size_t>(id) >= items.size()) {
        Fail(ErrorCode::kOutOfRange, "logit bias for token id ", id, " outside the vocabulary [0, ",
             items.size(), ")");
      }
      // The first step sees every id at its own index; otherwise look for it.
      Candidate* c = &items[id];
      if (c->id != id) {
        c = &*std::find_if(items.begin(), items.end(),
                           [&](const Candidate& x) { return x.id == id; });
      }
      c->logit += bias;
    }
    candidates.sorted = false;
  }

 private:
  std::vector<std::pair<int32_t, float>> bias_;
};

class RepetitionPenaltyStep : public SamplerStep {
 public:
  RepetitionPenaltyStep(float penalty, size_t window) : penalty_(penalty), window_(window) {}
  void Apply(Candidates& candidates, std::span<const int32_t> history) override {
    const size_t begin = history.size() > window_ ? history.size() - window_ : 0;
    seen_.clear();
    seen_.insert(history.begin() + begin, history.end());
    for (Candidate& c : candidates.items) {
      if (!seen_.count(c.id)) continue;
      c.logit = c.logit > 0 ? c.logit / penalty_ : c.logit * penalty_;
    }
    candidates.sorted = false;
  }

 private:
  float penalty_;
  size_t window_;
  std::unordered_set<int32_t> seen_;
};

class PresenceFrequencyPenaltyStep : public SamplerStep {
 public:
  PresenceFrequencyPenaltyStep(float presence, float frequency, size_t window)
      : presence_(presence), frequency_(frequency), window_(window) {}
  void Apply(Candidates& candidates, std::span<const int32_t> history) override {
    const size_t begin = history.size() > window_ ? history.size() - window_ : 0;
    counts_.clear();
    for (size_t i = begin; i < history.size(); ++i) ++counts_[history[i]];
    for (Candidate& c : candidates.items) {
      const auto it = counts_.find(c.id);
      if (it == counts_.end()) continue;
      c.logit -= presence_ + frequency_ * static_cast<float>(it->second);
    }
    candidates.sorted = false;
  }

 private:
  float presence_, frequency_;
  size_t window_;
  std::unordered_map<int32_t, uint32_t> counts_;
};

class TemperatureStep : public SamplerStep {
 public:
  explicit TemperatureStep(float temperature) : inv_(1.0f / temperature) {}
  void Apply(Candidates& candidates, std::span<const int32_t>) override {
    for (Candidate& c : candidates.items) c.logit *= inv_;  // keeps the order
  }

 private:
  float inv_;
};

class TopKStep : public SamplerStep {
 public:
  explicit TopKStep(size_t k) : k_(k) {}
  void Apply(Candidates& candidates, std::span<const int32_t>) override {
    auto& items = candidates.items;
    if (items.size() <= k_) return;
    if (!candidates.sorted) {
      // partial_sort is O(n log k): far cheaper than a full sort of 256,000 ids.
      std::partial_sort(items.begin(), items.begin() + k_, items.end(),
                        [](const Candidate& a, const Candidate& b) {
                          return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
                        });
    }
    items.resize(k_);
    candidates.sorted = true;
  }

 private:
  size_t k_;
};

class TopPStep : public SamplerStep {
 public:
  explicit TopPStep(float p) : p_(p) {}
  void Apply(Candidates& candidates, std::span<const int32_t>) override {
    if (p_ >= 1.0f) return;
    auto& items = candidates.items;
    if (items.empty()) return;
    // The softmax's normalizer needs every candidate, but the kept prefix is usually a few
    // dozen ids out of 256,000: sort only as far as the running sum needs, in growing
    // chunks. The comparator is a strict total order (ties by id), so each sorted chunk is
    // exactly the same prefix a full sort gives, and the kept set is the same.
    float max = items[0].logit;
    for (const Candidate& c : items) max = std::max(max, c.logit);
    double total = 0.0;  // in double, as Candidates::Probabilities sums
    for (const Candidate& c : items) total += std::exp(c.logit - max);
    const float inv = static_cast<float>(1.0 / total);
    size_t sorted_end = candidates.sorted ? items.size() : 0;
    size_t chunk = 64;
    double sum = 0.0;
    size_t keep = 0;
    while (keep < items.size()) {
      if (keep == sorted_end) {
        sorted_end = std::min(items.size(), keep + chunk);
        chunk *= 4;
        std::partial_sort(items.begin() + keep, items.begin() + sorted_end, items.end(),
                          Descending);
      }
      const float probability = std::exp(items[keep++].logit - max) * inv;
      sum += probability;
      if (sum >= p_) break;
    }
    items.resize(keep);
    candidates.sorted = true;
  }

 private:
  static bool Descending(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
  float p_;
};

class MinPStep : public SamplerStep {
 public:
  explicit MinPStep(float p) : p_(p) {}
  void Apply(Candidates& candidates, std::span<const int32_t>) override {
    if (candidates.items.empty() || p_ <= 0.0f) return;
    float max = candidates.items[0].logit;
    for (const Candidate& c : candidates.items) max = std::max(max, c.logit);
    // prob_i >= p * prob_max  <=>  logit_i >= logit_max + log(p): no softmax needed.
    const float threshold = max + std::log(p_);
    std::erase_if(candidates.items, [&](const Candidate& c) { return c.logit < threshold; });
  }

 private:
  float p_;
};

}  // namespace

std::unique_ptr<SamplerStep> LogitBias(std::vector<std::pair<int32_t, float>> bias) {
  for (const auto& [id, value] : bias) {
    if (id < 0) Fail(ErrorCode::kInvalidArgument, "logit bias for a negative token id ", id);
    if (!std::isfinite(value)) {
      Fail(ErrorCode::kInvalidArgument, "logit bias for token id ", id, " is not finite");
    }
  }
  return std::make_unique<LogitBiasStep>(std::move(bias));
}

std::unique_ptr<SamplerStep> RepetitionPenalty(float penalty, size_t window) {
  if (!(penalty > 0.0f) || !std::isfinite(penalty)) {
    Fail(ErrorCode::kInvalidArgument, "repeat penalty must be > 0, got ", penalty);
  }
  return std::make_unique<RepetitionPenaltyStep>(penalty, window);
}

std::unique_ptr<SamplerStep> PresenceFrequencyPenalty(float presence, float frequency,
                                                      size_t window) {
  if (!(presence >= -2.0f && presence <= 2.0f)) {
    Fail(ErrorCode::kInvalidArgument, "presence penalty must be in [-2, 2], got ", presence);
  }
  if (!(frequency >= -2.0f && frequency <= 2.0f)) {
    Fail(ErrorCode::kInvalidArgument, "frequency penalty must be in [-2, 2], got ", frequency);
  }
  return std::make_unique<PresenceFrequencyPenaltyStep>(presence, frequency, window);
}

std::unique_ptr<SamplerStep> Temperature(float temperature) {
  if (!(temperature > 0.0f) || !std::isfinite(temperature)) {
    Fail(ErrorCode::kInvalidArgument, "temperature must be > 0 (0 means greedy), got ",
         temperature);
  }
  return std::make_unique<TemperatureStep>(temperature);
}

std::unique_ptr<SamplerStep> TopK(size_t k) {
  if (k == 0) Fail(ErrorCode::kInvalidArgument, "top-k must be >= 1");
  return std::make_unique<TopKStep>(k);
}

std::unique_ptr<SamplerStep> TopP(float p) {
  if (!(p > 0.0f && p <= 1.0f))
    Fail(ErrorCode::kInvalidArgument, "top-p must be in (0, 1], got ", p);
  return std::make_unique<TopPStep>(p);
}

std::unique_ptr<SamplerStep> MinP(float p) {
  if (!(p >= 0.0f && p <= 1.0f))
    Fail(ErrorCode::kInvalidArgument, "min-p must be in [0, 1], got ", p);
  return std::make_unique<MinPStep>(p);
}

SamplerChain::SamplerChain(std::vector<std::unique_ptr<SamplerStep>> steps, Pick pick,
                           uint64_t seed)
    : steps_(std::move(steps)), pick_(pick), rng_(seed) {}

int32_t SamplerChain::Sample(std::span<const float> logits, std::span<const int32_t> history,
                             SamplerScratch& scratch) {
  if (logits.empty()) Fail(ErrorCode::kInvalidArgument, "sampling from an empty logits row");
  if (pick_ == Pick::kGreedy && steps_.empty()) {
    // Plain greedy: no candidate list (256,000 ids copied per token) is needed.
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
      if (logits[i] > logits[best]) best = i;  // strict: the lower id wins ties
    }
    return static_cast<int32_t>(best);
  }
  Candidates& candidates = scratch.candidates;
  candidates.Reset(logits);
  for (auto& step : steps_) step->Apply(candidates, history);
  const auto& items = candidates.items;
  if (items.empty()) Fail(ErrorCode::kInternal, "the sampler chain removed every candidate");

  if (pick_ == Pick::kGreedy) {
    const Candidate* best = &items[0];
    for (const Candidate& c : items) {
      if (c.logit > best->logit || (c.logit == best->logit && c.id < best->id)) best = &c;
    }
    return best->id;
  }
  candidates.Probabilities(scratch.probabilities);
  const double u = rng_.Uniform();
  double cumulative = 0.0;
  for (size_t i = 0; i < items.size(); ++i) {
    cumulative += scratch.probabilities[i];
    if (u < cumulative) return items[i].id;
  }
  return items.back().id;  // u within rounding of 1
}

SamplerChain MakeSampler(const SamplingOptions& o) {
  std::vector<std::unique_ptr<SamplerStep>> steps;
  if (!o.logit_bias.empty()) steps.push_back(LogitBias(o.logit_bias));
  if (o.repeat_penalty != 1.0f)
    steps.push_back(RepetitionPenalty(o.repeat_penalty, o.repeat_window));
  if (o.presence_penalty != 0.0f || o.frequency_penalty != 0.0f) {
    steps.push_back(
        PresenceFrequencyPenalty(o.presence_penalty, o.frequency_penalty, o.repeat_window));
  }
  if (o.temperature < 0.0f || !std::isfinite(o.temperature)) {
    Fail(ErrorCode::kInvalidArgument, "temperature must be >= 0 (0 means greedy), got ",
         o.temperature);
  }
  if (o.temperature == 0.0f) return SamplerChain(std::move(steps), Pick::kGreedy, o.seed);
  if (o.temperature != 1.0f) steps.push_back(Temperature(o.temperature));
  if (o.top_k > 0) steps.push_back(TopK(o.top_k));
  if (o.top_p != 1.0f) steps.push_back(TopP(o.top_p));
  if (o.min_p != 0.0f) steps.push_back(MinP(o.min_p));
  return SamplerChain(std::move(steps), Pick::kRandom, o.seed);
}

}  // namespace gemma
