// Aggregate speed of many sequences decoding together through the batched engine, measured
// like llama.cpp's llama-batched-bench so the numbers compare: `parallel` sequences, each
// with its own random `prompt_tokens`-token prompt (no shared prefix, prefix cache off), all
// submitted at once; the prompts are prefilled together, then each sequence generates
// `gen_tokens` more tokens in decode steps that carry one row per sequence.
//   prompt tokens/s = parallel x prompt_tokens / (submit .. every sequence's first id)
//   gen tokens/s    = parallel x gen_tokens / (that moment .. the last id)
// (llama-batched-bench's PP and TG with -npp prompt_tokens -ntg gen_tokens -npl parallel).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/benchmark.h"
#include "kernels/thread_pool.h"
#include "model/weights.h"

namespace gemma {

struct ParallelBenchmarkOptions {
  size_t parallel = 8;
  size_t prompt_tokens = 128;
  size_t gen_tokens = 32;
  int repetitions = 3;  // measured runs, after one warm-up run
  uint64_t seed = 1;    // for the random prompts
  // Rows per engine step; 0: every prompt in one step (up to 4096 rows), so the prompt and
  // generation phases are apart as in llama-batched-bench.
  size_t step_tokens = 0;
  DType kv_dtype = DType::kF32;  // the KV cache's storage
};

struct ParallelBenchmarkResult {
  Measurement prompt_tokens_per_s;  // aggregate over the sequences
  Measurement gen_tokens_per_s;     // aggregate over the sequences
  uint64_t kv_bytes = 0;            // the engine's KV pool
  uint64_t peak_rss_bytes = 0;
};

ParallelBenchmarkResult RunParallelBenchmark(const ModelWeights& weights, ThreadPool& pool,
                                             const ParallelBenchmarkOptions& options);

}  // namespace gemma
