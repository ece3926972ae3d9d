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
// memory once per group, the activations' chunk stays in L1), and the accumulators wait in
// a small buffer between chunks (a store and a reload change no bits).

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

// 6 weight rows x 2 activation rows x 2 accumulators = 24 zmm (+ 6 weight vectors + 1
// activation vector). A group's activation rows stream from L2 once per group, so more weight
// rows per group means less of that traffic: decode_batch_bench BF16_rounded 16384 x 2048,
// 2 threads, quiet Zen 5 (2026-12-05), real time, two alternating runs each:
//   3 x 4 (before): 8 rows 2.23 / 2.06 ms, 16 rows 3.46 / 3.23 ms
//   4 x 3:          8 rows 2.18 / 1.77 ms, 16 rows 2.95 / 2.75 ms
//   6 x 2:          8 rows 1.83 / 1.79 ms, 16 rows 2.70 / 2.93 ms
// and with 6 x 2, kChunk 512: 2.44 / 2.07, 3.56 / 3.25; 2048: 1.96 / 1.74, 2.80 / 2.74.
constexpr int kGroupRows = 6;    // weight rows per register tile
constexpr int kTileTokens = 2;   // activation rows per register tile
constexpr size_t kChunk = 1024;  // columns per pass (a multiple of 64): 12 KiB of weights
// Weight rows are prefetched this many groups ahead, at the chunk being read.
constexpr size_t kPrefetchGroups = 2;
// Floats of saved accumulators per (token, row): a, then b.
constexpr size_t kStateFloats = 32;

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
// x + t * x_stride, t < T, into the accumulators saved at state[(t * kGroupRows + i) * 32]
// (zeros when `first`); with `last`, also the masked tail [c_end, cols).
template <int R, int T>
void Tile(const uint16_t* const* w, const uint16_t* x, size_t x_stride, size_t c_begin,
          size_t c_end, size_t cols, bool first, bool last, float* state) {
  __m512 a[T][R], b[T][R];
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * kGroupRows + i) * kStateFloats;
      a[t][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(s);
      b[t][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(s + 16);
    }
  }
  for (size_t c = c_begin; c < c_end; c += 64) {
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
  if (last) {
    // The last 0..63 values in up to two masked vectors, into a (as MatVecGroup does).
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
      float* s = state + (t * kGroupRows + i) * kStateFloats;
      _mm512_storeu_ps(s, a[t][i]);
      _mm512_storeu_ps(s + 16, b[t][i]);
    }
  }
}

using TileFn = void (*)(const uint16_t* const*, const uint16_t*, size_t, size_t, size_t, size_t,
                        bool, bool, float*);
template <int R, int... T>
constexpr std::array<TileFn, kTileTokens + 1> TileTable(std::integer_sequence<int, T...>) {
  return {nullptr, &Tile<R, T + 1>...};
}
// kTiles<R>[n]: the tile for n activation rows (1 <= n <= kTileTokens).
template <int R>
constexpr std::array<TileFn, kTileTokens + 1> kTiles =
    TileTable<R>(std::make_integer_sequence<int, kTileTokens>());

// Weight rows [r0, r0 + R) for every token: y[t * y_stride + r0 + i].
template <int R>
void Group(const WeightMatrix& w, size_t r0, const uint16_t* x, size_t tokens, float* y,
           size_t y_stride, float* state) {
  const uint16_t* rows[R];
  for (int i = 0; i < R; ++i) rows[i] = reinterpret_cast<const uint16_t*>(w.row(r0 + i));
  const size_t cols = w.cols, body = cols / 64 * 64;
  const size_t prefetch_distance = kPrefetchGroups * kGroupRows * w.row_bytes;
  for (size_t c0 = 0;; c0 += kChunk) {
    const size_t c1 = std::min(c0 + kChunk, body);
    const bool first = c0 == 0, last = c1 == body;
    for (int i = 0; i < R; ++i) {
      const char* p = reinterpret_cast<const char*>(rows[i] + c0) + prefetch_distance;
      const size_t bytes = ((last ? cols : c1) - c0) * sizeof(uint16_t);
      for (size_t line = 0; line < bytes; line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
    }
    for (size_t t0 = 0; t0 < tokens; t0 += kTileTokens) {
      const size_t n = std::min<size_t>(kTileTokens, tokens - t0);
      kTiles<R>[n](rows, x + t0 * cols, cols, c0, c1, cols, first, last,
                   state + t0 * kGroupRows * kStateFloats);
    }
    if (last) break;
  }
  for (size_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * kGroupRows + i) * kStateFloats;
      y[t * y_stride + r0 + i] =
          HorizontalSum(_mm512_add_ps(_mm512_loadu_ps(s), _mm512_loadu_ps(s + 16)));
    }
  }
}

using GroupFn = void (*)(const WeightMatrix&, size_t, const uint16_t*, size_t, float*, size_t,
                         float*);
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
    Group<kGroupRows>(w, r, x, tokens, y, y_stride, state.data());
  }
  if (r < row_end) kTailGroups[row_end - r](w, r, x, tokens, y, y_stride, state.data());
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
