// Speed of a loaded model, measured like llama.cpp's llama-bench so the numbers compare:
// prompt processing = a batched prefill of `prompt_tokens` random ids in chunks of up to
// 256 tokens (logits for the last token only); generation = `gen_tokens` single-token
// decode steps from an empty cache, each computing the full logits row and taking its
// argmax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/weights.h"

namespace gemma {

struct BenchmarkOptions {
  size_t prompt_tokens = 512;  // 0: skip the prompt test
  size_t gen_tokens = 128;     // 0: skip the generation test
  int repetitions = 3;         // measured runs of each test, after one warm-up run
  uint64_t seed = 1;           // for the random prompt ids
};

struct Measurement {
  double mean = 0;
  double stddev = 0;
  std::vector<double> samples;
};

struct BenchmarkResult {
  Measurement prompt_tokens_per_s;
  Measurement gen_tokens_per_s;
  Measurement time_to_first_token_s;  // prefill of the prompt + picking the first token
  uint64_t peak_rss_bytes = 0;        // of the whole process, after the runs
};

BenchmarkResult RunBenchmark(const ModelWeights& weights, ThreadPool& pool,
                             const BenchmarkOptions& options);

// Peak resident set size of this process so far (getrusage), in bytes.
uint64_t PeakRssBytes();

}  // namespace gemma
