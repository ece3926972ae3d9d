// Perplexity of a text computed the way llama-perplexity computes it by default, so that
// the two tools give the same number on the same GGUF file and text:
//   - the text's ids (with <bos> first) are cut into non-overlapping chunks of `context`
//     ids; a tail shorter than a chunk is not used;
//   - each chunk is run on its own, its first id replaced by <bos>;
//   - only the second half is scored: positions context/2 .. context-2 predict the ids
//     after them (context - 1 - context/2 ids per chunk);
//   - perplexity = exp(mean negative log-likelihood), with its standard error.
// Chunks run on the batched engine (gemma_rt::Engine), `parallel` of them at once; each
// scored row's log-softmax is taken as the engine produces it, so no logits are stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "eval/nll_stats.h"
#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

struct PerplexityOptions {
  size_t context = 512;      // ids per chunk (llama-perplexity's -c)
  size_t max_chunks = 0;     // 0: every whole chunk of the text
  size_t parallel = 1;       // chunks in the engine at once
  size_t step_tokens = 512;  // engine rows per forward step (llama.cpp's ubatch)
  int32_t bos_id = 2;        // Gemma's <bos>
  // Scored rows the engine hands out per step (1 MB each with Gemma's vocabulary); fewer
  // than a chunk's scored rows split its forward pass into several steps.
  size_t logit_rows_per_step = 256;
};

struct ChunkPlan {
  size_t chunks = 0;
  size_t first_scored = 0;      // context / 2: the first position whose row is scored
  size_t scored_per_chunk = 0;  // context - 1 - context / 2
};
// Throws std::invalid_argument when the text holds no whole chunk or the options are bad.
ChunkPlan PlanChunks(size_t text_tokens, const PerplexityOptions& options);

// The ids chunk `chunk` runs: tokens[chunk * context, (chunk + 1) * context - 1) with the
// first one replaced by <bos> (the chunk's last id is only predicted, never run).
std::vector<int32_t> ChunkPrompt(std::span<const int32_t> tokens, size_t chunk,
                                 const PerplexityOptions& options);

struct PerplexityProgress {
  size_t chunks_done = 0, chunks = 0;
  NllStats nll;  // of the chunks done, in chunk order
  double seconds = 0;
};
using PerplexityProgressFn = std::function<void(const PerplexityProgress&)>;

struct PerplexityResult {
  NllStats nll;
  size_t chunks = 0;
  size_t context = 0;
  size_t tokens_evaluated = 0;  // chunks * context, as llama-perplexity counts them
  double seconds = 0;
  double TokensPerSecond() const { return seconds > 0 ? tokens_evaluated / seconds : 0.0; }
};

// `tokens`: the text's ids, <bos> first (Model::Tokenize(text, true)). `progress` is called
// in the calling thread after each chunk, in chunk order.
PerplexityResult ComputePerplexity(const gemma_rt::Model& model, std::span<const int32_t> tokens,
                                   const PerplexityOptions& options,
                                   const PerplexityProgressFn& progress = {});

}  // namespace gemma::eval
