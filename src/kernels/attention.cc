#include "kernels/attention.h"

#include "kernels/ref/reference.h"

namespace gemma {

void CausalAttention(const float* q, size_t tokens, size_t first_position, const float* k_cache,
                     const float* v_cache, const AttentionShape& s, float scale, float* out,
                     ThreadPool& pool) {
  (void)pool;
  ref::Attention(q, tokens, first_position, k_cache, v_cache, s.capacity, s.heads, s.kv_heads,
                 s.head_dim, scale, out);
}

}  // namespace gemma
