// Sampling cost per token over gemma's 256,000-id vocabulary: what the engine thread pays for
// each sequence at each step, beside the forward pass. Logits are normal with a spread like a
// trained model's (a few ids far above the rest).
//   build/bench/sampler_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace {

constexpr size_t kVocab = 256000;

const std::vector<float>& Logits() {
  static const std::vector<float> logits = [] {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::vector<float> v(kVocab);
    for (float& x : v) x = normal(rng);
    return v;
  }();
  return logits;
}

void Run(benchmark::State& state, const gemma::SamplingOptions& options) {
  gemma::SamplerChain chain = gemma::MakeSampler(options);
  const std::vector<float>& logits = Logits();
  for (auto _ : state) benchmark::DoNotOptimize(chain.Sample(logits, {}));
}

// How many ids top-p 0.95 keeps for these logits (at temperature 0.8), to read the
// BM_TopP times against.
void BM_TopP095Kept(benchmark::State& state) {
  gemma::Candidates c;
  for (auto _ : state) {
    c.Reset(Logits());
    gemma::Temperature(0.8f)->Apply(c, {});
    gemma::TopP(0.95f)->Apply(c, {});
  }
  state.counters["kept"] = static_cast<double>(c.items.size());
}

void BM_Greedy(benchmark::State& s) { Run(s, {.temperature = 0.0f}); }
void BM_Temperature(benchmark::State& s) { Run(s, {.temperature = 0.8f, .seed = 1}); }
void BM_TopK40(benchmark::State& s) { Run(s, {.temperature = 0.8f, .top_k = 40, .seed = 1}); }
void BM_TopP095(benchmark::State& s) { Run(s, {.temperature = 0.8f, .top_p = 0.95f, .seed = 1}); }
void BM_TopKTopPMinP(benchmark::State& s) {
  Run(s, {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .seed = 1});
}

BENCHMARK(BM_TopP095Kept);
BENCHMARK(BM_Greedy);
BENCHMARK(BM_Temperature);
BENCHMARK(BM_TopK40);
BENCHMARK(BM_TopP095);
BENCHMARK(BM_TopKTopPMinP);

}  // namespace

BENCHMARK_MAIN();
