// A conversation's state on a loaded model: its KV cache, its activation buffers and the
// ids seen so far. Several sessions can share one ModelWeights (read-only) without
// interfering; a session is used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gemma {

struct SessionOptions {
  // Positions the KV cache holds; 0 means the model's max_position_embeddings (the cache's
  // pages are touched only as positions are used, see KVCache).
  size_t context = 0;
  // Tokens per batched forward call during prefill: bounds the activation buffers
  // (gemma-2b: about 60 KB per token, 30 MB for 512; see ForwardScratch). Larger chunks
  // convert each weight fewer times per prompt.
  size_t prefill_chunk = 512;
};

class Session {
 public:
  // `weights` and `pool` must outlive the session.
  Session(const ModelWeights& weights, ThreadPool& pool, const SessionOptions& options = {});

  // Runs `ids` through the model at the next positions (prefill: batched, in chunks of
  // prefill_chunk; one id: a decode step). Afterwards logits() belongs to the last id.
  // Every id and the context are checked first: on error nothing changes.
  void Append(std::span<const int32_t> ids, const LayerObserver* observer = nullptr);

  // Append() that also returns the logits at `positions` (absolute, ascending, among the
  // new ones), [positions.size(), vocab] row-major: one forward pass, for evaluation.
  std::vector<float> AppendWithLogits(std::span<const int32_t> ids,
                                      std::span<const size_t> positions);

  std::span<const float> logits() const;              // [vocab]; empty before any Append
  size_t position() const { return tokens_.size(); }  // positions filled in the cache
  size_t context() const { return cache_.capacity(); }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // every id appended
  const ModelWeights& weights() const { return weights_; }

  // Forgets everything (the cache is overwritten from position 0 on).
  void Reset();

 private:
  void Run(std::span<const int32_t> ids, std::span<const size_t> positions, float* out,
           const LayerObserver* observer);

  const ModelWeights& weights_;
  ThreadPool& pool_;
  KVCache cache_;
  ForwardScratch scratch_;
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;        // [vocab]
  std::vector<float> chunk_logits_;  // [rows, vocab]: only when positions are requested
  bool has_logits_ = false;
};

}  // namespace gemma
