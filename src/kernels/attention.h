// Causal multi-head / grouped-query / multi-query attention over a paged KV cache, for
// the queries of one or many sequences in one call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/dtype.h"
#include "kernels/thread_pool.h"

namespace gemma {

struct AttentionShape {
  size_t heads = 0;
  size_t kv_heads = 0;  // query head j reads kv head j / (heads / kv_heads)
  size_t head_dim = 0;
};

// One layer's keys and values of one sequence, in the blocks of a KV pool: position p of kv
// head g is the row ((blocks[p / block_size] * kv_heads + g) * block_size + p % block_size)
// of `keys` / `values`, each row head_dim elements of `dtype` (F32 or BF16); keys already
// rotated. bf16 elements are widened to float32 as they are loaded, so a bf16 cache gives
// exactly what a float32 cache holding the same (rounded) values gives.
struct PagedKV {
  const std::byte* keys;
  const std::byte* values;
  const int32_t* blocks;  // the sequence's block table
  size_t num_blocks;      // entries in it
  size_t block_size;      // positions per block
  DType dtype = DType::kF32;
};

// `tokens` queries at consecutive positions first_position.. of one sequence, attending to
// its cache positions 0..their own. q, out: [tokens, heads * head_dim].
struct AttentionQuery {
  const float* q;
  size_t tokens;
  size_t first_position;
  PagedKV kv;
  float* out;
};

// Every query of every sequence in one pass over the pool. scale = head_dim^-0.5. A query's
// result does not depend on the other queries of the call, nor on where its blocks lie.
void CausalAttention(std::span<const AttentionQuery> queries, const AttentionShape& shape,
                     float scale, ThreadPool& pool);

}  // namespace gemma
