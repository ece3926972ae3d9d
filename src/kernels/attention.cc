// Causal attention over a paged KV cache, flash-attention style: keys and values are
// streamed in tiles of kTile positions with an online softmax (running max m, running sum
// l, output rescaled when the max grows), so no [tokens x positions] score matrix exists
// and decode at position P reads K and V once: O(P), nothing quadratic. A tile may span
// several cache blocks: its rows are found through the sequence's block table, so the
// result does not depend on where the blocks lie.
//
// Work item = (query of any sequence in the call, kv head, slice of that kv head's query
// heads). All query
// heads of a slice share each K and V row load, so multi-query attention (gemma-2b: 8
// heads on 1 kv head) reads the cache once per token, not once per head. Items are dealt
// to the workers round-robin, which balances the causal triangle of a prefill (late tokens
// attend to more positions). When there are fewer (token, kv head) pairs than workers
// (decode), the query heads of a kv head are split among the workers instead.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/attention.h"
#include "kernels/simd_weights-inl.h"

#ifndef GEMMA_KERNELS_ATTENTION_TILE_
#define GEMMA_KERNELS_ATTENTION_TILE_
namespace gemma::attention_tile {
constexpr size_t kTile = 64;           // positions per tile: scores of a tile stay in L1
constexpr size_t kMaxSliceHeads = 16;  // query heads handled together by one item
constexpr size_t kMaxHeadDim = 1024;
}  // namespace gemma::attention_tile
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {
using namespace gemma::attention_tile;  // NOLINT(build/namespaces)
// Cached keys and values of any stored type as float32 (bf16: a shift).
using plain_weights::LoadWeights;
using plain_weights::WeightAt;

// Heads are processed four at a time so that the dot products and the value updates
// have 8 independent FMA chains (4 heads x 2 vectors): one head at a time would wait on
// the FMA latency and run at a quarter of the FMA throughput.
constexpr size_t kHeadBlock = 4;

// scores[h][p] = scale * q_h . key for the 4 heads whose queries are q[0..3]. T: the
// cache's element type (float or hwy::bfloat16_t).
template <typename T>
HWY_INLINE void Scores4(const float* const* HWY_RESTRICT q, const T* HWY_RESTRICT key,
                        size_t head_dim, float scale, float* s0, float* s1, float* s2, float* s3) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const size_t N = hn::Lanes(df);
  V a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  V b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
  size_t d = 0;
  for (; d + 2 * N <= head_dim; d += 2 * N) {
    const V k0 = LoadWeights(df, key + d);
    const V k1 = LoadWeights(df, key + d + N);
    a0 = hn::MulAdd(hn::LoadU(df, q[0] + d), k0, a0);
    a1 = hn::MulAdd(hn::LoadU(df, q[1] + d), k0, a1);
    a2 = hn::MulAdd(hn::LoadU(df, q[2] + d), k0, a2);
    a3 = hn::MulAdd(hn::LoadU(df, q[3] + d), k0, a3);
    b0 = hn::MulAdd(hn::LoadU(df, q[0] + d + N), k1, b0);
    b1 = hn::MulAdd(hn::LoadU(df, q[1] + d + N), k1, b1);
    b2 = hn::MulAdd(hn::LoadU(df, q[2] + d + N), k1, b2);
    b3 = hn::MulAdd(hn::LoadU(df, q[3] + d + N), k1, b3);
  }
  for (; d + N <= head_dim; d += N) {
    const V k0 = LoadWeights(df, key + d);
    a0 = hn::MulAdd(hn::LoadU(df, q[0] + d), k0, a0);
    a1 = hn::MulAdd(hn::LoadU(df, q[1] + d), k0, a1);
    a2 = hn::MulAdd(hn::LoadU(df, q[2] + d), k0, a2);
    a3 = hn::MulAdd(hn::LoadU(df, q[3] + d), k0, a3);
  }
  float t0 = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, b0)));
  float t1 = hn::GetLane(hn::SumOfLanes(df, hn::Add(a1, b1)));
  float t2 = hn::GetLane(hn::SumOfLanes(df, hn::Add(a2, b2)));
  float t3 = hn::GetLane(hn::SumOfLanes(df, hn::Add(a3, b3)));
  // Explicit fused multiply-adds: whether the compiler contracts a * b + c into one is its
  // choice per instantiation, and the float and bf16 caches must give the same bits.
  for (; d < head_dim; ++d) {
    const float k = WeightAt(key, d);
    t0 = std::fma(q[0][d], k, t0);
    t1 = std::fma(q[1][d], k, t1);
    t2 = std::fma(q[2][d], k, t2);
    t3 = std::fma(q[3][d], k, t3);
  }
  *s0 = t0 * scale;
  *s1 = t1 * scale;
  *s2 = t2 * scale;
  *s3 = t3 * scale;
}

