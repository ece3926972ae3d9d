// AVX-512 BF16 products (bf16_avx512.h). Compiled for AVX-512 F/BW/DQ/VL + BF16 by the
// target pragma below whatever the build's -march; only called after the CPU check.
//
// Prefill keeps the blocking of the float32 product (kernels/matmul_kernel-inl.h: row blocks
// of kNC, column blocks of kKC, token blocks, weight strips packed as the first token block
// reaches them) with bf16 pairs instead of floats:
//   weight strip: [kc / 2 pairs][32 rows] uint32, each lane the row's two bf16 values of the
//     pair (16 KiB at kc = 256, in L1);
//   activation tile: [kc / 2 pairs][14 tokens] uint32, the same pairs of each token, packed
//     once per x for every product that reads it (PackBf16Tiles, PackedActivations).
// The micro-kernel holds a 14-token x 32-row tile of y in 28 zmm accumulators (the float32
// kernel's 6 x 32 would leave 18 of the 32 registers idle): per pair, two weight loads and,
// for each token, one broadcast and two vdpbf16ps, 28 instructions of 32 multiply-adds.

#include "kernels/x86/bf16_avx512.h"

#include "base/error.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "hwy/cache_control.h"
#include "kernels/matmul_blocking.h"

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

#include "kernels/x86/transpose_avx512-inl.h"

