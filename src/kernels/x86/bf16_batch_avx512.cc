// Batched bf16 decode on AVX-512 BF16 (bf16_batch_avx512.h). Compiled for AVX-512
// F/BW/DQ/VL + BF16 by the target pragma below whatever the build's -march; only called
// after the CPU check.
//
// The single-row kernel (bf16_avx512.cc, MatVecGroup) gives each output two accumulators:
// `a` sums the first 32 columns of every 64, `b` the second 32, the last 0..63 columns go
// into `a` in up to two masked vectors, and the result is the horizontal sum of a + b. Here
// a register tile of kGroupRows weight rows x kTileTokens activation rows holds those two
// accumulators for each (row, token) pair (24 zmm), so each weight vector and each
// activation vector loaded feeds several vdpbf16ps. The columns go in chunks of kChunk:
// every token tile passes over a group's chunk while it is in L1 (the weights come from
// memory once per group), and the accumulators wait in a small buffer between chunks (a
// store and a reload change no bits).
//
// The weights of the next (group, chunk) are prefetched while the current one is computed,
// a few lines per 64-column step spread over all its token tiles, so that memory is busy
// the whole time. The previous kernel (6 x 2 tiles, 1024-column chunks, all of a chunk's
// 192 lines prefetched two groups ahead in one burst at the chunk's start) stalled on that
// burst and then computed with the memory idle. decode_step_bench on random-2b-bf16.gguf
// (all products of a decode step), 2 threads, quiet Zen 5, 2026-12-05, ms per step:
//   6 x 2, burst prefetch (before):  8 rows 167-190, 16 rows 239-248
//   3 x 4, spread, 2048 columns:     8 rows 110-122, 16 rows 187-196
//   3 x 4, spread, 4096 columns:     8 rows 111-124, 16 rows 191-198
// Earlier runs of the same kind (each range over 2-3 runs, 8 / 16 rows): the tile shape with
// the spread prefetch of 1024- or 2048-column chunks: 6 x 2 141-288 / 229-391 (noisy, never
// better), 4 x 3 124-156 / 239-341, 2 x 6 143-178 / 222-302, 1 x 12 200-355 / 403-777 (GCC
// spills), 3 x 4 118-126 / 205-234. 3 x 4 without software prefetch: 171-228 / 255-320;
// prefetching one item ahead with 512-column chunks 183-185 / 276-280, 1024 140-142 /
// 219-223, 2048 123-126 / 205-211; two items ahead no better. A gemma-2b row is 2048
// columns, so each group of q..up is one chunk and down_proj (16384 columns) eight.

#include "kernels/x86/bf16_batch_avx512.h"

#include "base/error.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