// out[h] += sum_p w[h][p] * values[p] for 4 heads, over n positions of the tile (values[p]:
// the row of position p). Each slice of out stays in registers while the values stream.
template <typename T>
HWY_INLINE void AccumulateValues4(const float* const* HWY_RESTRICT w,
                                  const T* const* HWY_RESTRICT values, size_t n, size_t head_dim,
                                  float* const* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const size_t N = hn::Lanes(df);
  size_t d = 0;
  for (; d + 2 * N <= head_dim; d += 2 * N) {
    V a0 = hn::LoadU(df, out[0] + d), b0 = hn::LoadU(df, out[0] + d + N);
    V a1 = hn::LoadU(df, out[1] + d), b1 = hn::LoadU(df, out[1] + d + N);
    V a2 = hn::LoadU(df, out[2] + d), b2 = hn::LoadU(df, out[2] + d + N);
    V a3 = hn::LoadU(df, out[3] + d), b3 = hn::LoadU(df, out[3] + d + N);
    for (size_t p = 0; p < n; ++p) {
      const V v0 = LoadWeights(df, values[p] + d);
      const V v1 = LoadWeights(df, values[p] + d + N);
      V wp = hn::Set(df, w[0][p]);
      a0 = hn::MulAdd(wp, v0, a0);
      b0 = hn::MulAdd(wp, v1, b0);
      wp = hn::Set(df, w[1][p]);
      a1 = hn::MulAdd(wp, v0, a1);
      b1 = hn::MulAdd(wp, v1, b1);
      wp = hn::Set(df, w[2][p]);
      a2 = hn::MulAdd(wp, v0, a2);
      b2 = hn::MulAdd(wp, v1, b2);
      wp = hn::Set(df, w[3][p]);
      a3 = hn::MulAdd(wp, v0, a3);
      b3 = hn::MulAdd(wp, v1, b3);
    }
    hn::StoreU(a0, df, out[0] + d);
    hn::StoreU(b0, df, out[0] + d + N);
    hn::StoreU(a1, df, out[1] + d);
    hn::StoreU(b1, df, out[1] + d + N);
    hn::StoreU(a2, df, out[2] + d);
    hn::StoreU(b2, df, out[2] + d + N);
    hn::StoreU(a3, df, out[3] + d);
    hn::StoreU(b3, df, out[3] + d + N);
  }
  for (; d < head_dim; ++d) {
    for (size_t h = 0; h < kHeadBlock; ++h) {
      float acc = out[h][d];
      for (size_t p = 0; p < n; ++p) acc = std::fma(w[h][p], WeightAt(values[p], d), acc);
      out[h][d] = acc;
    }
  }
}

HWY_INLINE void ScaleInPlace(float s, float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto vs = hn::Set(df, s);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vs), df, x + i);
  for (; i < n; ++i) x[i] *= s;
}

// scores[i] = exp(scores[i] - max) for i < n; returns their sum.
HWY_INLINE float ExpShiftSum(float* HWY_RESTRICT scores, size_t n, float max) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto vmax = hn::Set(df, max);
  auto vsum = hn::Zero(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, scores + i), vmax));
    hn::StoreU(e, df, scores + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; i < n; ++i) {
    scores[i] = std::exp(scores[i] - max);
    sum += scores[i];
  }
  return sum;
}

