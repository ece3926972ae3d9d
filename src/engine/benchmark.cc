#include "engine/benchmark.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "base/error.h"
#include "engine/session.h"

namespace gemma {
namespace {

using Clock = std::chrono::steady_clock;

// Tokens per batched forward call of the prompt test: llama-bench's default batch. Each
// chunk converts (dequantizes, packs) every weight once, so fewer chunks do less of that work:
// on Q4_0, one 512-token chunk prefilled 9% faster than two of 256. The activation buffers
// grow with the chunk, but the feed-forward block runs in slices of the intermediate features
// (ForwardWorkspace::ffn_slab), which keeps a 512-token chunk at ~30 MB on gemma-2b.
constexpr size_t kPrefillChunk = 512;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Measurement Summarize(std::vector<double> samples) {
  Measurement m;
  m.samples = std::move(samples);
  if (m.samples.empty()) return m;
  double sum = 0;
  for (double s : m.samples) sum += s;
  m.mean = sum / static_cast<double>(m.samples.size());
  double var = 0;
  for (double s : m.samples) var += (s - m.mean) * (s - m.mean);
  m.stddev = m.samples.size() > 1 ? std::sqrt(var / static_cast<double>(m.samples.size() - 1)) : 0;
  return m;
}

int32_t Argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

uint64_t PeakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

BenchmarkResult RunBenchmark(const ModelWeights& weights, ThreadPool& pool,
                             const BenchmarkOptions& options) {
  const ModelConfig& c = weights.config;
  const size_t needed = std::max(options.prompt_tokens, options.gen_tokens + 1);
  if (needed > static_cast<size_t>(c.max_position_embeddings)) {
    Fail(ErrorCode::kOutOfRange, "bench: ", needed, " positions exceed the model's context of ",
         c.max_position_embeddings);
  }
  if (options.repetitions < 1) Fail(ErrorCode::kInvalidArgument, "bench: repetitions must be >= 1");

  // Random ids that avoid the special tokens at the bottom of the vocabulary; <bos> first.
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int32_t> id(std::min<int32_t>(1000, c.vocab_size - 1),
                                            static_cast<int32_t>(c.vocab_size - 1));
  std::vector<int32_t> prompt(options.prompt_tokens);
  for (int32_t& t : prompt) t = id(rng);
  if (!prompt.empty()) prompt[0] = c.bos_token_id;

  Session session(weights, pool,
                  {.context = needed,
                   .prefill_chunk = std::clamp<size_t>(options.prompt_tokens, 1, kPrefillChunk)});
  std::vector<double> pp, tg, ttft;
  for (int run = 0; run <= options.repetitions; ++run) {  // run 0 is the warm-up
    const bool measured = run > 0;
    if (options.prompt_tokens > 0) {
      session.Reset();
      const Clock::time_point start = Clock::now();
      session.Append(prompt);
      const double prefill_s = SecondsSince(start);
      (void)Argmax(session.logits());
      const double first_token_s = SecondsSince(start);
      if (measured) {
        pp.push_back(static_cast<double>(prompt.size()) / prefill_s);
        ttft.push_back(first_token_s);
      }
    }
    if (options.gen_tokens > 0) {
      session.Reset();
      const int32_t bos = c.bos_token_id;
      session.Append({&bos, 1});
      const Clock::time_point start = Clock::now();
      for (size_t i = 0; i < options.gen_tokens; ++i) {
        const int32_t next = Argmax(session.logits());
        session.Append({&next, 1});
      }
      if (measured) tg.push_back(static_cast<double>(options.gen_tokens) / SecondsSince(start));
    }
  }
  return BenchmarkResult{.prompt_tokens_per_s = Summarize(pp),
                         .gen_tokens_per_s = Summarize(tg),
                         .time_to_first_token_s = Summarize(ttft),
                         .peak_rss_bytes = PeakRssBytes()};
}

}  // namespace gemma
