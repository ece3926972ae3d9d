// A conversation's state on a loaded model: its KV cache, its activation buffers and the
// ids of its context. Several sessions can share one ModelWeights (read-only) without
// interfering; a session is used from one thread at a time.
//
// The context may end with ids that are not yet in the KV cache: a generated id joins the
// context when it is sampled (the user has seen it), but its forward pass runs only when
// something needs it (the next decode step, the next Append, or logits()). So a generation
// that stops costs no wasted forward pass, and a following turn still sees every id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
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
  // (gemma-2b: about 60 KB per token, 30 MB for 512; see ForwardWorkspace). Larger chunks
  // convert each weight fewer times per prompt.
  size_t prefill_chunk = 512;
  // Held around each forward pass when sessions on other threads share the thread pool
  // (null: the caller serializes). Only the forward pass holds it, never a user callback.
  std::mutex* pool_mutex = nullptr;
};

class Session {
 public:
  // `weights` and `pool` must outlive the session.
  Session(const ModelWeights& weights, ThreadPool& pool, const SessionOptions& options = {});

  // Adds `ids` to the context and runs every id not yet in the cache through the model
  // (prefill: batched, in chunks of prefill_chunk; one id: a decode step). Afterwards
  // logits() belongs to the last id. Every id and the context are checked first: on error
  // nothing changes.
  void Append(std::span<const int32_t> ids, const LayerObserver* observer = nullptr);

  // Adds one id to the context without running it yet (a generated id; see above).
  void AppendPending(int32_t id);
  // Runs the pending ids, if any (a decode step for one).
  void RunPending();

  // Append() that also returns the logits at `positions` (absolute, ascending, among the
  // new ones), [positions.size(), vocab] row-major: one forward pass, for evaluation.
  std::vector<float> AppendWithLogits(std::span<const int32_t> ids,
                                      std::span<const size_t> positions);

  // [vocab] after the last id of the context; empty before any Append or while ids are
  // pending (RunPending first).
  std::span<const float> logits() const;
  size_t position() const { return tokens_.size(); }  // ids in the context
  size_t pending() const { return tokens_.size() - cached_; }
  size_t context() const { return cache_.capacity(); }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // every id appended
  const ModelWeights& weights() const { return weights_; }

  // Forgets everything (the cache is overwritten from position 0 on).
  void Reset();

 private:
  void CheckNewIds(std::span<const int32_t> ids) const;
  // Runs tokens_[cached_..], returning the logits at `positions` into `out`.
  void Run(std::span<const size_t> positions, float* out, const LayerObserver* observer);

  const ModelWeights& weights_;
  ThreadPool& pool_;
  KVCache cache_;
  ForwardWorkspace scratch_;
  std::mutex* pool_mutex_;
  std::vector<int32_t> tokens_;      // the context: ids in the cache, then pending ids
  size_t cached_ = 0;                // tokens_[0, cached_) are in the KV cache
  std::vector<float> logits_;        // [vocab]
  std::vector<float> chunk_logits_;  // [rows, vocab]: only when positions are requested
  bool has_logits_ = false;
};

}  // namespace gemma