// Query heads [head_begin, head_end) (all on kv head `kv`) of the query at `position`.
// q, out: that token's [heads * head_dim]; kv: the sequence's keys and values in this layer,
// elements of type T.
template <typename T>
void AttendSliceT(const float* HWY_RESTRICT q, size_t position, const PagedKV& kv, size_t kv_head,
                  size_t kv_heads, size_t head_dim, size_t head_begin, size_t head_end, float scale,
                  float* HWY_RESTRICT out) {
  const size_t count = head_end - head_begin;
  const size_t blocks = (count + kHeadBlock - 1) / kHeadBlock;
  // Rows past `count` belong to the padding heads of the last block of 4: their scores
  // are computed (from head 0's query) and ignored, their weights are zero.
  HWY_ALIGN float scores[kMaxSliceHeads + kHeadBlock][kTile];
  HWY_ALIGN float padding_out[kMaxHeadDim];  // where the padding heads' values go
  const float* queries[kMaxSliceHeads + kHeadBlock];
  float* outputs[kMaxSliceHeads + kHeadBlock];
  float* weights[kMaxSliceHeads + kHeadBlock];
  float running_max[kMaxSliceHeads];
  float running_sum[kMaxSliceHeads];
  for (size_t h = 0; h < blocks * kHeadBlock; ++h) {
    const bool real = h < count;
    queries[h] = q + (head_begin + (real ? h : 0)) * head_dim;
    outputs[h] = real ? out + (head_begin + h) * head_dim : padding_out;
    weights[h] = scores[h];
    if (real) {
      running_max[h] = -std::numeric_limits<float>::infinity();
      running_sum[h] = 0.0f;
      std::fill(outputs[h], outputs[h] + head_dim, 0.0f);
    }
  }
  const T* key_rows[kTile];
  const T* value_rows[kTile];
  const T* keys = reinterpret_cast<const T*>(kv.keys);
  const T* values = reinterpret_cast<const T*>(kv.values);
  for (size_t p0 = 0; p0 <= position; p0 += kTile) {
    const size_t n = std::min(kTile, position + 1 - p0);
    for (size_t p = 0; p < n; ++p) {
      const size_t at = p0 + p;
      const size_t offset =
          ((static_cast<size_t>(kv.blocks[at / kv.block_size]) * kv_heads + kv_head) *
               kv.block_size +
           at % kv.block_size) *
          head_dim;
      key_rows[p] = keys + offset;
      value_rows[p] = values + offset;
    }
    // Scores: each key row is loaded once for all heads of the slice.
    for (size_t p = 0; p < n; ++p) {
      const T* key = key_rows[p];
      for (size_t b = 0; b < blocks; ++b) {
        const size_t h = b * kHeadBlock;
        Scores4(queries + h, key, head_dim, scale, &scores[h][p], &scores[h + 1][p],
                &scores[h + 2][p], &scores[h + 3][p]);
      }
    }
    // Online softmax: rescale what was accumulated under the old max.
    for (size_t h = 0; h < count; ++h) {
      const float tile_max = *std::max_element(scores[h], scores[h] + n);
      const float new_max = std::max(running_max[h], tile_max);
      const float correction = std::exp(running_max[h] - new_max);  // 0 on the first tile
      const float tile_sum = ExpShiftSum(scores[h], n, new_max);
      running_sum[h] = running_sum[h] * correction + tile_sum;
      if (correction != 1.0f) ScaleInPlace(correction, outputs[h], head_dim);
      running_max[h] = new_max;
    }
    for (size_t h = count; h < blocks * kHeadBlock; ++h) std::fill(scores[h], scores[h] + n, 0.0f);
    for (size_t b = 0; b < blocks; ++b) {
      const size_t h = b * kHeadBlock;
      AccumulateValues4(weights + h, value_rows, n, head_dim, outputs + h);
    }
  }
  for (size_t h = 0; h < count; ++h) ScaleInPlace(1.0f / running_sum[h], outputs[h], head_dim);
}

