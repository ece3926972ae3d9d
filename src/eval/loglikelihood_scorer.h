// Log-likelihoods of continuations given contexts (lm-evaluation-harness's `loglikelihood`
// requests) on the batched engine. An item is a group of requests that usually share their
// context (the choices of one multiple-choice question): with prefix reuse, its first
// request goes first, and the others are submitted as soon as the engine has computed the
// shared context, so they take its KV blocks from the prefix cache instead of computing it
// again (whole KV blocks of 16 positions are shared, and the positions of the shared part
// after its last whole block are copied from the first request's block). Few-shot prefixes
// shared across items are reused the same way.
//
// A request runs context + continuation minus the continuation's last id (its row would
// predict what follows the continuation) and asks for the rows from the context's last
// position on: each row's log-softmax at the next id is summed, in double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gemma_rt/gemma_rt.h"

namespace gemma::eval {

struct ContinuationRequest {
  std::vector<int32_t> context;       // <bos> first; not empty
  std::vector<int32_t> continuation;  // the ids scored; not empty
};

struct ContinuationScore {
  double loglikelihood = 0;  // sum over the continuation of log p(id | what precedes it)
  bool greedy = false;       // every continuation id is its row's largest logit
};

struct ScoringItem {
  std::string where;  // names the item in errors ("data.jsonl:12")
  std::vector<ContinuationRequest> requests;
};

struct ScorerOptions {
  size_t max_sequences = 16;  // requests in the engine at once
  bool prefix_reuse = true;   // off: every request computes its whole context
  size_t step_tokens = 512;   // engine rows per forward step
  // Rows of logits the engine hands out per step (each 4 x vocab bytes).
  size_t max_logit_rows = 256;
};

struct ScorerProgress {
  size_t items_done = 0, items = 0;
  double seconds = 0;
};

struct ScorerStats {
  size_t items = 0, requests = 0;
  uint64_t prompt_tokens = 0;  // prompt positions computed
  uint64_t cached_tokens = 0;  // prompt positions taken from the prefix cache instead
  double seconds = 0;
};

// Scores `items` items: make_item(i) gives item i (called in the calling thread, in order,
// shortly before the item is submitted); on_item(i, scores) gets its scores in request
// order (calling thread, item order); progress after each item. Throws
// std::runtime_error naming the item when a request cannot run.
ScorerStats ScoreItems(
    const gemma_rt::Model& model, size_t items, const std::function<ScoringItem(size_t)>& make_item,
    const std::function<void(size_t, std::span<const ContinuationScore>)>& on_item,
    const ScorerOptions& options = {},
    const std::function<void(const ScorerProgress&)>& progress = {});

}  // namespace gemma::eval