namespace gemma::x86 {
namespace {

using matmul_blocking::kKC;
using matmul_blocking::kLdc;
using matmul_blocking::kNC;

constexpr size_t kMR = 14;       // tokens per register tile
constexpr size_t kNR = 32;       // weight rows per strip: two vectors of 16 lanes
constexpr size_t kKP = kKC / 2;  // pairs per column block
constexpr size_t kMC = 8 * kMR;  // tokens per packed block: 8 tiles, 56 KiB (L2)
static_assert(kNC % kNR == 0 && kKC % 2 == 0);

inline size_t Min(size_t a, size_t b) { return a < b ? a : b; }

inline float HorizontalSum(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

inline __m512bh AsBf16(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// Values c and c + 1 of a bf16 row of `cols` values as one pair (zero past the end).
inline uint32_t PairAt(const uint16_t* row, size_t c, size_t cols) {
  if (c + 1 < cols) {
    uint32_t pair;
    std::memcpy(&pair, row + c, sizeof(pair));
    return pair;
  }
  return c < cols ? row[c] : 0u;
}

// ---------------------------------------------------------------------------------------
// Decode.

// Rows w[0 .. kRows) into y[0 .. kRows). Every row gets the same operations whether it is
// in a group of 4 or alone, so its result does not depend on how rows are split.
// `ahead`: kRows rows to prefetch at the same columns, or null.
template <size_t kRows>
inline void MatVecGroup(const uint16_t* const* w, const uint16_t* const* ahead, const uint16_t* x,
                        size_t cols, float* y) {
  __m512 a[kRows], b[kRows];
  for (size_t i = 0; i < kRows; ++i) a[i] = b[i] = _mm512_setzero_ps();
  size_t c = 0;
  for (; c + 64 <= cols; c += 64) {
    const __m512bh x0 = AsBf16(_mm512_loadu_si512(x + c));
    const __m512bh x1 = AsBf16(_mm512_loadu_si512(x + c + 32));
    if (ahead != nullptr) {
      for (size_t i = 0; i < kRows; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead[i] + c), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ahead[i] + c + 32), _MM_HINT_T0);
      }
    }
    for (size_t i = 0; i < kRows; ++i) {
      a[i] = _mm512_dpbf16_ps(a[i], AsBf16(_mm512_loadu_si512(w[i] + c)), x0);
      b[i] = _mm512_dpbf16_ps(b[i], AsBf16(_mm512_loadu_si512(w[i] + c + 32)), x1);
    }
  }
  // The last 0..63 values in up to two masked vectors (zeros past the row).
  for (; c < cols; c += 32) {
    const __mmask32 m = cols - c >= 32 ? ~__mmask32{0} : (__mmask32{1} << (cols - c)) - 1;
    const __m512bh xv = AsBf16(_mm512_maskz_loadu_epi16(m, x + c));
    for (size_t i = 0; i < kRows; ++i) {
      a[i] = _mm512_dpbf16_ps(a[i], AsBf16(_mm512_maskz_loadu_epi16(m, w[i] + c)), xv);
    }
  }
  for (size_t i = 0; i < kRows; ++i) y[i] = HorizontalSum(_mm512_add_ps(a[i], b[i]));
}

// ---------------------------------------------------------------------------------------
// Prefill.

// Packs the strip of `valid` rows from first_row (zeros past them), columns
// [pc, pc + kc): strip[k * kNR + i] = pair k of row first_row + i.
void PackStrip(const WeightMatrix& w, size_t first_row, size_t valid, size_t pc, size_t kc,
               uint32_t* strip) {
  const size_t kp = (kc + 1) / 2;
  const size_t cols = w.cols;
  const auto row = [&](size_t i) {
    return reinterpret_cast<const uint16_t*>(w.row(first_row + i)) + pc;
  };
  size_t k_done = 0;
  if (valid == kNR) {
    // Whole pairs of 16 from 16 rows at a time; pc + 2 * (k + 16) <= cols keeps every
    // load inside its row.
    for (; (k_done + 16) * 2 <= kc && pc + 2 * (k_done + 16) <= cols; k_done += 16) {
      for (size_t r0 = 0; r0 < kNR; r0 += 16) {
        __m512i rows[16];
        for (size_t i = 0; i < 16; ++i) rows[i] = _mm512_loadu_si512(row(r0 + i) + 2 * k_done);
        StoreTransposed16x16(rows, strip + k_done * kNR + r0, kNR);
      }
    }
  }
  for (size_t i = 0; i < kNR; ++i) {
    if (i >= valid) {
      for (size_t k = k_done; k < kp; ++k) strip[k * kNR + i] = 0;
      continue;
    }
    const uint16_t* src = row(i);
    for (size_t k = k_done; k < kp; ++k) strip[k * kNR + i] = PairAt(src, 2 * k, cols - pc);
  }
}

// Packs tokens [t0, t0 + valid) (zeros past them up to kMR), columns [pc, pc + kc):
// tile[k * kMR + i] = pair k of token t0 + i. 16 pairs of every token at a time through the
// 16 x 16 transpose (two zero rows), the rest one pair at a time.
void PackTile(const Bf16Rows& x, size_t t0, size_t valid, size_t pc, size_t kc, uint32_t* tile) {
  const size_t kp = (kc + 1) / 2;
  const auto row = [&](size_t i) { return x.bits + (t0 + i) * x.cols + pc; };
  size_t k_done = 0;
  for (; (k_done + 16) * 2 <= kc; k_done += 16) {
    __m512i rows[16];
    for (size_t i = 0; i < 16; ++i) {
      rows[i] = i < valid ? _mm512_loadu_si512(row(i) + 2 * k_done) : _mm512_setzero_si512();
    }
    StoreTransposed16x16(rows, tile + k_done * kMR, kMR, (1u << kMR) - 1);
  }
  for (size_t i = 0; i < kMR; ++i) {
    for (size_t k = k_done; k < kp; ++k) {
      tile[k * kMR + i] = i < valid ? PairAt(row(i), 2 * k, x.cols - pc) : 0u;
    }
  }
}

// Where the tiles of column block pc start (tile j of it at + j * kp * kMR).
inline size_t TileBlockOffset(size_t tokens, size_t pc) {
  return pc / 2 * ((tokens + kMR - 1) / kMR * kMR);
}

// c[i * ldc + j] (+)= sum over kp pairs of a's token i times b's row j, i < kMR, j < kNR.
inline void MicroKernel(const uint32_t* __restrict a, const uint32_t* __restrict b, size_t kp,
                        float* __restrict c, size_t ldc, bool accumulate) {
  if (accumulate) {
    for (size_t i = 0; i < kMR; ++i) {
      hwy::Prefetch(c + i * ldc);
      hwy::Prefetch(c + i * ldc + 16);
    }
  }
  __m512 c0[kMR], c1[kMR];
  for (size_t i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (size_t k = 0; k < kp; ++k, a += kMR, b += kNR) {
    const __m512bh b0 = AsBf16(_mm512_load_si512(b));
    const __m512bh b1 = AsBf16(_mm512_load_si512(b + 16));
#pragma GCC unroll 14
    for (size_t i = 0; i < kMR; ++i) {
      const __m512bh ai = AsBf16(_mm512_set1_epi32(static_cast<int>(a[i])));
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
  }
  for (size_t i = 0; i < kMR; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(row));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, c0[i]);
    _mm512_storeu_ps(row + 16, c1[i]);
  }
}

void PrefetchStrip(const WeightMatrix& w, size_t first_row, size_t rows, size_t pc, size_t kc) {
  for (size_t i = 0; i < rows; ++i) {
    const std::byte* p = w.row(first_row + i) + pc * 2;
    for (size_t b = 0; b < kc * 2; b += 64) hwy::Prefetch(p + b);
  }
}

}  // namespace

void Bf16MatVecRowsAvx512(const WeightMatrix& w, const uint16_t* x, float* y, size_t row_begin,
                          size_t row_end) {
  const auto row = [&](size_t r) { return reinterpret_cast<const uint16_t*>(w.row(r)); };
  // The rows kAheadRows on are prefetched at the columns being read, as the int8 kernels do
  // (there for the whole range; here only within the thread's rows, the variant measured).
  // decode_step_bench on random-2b-bf16.gguf, one row, 2 threads, Zen 5 (read roof 66.6 GB/s
  // that hour), three alternating rounds, ms per step: none 93.8 96.4 95.1 (52.0-53.4 GB/s),
  // 8 rows ahead 89.4 92.5 92.5 (54.2-56.1 GB/s), 16 rows ahead 89.6 91.7 94.5.
  constexpr size_t kAheadRows = 8;
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint16_t* rows[4] = {row(r), row(r + 1), row(r + 2), row(r + 3)};
    if (r + kAheadRows + 4 <= row_end) {
      const size_t a = r + kAheadRows;
      const uint16_t* ahead[4] = {row(a), row(a + 1), row(a + 2), row(a + 3)};
      MatVecGroup<4>(rows, ahead, x, w.cols, y + r);
    } else {
      MatVecGroup<4>(rows, nullptr, x, w.cols, y + r);
    }
  }
  for (; r < row_end; ++r) {
    const uint16_t* rows[1] = {row(r)};
    MatVecGroup<1>(rows, nullptr, x, w.cols, y + r);
  }
}