// Everything below is compiled for AVX-512 BF16; all helpers have internal linkage, and the
// headers are included above, so no inline function of another file gets these instructions.
#if defined(__clang__)
#pragma clang attribute push(                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c,bmi2"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c,bmi2")
// GCC 12's AVX-512 intrinsics start from a self-initialized "undefined" vector and warn
// about it wherever they are inlined (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace gemma::x86 {
namespace {

// 3 weight rows x 4 activation rows x 2 accumulators = 24 zmm (+ 3 weight vectors + 1
// activation vector); the measurements behind these choices are in the comment on top.
constexpr int kGroupRows = 3;    // weight rows per register tile
constexpr int kTileTokens = 4;   // activation rows per register tile
constexpr size_t kChunk = 2048;  // columns per pass (a multiple of 64): one row of gemma-2b's q..up
// Floats of saved accumulators per (token, row): a, then b.
constexpr size_t kStateFloats = 32;

// The lines of the next (group, chunk) to prefetch while the current one is computed,
// spread over its token tiles: `per_step` lines per 64-column step, line q of the item is
// line q / R of its row q % R.
template <int R>
struct PrefetchCursor {
  const char* rows[R];
  size_t next = 0, total = 0, per_step = 0;
};

// The single-row kernel's horizontal sum (bf16_avx512.cc), the same adds in the same order.
inline float HorizontalSum(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

inline __m512bh AsBf16(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// Columns [c_begin, c_end) (whole 64s) of weight rows w[0 .. R) times activation rows
// x + t * x_stride, t < T, into the accumulators saved at state[(t * R + i) * 32] (zeros
// when `first`); with `last`, also the masked tail [c_end, cols). Issues up to
// pf->per_step of the cursor's prefetches per 64-column step.
template <int R, int T>
void Tile(const uint16_t* const* w, const uint16_t* x, size_t x_stride, size_t c_begin,
          size_t c_end, size_t cols, bool first, bool last, float* state, PrefetchCursor<R>* pf) {
  __m512 a[T][R], b[T][R];
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * R + i) * kStateFloats;
      a[t][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(s);
      b[t][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(s + 16);
    }
  }
  size_t q = pf->next;
  const size_t q_end = pf->total, per_step = pf->per_step;
  for (size_t c = c_begin; c < c_end; c += 64) {
    for (size_t k = 0; k < per_step && q < q_end; ++k, ++q) {
      _mm_prefetch(pf->rows[q % R] + q / R * 64, _MM_HINT_T0);
    }
    __m512bh w0[R];
    for (int i = 0; i < R; ++i) w0[i] = AsBf16(_mm512_loadu_si512(w[i] + c));
    for (int t = 0; t < T; ++t) {
      const __m512bh x0 = AsBf16(_mm512_loadu_si512(x + t * x_stride + c));
      for (int i = 0; i < R; ++i) a[t][i] = _mm512_dpbf16_ps(a[t][i], w0[i], x0);
    }
    __m512bh w1[R];
    for (int i = 0; i < R; ++i) w1[i] = AsBf16(_mm512_loadu_si512(w[i] + c + 32));
    for (int t = 0; t < T; ++t) {
      const __m512bh x1 = AsBf16(_mm512_loadu_si512(x + t * x_stride + c + 32));
      for (int i = 0; i < R; ++i) b[t][i] = _mm512_dpbf16_ps(b[t][i], w1[i], x1);
    }
  }
  pf->next = q;
  if (last) {
    for (size_t c = c_end; c < cols; c += 32) {
      const __mmask32 m = cols - c >= 32 ? ~__mmask32{0} : (__mmask32{1} << (cols - c)) - 1;
      __m512bh wm[R];
      for (int i = 0; i < R; ++i) wm[i] = AsBf16(_mm512_maskz_loadu_epi16(m, w[i] + c));
      for (int t = 0; t < T; ++t) {
        const __m512bh xm = AsBf16(_mm512_maskz_loadu_epi16(m, x + t * x_stride + c));
        for (int i = 0; i < R; ++i) a[t][i] = _mm512_dpbf16_ps(a[t][i], wm[i], xm);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < R; ++i) {
      float* s = state + (t * R + i) * kStateFloats;
      _mm512_storeu_ps(s, a[t][i]);
      _mm512_storeu_ps(s + 16, b[t][i]);
    }
  }
}

template <int R>
using TileFn = void (*)(const uint16_t* const*, const uint16_t*, size_t, size_t, size_t, size_t,
                        bool, bool, float*, PrefetchCursor<R>*);
template <int R, int... T>
constexpr std::array<TileFn<R>, kTileTokens + 1> TileTable(std::integer_sequence<int, T...>) {
  return {nullptr, &Tile<R, T + 1>...};
}
// kTiles<R>[n]: the tile for n activation rows (1 <= n <= kTileTokens).
template <int R>
constexpr std::array<TileFn<R>, kTileTokens + 1> kTiles =
    TileTable<R>(std::make_integer_sequence<int, kTileTokens>());

// Weight rows [r0, r0 + R) for every token: y[t * y_stride + r0 + i]. Prefetches the next
// (group, chunk) in the order they are computed, up to row_end (the thread's range).
template <int R>
void Group(const WeightMatrix& w, size_t r0, size_t row_end, const uint16_t* x, size_t tokens,
           float* y, size_t y_stride, float* state) {
  const uint16_t* rows[R];
  for (int i = 0; i < R; ++i) rows[i] = reinterpret_cast<const uint16_t*>(w.row(r0 + i));
  const size_t cols = w.cols, body = cols / 64 * 64;
  const size_t chunks = body == 0 ? 1 : (body + kChunk - 1) / kChunk;
  const size_t tiles = (tokens + kTileTokens - 1) / kTileTokens;
  size_t k = 0;
  for (size_t c0 = 0;; c0 += kChunk, ++k) {
    const size_t c1 = std::min(c0 + kChunk, body);
    const bool first = c0 == 0, last = c1 == body;
    // The next item: this group's next chunk, or the next group's first (within the range).
    PrefetchCursor<R> pf;
    const size_t next_rows = k + 1 < chunks ? r0 : r0 + R;
    if (next_rows + R <= row_end) {
      const size_t nc0 = k + 1 < chunks ? c0 + kChunk : 0;
      const size_t nc1 = nc0 + kChunk >= body ? cols : nc0 + kChunk;
      for (int i = 0; i < R; ++i) {
        pf.rows[i] = reinterpret_cast<const char*>(w.row(next_rows + i)) + nc0 * 2;
      }
      pf.total = ((nc1 - nc0) * 2 + 63) / 64 * R;
      const size_t steps = tiles * std::max<size_t>(1, (c1 - c0) / 64);
      pf.per_step = (pf.total + steps - 1) / steps;
    }
    // `tiles` tiles of balanced sizes (10 tokens: 4, 3, 3).
    for (size_t j = 0, t0 = 0; j < tiles; ++j) {
      const size_t n = tokens / tiles + (j < tokens % tiles ? 1 : 0);
      kTiles<R>[n](rows, x + t0 * cols, cols, c0, c1, cols, first, last,
                   state + t0 * R * kStateFloats, &pf);
      t0 += n;
    }
    if (last) break;
  }
  for (size_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * R + i) * kStateFloats;
      y[t * y_stride + r0 + i] =
          HorizontalSum(_mm512_add_ps(_mm512_loadu_ps(s), _mm512_loadu_ps(s + 16)));
    }
  }
}

using GroupFn = void (*)(const WeightMatrix&, size_t, size_t, const uint16_t*, size_t, float*,
                         size_t, float*);
template <int... R>
constexpr std::array<GroupFn, kGroupRows> GroupTable(std::integer_sequence<int, R...>) {
  return {nullptr, &Group<R + 1>...};
}
// kTailGroups[n]: the last n < kGroupRows rows of a range.
constexpr std::array<GroupFn, kGroupRows> kTailGroups =
    GroupTable(std::make_integer_sequence<int, kGroupRows - 1>());

}  // namespace

void Bf16MatVecBatchRowsAvx512(const WeightMatrix& w, const uint16_t* x, size_t tokens, float* y,
                               size_t y_stride, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  thread_local std::vector<float> state;
  const size_t state_floats = (tokens + kTileTokens) * kGroupRows * kStateFloats;
  if (state.size() < state_floats) state.resize(state_floats);
  size_t r = row_begin;
  for (; r + kGroupRows <= row_end; r += kGroupRows) {
    Group<kGroupRows>(w, r, row_end, x, tokens, y, y_stride, state.data());
  }
  if (r < row_end) kTailGroups[row_end - r](w, r, row_end, x, tokens, y, y_stride, state.data());
}

}  // namespace gemma::x86

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else  // !__x86_64__

namespace gemma::x86 {
void Bf16MatVecBatchRowsAvx512(const WeightMatrix&, const uint16_t*, size_t, float*, size_t, size_t,
                               size_t) {
  Fail(ErrorCode::kInternal, "Bf16MatVecBatchRowsAvx512 called on a CPU that is not x86-64");
}
}  // namespace gemma::x86

#endif  // __x86_64__
