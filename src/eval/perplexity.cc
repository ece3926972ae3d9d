#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>

#include "eval/kv_budget.h"
#include "eval/log_softmax.h"
#include "eval/run_support.h"
#include "gemma_rt/engine.h"

namespace gemma::eval {
ChunkPlan PlanChunks(size_t text_tokens, const PerplexityOptions& options) {
  if (options.context < 3) {
    throw std::invalid_argument("a chunk must hold at least 3 tokens to score one (--ctx " +
                                std::to_string(options.context) + ")");
  }
  if (options.parallel == 0) throw std::invalid_argument("--parallel must be at least 1");
  if (text_tokens < options.context) {
    throw std::invalid_argument("the text has " + std::to_string(text_tokens) +
                                " tokens, fewer than one chunk of " +
                                std::to_string(options.context) + " (--ctx)");
  }
  ChunkPlan plan;
  plan.chunks = text_tokens / options.context;
  if (options.max_chunks != 0) plan.chunks = std::min(plan.chunks, options.max_chunks);
  plan.first_scored = options.context / 2;
  plan.scored_per_chunk = options.context - 1 - plan.first_scored;
  return plan;
}

std::vector<int32_t> ChunkPrompt(std::span<const int32_t> tokens, size_t chunk,
                                 const PerplexityOptions& options) {
  const size_t start = chunk * options.context;
  std::vector<int32_t> prompt(
      tokens.begin() + static_cast<std::ptrdiff_t>(start),
      tokens.begin() + static_cast<std::ptrdiff_t>(start + options.context - 1));
  prompt[0] = options.bos_id;
  return prompt;
}

PerplexityResult ComputePerplexity(const gemma_rt::Model& model, std::span<const int32_t> tokens,
                                   const PerplexityOptions& options,
                                   const PerplexityProgressFn& progress) {
  const ChunkPlan plan = PlanChunks(tokens.size(), options);
  const gemma_rt::ModelInfo info = model.info();

  struct Chunk {
    NllStats nll;  // written by the engine's thread until `done`
    bool done = false;
    std::string error;
  };
  std::vector<Chunk> chunks(plan.chunks);
  std::mutex mutex;
  std::condition_variable changed;

  const auto start = std::chrono::steady_clock::now();
  gemma_rt::Engine engine(
      model, {.max_sequences = options.parallel,
              .step_tokens = options.step_tokens,
              .kv_bytes = KvBytesFor(info, options.parallel * options.context + kKvBlockPositions),
              .prefix_cache = false,
              .max_prompt_logit_rows = options.logit_rows_per_step});
  const auto submit = [&](size_t c) {
    const size_t chunk_start = c * options.context;
    Chunk* chunk = &chunks[c];
    engine.Submit({.prompt_ids = ChunkPrompt(tokens, c, options),
                   .options = {.max_tokens = 1, .sampling = {.temperature = 0.0f}},
                   .on_done =
                       [&, chunk](const gemma_rt::RequestResult& r) {
                         std::lock_guard lock(mutex);
                         chunk->error = RequestError(r);
                         chunk->done = true;
                         changed.notify_all();
                       },
                   .prompt_logits_from = plan.first_scored,
                   .on_prompt_logits =
                       [chunk, chunk_start, tokens](size_t position, std::span<const float> row) {
                         const int32_t target = tokens[chunk_start + position + 1];
                         chunk->nll.Add(-AnalyzeRow(row).LogProb(row, target));
                       }});
  };

  // Twice `parallel` chunks submitted ahead keep the engine's slots full between steps.
  const size_t ahead = 2 * options.parallel;
  PerplexityResult result{.chunks = plan.chunks, .context = options.context};
  size_t submitted = 0;
  for (size_t c = 0; c < plan.chunks; ++c) {
    while (submitted < plan.chunks && submitted < c + ahead) submit(submitted++);
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return chunks[c].done; });
    }
    if (!chunks[c].error.empty()) {
      throw std::runtime_error("chunk " + std::to_string(c + 1) + ": " + chunks[c].error);
    }
    if (chunks[c].nll.count != plan.scored_per_chunk) {
      throw std::runtime_error("chunk " + std::to_string(c + 1) + ": the engine gave " +
                               std::to_string(chunks[c].nll.count) + " rows of logits, not " +
                               std::to_string(plan.scored_per_chunk));
    }
    result.nll.Add(chunks[c].nll);
    if (progress) {
      progress({.chunks_done = c + 1,
                .chunks = plan.chunks,
                .nll = result.nll,
                .seconds = SecondsSince(start)});
    }
  }
  result.tokens_evaluated = plan.chunks * options.context;
  result.seconds = SecondsSince(start);
  return result;
}

}  // namespace gemma::eval
