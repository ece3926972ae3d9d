#include "engine/parallel_benchmark.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace gemma {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Measurement Summarize(std::vector<double> samples) {
  Measurement m;
  m.samples = std::move(samples);
  if (m.samples.empty()) return m;
  for (double s : m.samples) m.mean += s / static_cast<double>(m.samples.size());
  double var = 0;
  for (double s : m.samples) var += (s - m.mean) * (s - m.mean);
  m.stddev = m.samples.size() > 1 ? std::sqrt(var / static_cast<double>(m.samples.size() - 1)) : 0;
  return m;
}

}  // namespace

ParallelBenchmarkResult RunParallelBenchmark(const ModelWeights& weights, ThreadPool& pool,
                                             const ParallelBenchmarkOptions& o) {
  const ModelConfig& c = weights.config;
  if (o.parallel == 0 || o.parallel > 1024) {
    Fail(ErrorCode::kInvalidArgument, "bench: --parallel must be 1..1024, got ", o.parallel);
  }
  if (o.prompt_tokens == 0 || o.gen_tokens == 0) {
    Fail(ErrorCode::kInvalidArgument, "bench --parallel needs -p and -n of at least 1");
  }
  if (o.repetitions < 1) Fail(ErrorCode::kInvalidArgument, "bench: repetitions must be >= 1");
  const size_t positions = o.prompt_tokens + o.gen_tokens + 1;
  if (positions > static_cast<size_t>(c.max_position_embeddings)) {
    Fail(ErrorCode::kOutOfRange, "bench: ", positions, " positions exceed the model's context");
  }
  // By default every prompt in one step (up to 4096 rows), so the prompt and generation
  // phases are apart as in llama-batched-bench; KV for exactly what the sequences use.
  const size_t block = KVPool::kDefaultBlockSize;
  const uint64_t kv_bytes =
      o.parallel * ((positions + block - 1) / block) * KVPool::BytesPerBlock(c, block, o.kv_dtype);
  Engine engine(weights, nullptr, pool,
                {.max_sequences = o.parallel,
                 .step_tokens = o.step_tokens != 0
                                    ? o.step_tokens
                                    : std::clamp<size_t>(o.parallel * o.prompt_tokens, 512, 4096),
                 .kv_bytes = kv_bytes,
                 .prefix_cache = false,
                 .kv_dtype = o.kv_dtype});

  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> id(std::min<int32_t>(1000, c.vocab_size - 1),
                                            static_cast<int32_t>(c.vocab_size - 1));
  std::vector<double> pp, tg;
  for (int run = 0; run <= o.repetitions; ++run) {                  // run 0 is the warm-up
    std::vector<std::vector<Clock::time_point>> times(o.parallel);  // of each generated id
    const Clock::time_point start = Clock::now();
    for (size_t s = 0; s < o.parallel; ++s) {
      std::vector<int32_t> prompt(o.prompt_tokens);
      for (int32_t& t : prompt) t = id(rng);
      prompt[0] = c.bos_token_id;
      GenerateOptions options;
      options.max_tokens = o.gen_tokens + 1;  // the first comes from the prompt's logits
      options.sampling.temperature = 0.0f;
      options.sampling.logit_bias = {{c.eos_token_id, -1e9f}};  // every sequence runs to the end
      engine.Submit({.prompt = std::move(prompt),
                     .options = options,
                     .on_token = [&, s](int32_t token, std::string_view) {
                       if (token != -1) times[s].push_back(Clock::now());
                       return true;
                     }});
    }
    engine.RunUntilIdle();
    Clock::time_point prompts_done = start, end = start;
    for (const auto& t : times) {
      prompts_done = std::max(prompts_done, t.front());
      end = std::max(end, t.back());
    }
    if (run == 0) continue;
    pp.push_back(static_cast<double>(o.parallel * o.prompt_tokens) / Seconds(start, prompts_done));
    // Ids generated after every prompt was done (with all prompts in one step: gen_tokens
    // per sequence; otherwise early sequences' ids during later prompt steps are left out).
    size_t after = 0;
    for (const auto& t : times) {
      after += static_cast<size_t>(
          std::count_if(t.begin(), t.end(), [&](Clock::time_point x) { return x > prompts_done; }));
    }
    tg.push_back(static_cast<double>(after) / Seconds(prompts_done, end));
  }
  return {.prompt_tokens_per_s = Summarize(pp),
          .gen_tokens_per_s = Summarize(tg),
          .kv_bytes = kv_bytes,
          .peak_rss_bytes = PeakRssBytes()};
}

}  // namespace gemma
