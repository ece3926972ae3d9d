// Causal multi-head / grouped-query / multi-query attention over a KV cache.
#pragma once

#include <cstddef>

#include "kernels/thread_pool.h"

namespace gemma {

struct AttentionShape {
  size_t heads = 0;
  size_t kv_heads = 0;  // query head j reads kv head j / (heads / kv_heads)
  size_t head_dim = 0;
  size_t capacity = 0;  // positions per kv head in the cache
};

// Queries for `tokens` consecutive positions starting at first_position attend to cache
// positions 0..their own. Cache layout: kv head g, position p at (g * capacity + p) *
// head_dim, keys already rotated. q, out: [tokens, heads * head_dim]. scale = head_dim^-0.5.
void CausalAttention(const float* q, size_t tokens, size_t first_position, const float* k_cache,
                     const float* v_cache, const AttentionShape& shape, float scale, float* out,
                     ThreadPool& pool);

}  // namespace gemma