void AttendSlice(const float* HWY_RESTRICT q, size_t position, const PagedKV& kv, size_t kv_head,
                 size_t kv_heads, size_t head_dim, size_t head_begin, size_t head_end, float scale,
                 float* HWY_RESTRICT out) {
  if (kv.dtype == DType::kBF16) {
    AttendSliceT<hwy::bfloat16_t>(q, position, kv, kv_head, kv_heads, head_dim, head_begin,
                                  head_end, scale, out);
  } else {
    AttendSliceT<float>(q, position, kv, kv_head, kv_heads, head_dim, head_begin, head_end, scale,
                        out);
  }
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/attention.h"

namespace gemma {

HWY_EXPORT(AttendSlice);

void CausalAttention(std::span<const AttentionQuery> queries, const AttentionShape& s, float scale,
                     ThreadPool& pool) {
  if (s.kv_heads == 0 || s.heads % s.kv_heads != 0) {
    Fail(ErrorCode::kInvalidArgument, "CausalAttention: ", s.heads,
         " query heads cannot be shared by ", s.kv_heads, " kv heads");
  }
  if (s.head_dim > attention_tile::kMaxHeadDim) {
    Fail(ErrorCode::kInvalidArgument, "CausalAttention: head_dim ", s.head_dim,
         " exceeds the supported ", attention_tile::kMaxHeadDim);
  }
  if (s.heads == 0 || s.head_dim == 0) return;
  size_t tokens = 0;
  for (const AttentionQuery& query : queries) {
    if (query.kv.block_size == 0 ||
        query.first_position + query.tokens > query.kv.num_blocks * query.kv.block_size) {
      Fail(ErrorCode::kOutOfRange, "CausalAttention: positions up to ",
           query.first_position + query.tokens, " do not fit ", query.kv.num_blocks,
           " cache blocks of ", query.kv.block_size);
    }
    if (query.kv.dtype != DType::kF32 && query.kv.dtype != DType::kBF16) {
      Fail(ErrorCode::kInvalidArgument, "CausalAttention: a KV cache of ",
           DTypeName(query.kv.dtype), " values");
    }
    tokens += query.tokens;
  }
  if (tokens == 0) return;
  const size_t group = s.heads / s.kv_heads;
  const size_t workers = static_cast<size_t>(pool.size());
  const size_t pairs = tokens * s.kv_heads;
  // Enough slices per group that every worker has an item, and at most kMaxSliceHeads
  // heads per slice.
  size_t slices = (group + attention_tile::kMaxSliceHeads - 1) / attention_tile::kMaxSliceHeads;
  if (pairs < workers) slices = std::max(slices, std::min(group, (workers + pairs - 1) / pairs));
  const size_t items = pairs * slices;
  const size_t row = s.heads * s.head_dim;
  const auto attend = HWY_DYNAMIC_DISPATCH(AttendSlice);
  // Items are numbered query token by query token across the calls' queries; a worker
  // finds its token's query by walking forward (items ascend within a worker).
  pool.RunRef([&](int worker) {
    size_t query = 0, first_token = 0;  // queries[query] holds tokens [first_token, ...)
    for (size_t item = static_cast<size_t>(worker); item < items; item += workers) {
      const size_t slice = item % slices;
      const size_t kv = (item / slices) % s.kv_heads;
      const size_t token = item / slices / s.kv_heads;
      while (token >= first_token + queries[query].tokens) first_token += queries[query++].tokens;
      const AttentionQuery& qr = queries[query];
      const size_t t = token - first_token;
      const size_t head_begin = kv * group + group * slice / slices;
      const size_t head_end = kv * group + group * (slice + 1) / slices;
      if (head_begin == head_end) continue;
      attend(qr.q + t * row, qr.first_position + t, qr.kv, kv, s.kv_heads, s.head_dim, head_begin,
             head_end, scale, qr.out + t * row);
    }
  });
}

}  // namespace gemma
#endif  // HWY_ONCE