size_t Bf16TileWords(size_t tokens, size_t cols) {
  return (tokens + kMR - 1) / kMR * kMR * ((cols + 1) / 2);
}

size_t Bf16TileUnits(size_t tokens, size_t cols) {
  return (cols + kKC - 1) / kKC * ((tokens + kMR - 1) / kMR);
}

void PackBf16Tiles(const Bf16Rows& x, size_t first, size_t last, uint32_t* tiles) {
  const size_t tiles_per_block = (x.tokens + kMR - 1) / kMR;
  for (size_t unit = first; unit < last; ++unit) {
    const size_t pc = unit / tiles_per_block * kKC, j = unit % tiles_per_block;
    const size_t kc = Min(kKC, x.cols - pc), kp = (kc + 1) / 2;
    PackTile(x, j * kMR, Min(kMR, x.tokens - j * kMR), pc, kc,
             tiles + TileBlockOffset(x.tokens, pc) + j * kp * kMR);
  }
}

void Bf16MatMulRowsAvx512(const WeightMatrix& w, const Bf16Rows& x, const uint32_t* tiles, float* y,
                          size_t row_begin, size_t row_end, bool add_to_y) {
  const size_t tokens = x.tokens, cols = w.cols;
  if (row_begin >= row_end || tokens == 0) return;
  const size_t tile_rows = (tokens + kMR - 1) / kMR * kMR;
  // The float32 product's scratch (matmul_blocking::ScratchFloats): its 2 MiB weight area
  // holds the 1 MiB of bf16 strips; the block of y follows.
  float* scratch = matmul_blocking::ThreadScratch(tile_rows);
  uint32_t* packed_w = reinterpret_cast<uint32_t*>(scratch);  // [kNC / kNR][kKP][kNR]
  float* c_block = scratch + kKC * kNC + kKC * matmul_blocking::kMC + matmul_blocking::kPackSlack;
  static_assert(kNC * kKP <= kKC * kNC, "the strips fit the weight area");

  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = Min(kNC, row_end - jc);
    for (size_t pc = 0; pc < cols; pc += kKC) {
      const size_t kc = Min(kKC, cols - pc);
      const size_t kp = (kc + 1) / 2;
      const bool accumulate = pc != 0;
      for (size_t ic = 0; ic < tokens; ic += kMC) {
        const size_t mc = Min(kMC, tokens - ic);
        const uint32_t* packed_x = tiles + TileBlockOffset(tokens, pc) + ic / kMR * kp * kMR;
        for (size_t jr = 0; jr < nc; jr += kNR) {
          const size_t s = jr / kNR;
          uint32_t* strip = packed_w + s * kp * kNR;
          if (ic == 0) {
            // Packed as the first token block reaches it, the strip after next prefetched
            // meanwhile (as in MatMulBlocked).
            if ((s + 2) * kNR < nc) {
              PrefetchStrip(w, jc + (s + 2) * kNR, Min(kNR, nc - (s + 2) * kNR), pc, kc);
            }
            PackStrip(w, jc + jr, Min(kNR, nc - jr), pc, kc, strip);
          }
          for (size_t ir = 0; ir < mc; ir += kMR) {
            MicroKernel(packed_x + ir / kMR * kp * kMR, strip, kp, c_block + (ic + ir) * kLdc + jr,
                        kLdc, accumulate);
          }
        }
      }
    }
    for (size_t t = 0; t < tokens; ++t) {
      const float* from = c_block + t * kLdc;
      float* to = y + t * w.rows + jc;
      if (add_to_y) {
        for (size_t j = 0; j < nc; ++j) to[j] += from[j];
      } else {
        std::memcpy(to, from, nc * sizeof(float));
      }
    }
  }
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
void Bf16MatVecRowsAvx512(const WeightMatrix&, const uint16_t*, float*, size_t, size_t) {
  Fail(ErrorCode::kInternal, "Bf16MatVecRowsAvx512 called on a CPU that is not x86-64");
}
size_t Bf16TileWords(size_t, size_t) { return 0; }
size_t Bf16TileUnits(size_t, size_t) { return 0; }
void PackBf16Tiles(const Bf16Rows&, size_t, size_t, uint32_t*) {
  Fail(ErrorCode::kInternal, "PackBf16Tiles called on a CPU that is not x86-64");
}
void Bf16MatMulRowsAvx512(const WeightMatrix&, const Bf16Rows&, const uint32_t*, float*, size_t,
                          size_t, bool) {
  Fail(ErrorCode::kInternal, "Bf16MatMulRowsAvx512 called on a CPU that is not x86-64");
}
}  // namespace gemma::x86

#endif  // __x86_64__
