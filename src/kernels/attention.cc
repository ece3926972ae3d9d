// Causal attention over the KV cache, flash-attention style: keys and values are streamed
// in tiles of kTile positions with an online softmax (running max m, running sum l,
// output rescaled when the max grows), so no [tokens x positions] score matrix exists and
// decode at position P reads K and V once: O(P), nothing quadratic.
//
// Work item = (query token, kv head, slice of that kv head's query heads). All query
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

#ifndef GEMMA_KERNELS_ATTENTION_TILE_
#define GEMMA_KERNELS_ATTENTION_TILE_
namespace gemma::attention_tile {
constexpr size_t kTile = 64;           // positions per tile: scores of a tile stay in L1
constexpr size_t kMaxSliceHeads = 16;  // query heads handled together by one item
}  // namespace gemma::attention_tile
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace gemma::attention_tile;  // NOLINT(build/namespaces)

HWY_INLINE float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// out += w * v over n floats.
HWY_INLINE void AddScaled(float w, const float* HWY_RESTRICT v, float* HWY_RESTRICT out, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto vw = hn::Set(df, w);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::MulAdd(vw, hn::LoadU(df, v + i), hn::LoadU(df, out + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] += w * v[i];
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
// q, out: that token's [heads * head_dim]; k, v: this kv head's [capacity][head_dim].
void AttendSlice(const float* HWY_RESTRICT q, size_t position, const float* HWY_RESTRICT k,
                 const float* HWY_RESTRICT v, size_t head_dim, size_t head_begin, size_t head_end,
                 float scale, float* HWY_RESTRICT out) {
  const size_t count = head_end - head_begin;
  HWY_ALIGN float scores[kMaxSliceHeads][kTile];
  float running_max[kMaxSliceHeads];
  float running_sum[kMaxSliceHeads];
  for (size_t h = 0; h < count; ++h) {
    running_max[h] = -std::numeric_limits<float>::infinity();
    running_sum[h] = 0.0f;
    std::fill(out + (head_begin + h) * head_dim, out + (head_begin + h + 1) * head_dim, 0.0f);
  }
  for (size_t p0 = 0; p0 <= position; p0 += kTile) {
    const size_t n = std::min(kTile, position + 1 - p0);
    // Scores: each key row is loaded once for all heads of the slice.
    for (size_t p = 0; p < n; ++p) {
      const float* key = k + (p0 + p) * head_dim;
      for (size_t h = 0; h < count; ++h) {
        scores[h][p] = Dot(q + (head_begin + h) * head_dim, key, head_dim) * scale;
      }
    }
    // Online softmax: rescale what was accumulated under the old max.
    for (size_t h = 0; h < count; ++h) {
      const float tile_max = *std::max_element(scores[h], scores[h] + n);
      const float new_max = std::max(running_max[h], tile_max);
      const float correction = std::exp(running_max[h] - new_max);  // 0 on the first tile
      const float tile_sum = ExpShiftSum(scores[h], n, new_max);
      running_sum[h] = running_sum[h] * correction + tile_sum;
      if (correction != 1.0f) ScaleInPlace(correction, out + (head_begin + h) * head_dim, head_dim);
      running_max[h] = new_max;
    }
    for (size_t p = 0; p < n; ++p) {
      const float* value = v + (p0 + p) * head_dim;
      for (size_t h = 0; h < count; ++h) {
        AddScaled(scores[h][p], value, out + (head_begin + h) * head_dim, head_dim);
      }
    }
  }
  for (size_t h = 0; h < count; ++h) {
    ScaleInPlace(1.0f / running_sum[h], out + (head_begin + h) * head_dim, head_dim);
  }
}

}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/attention.h"

namespace gemma {

HWY_EXPORT(AttendSlice);

void CausalAttention(const float* q, size_t tokens, size_t first_position, const float* k_cache,
                     const float* v_cache, const AttentionShape& s, float scale, float* out,
                     ThreadPool& pool) {
  if (s.kv_heads == 0 || s.heads % s.kv_heads != 0) {
    Fail(ErrorCode::kInvalidArgument, "CausalAttention: ", s.heads,
         " query heads cannot be shared by ", s.kv_heads, " kv heads");
  }
  if (tokens == 0 || s.heads == 0 || s.head_dim == 0) return;
  if (first_position + tokens > s.capacity) {
    Fail(ErrorCode::kOutOfRange, "CausalAttention: positions up to ", first_position + tokens,
         " do not fit a cache of capacity ", s.capacity);
  }
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
  pool.RunRef([&](int worker) {
    for (size_t item = static_cast<size_t>(worker); item < items; item += workers) {
      const size_t slice = item % slices;
      const size_t kv = (item / slices) % s.kv_heads;
      const size_t t = item / slices / s.kv_heads;
      const size_t head_begin = kv * group + group * slice / slices;
      const size_t head_end = kv * group + group * (slice + 1) / slices;
      if (head_begin == head_end) continue;
      const size_t cache_offset = kv * s.capacity * s.head_dim;
      attend(q + t * row, first_position + t, k_cache + cache_offset, v_cache + cache_offset,
             s.head_dim, head_begin, head_end, scale, out + t * row);
    }
  });
}

}  // namespace gemma
#endif  // HWY_ONCE
