// The blocked prefill product Y = X W^T shared by every weight type: kernels/matmul.cc
// (f32, bf16, f16) and kernels/quant/quant_matmul.cc (block-quantized) differ only in how
// they fill the packed float32 weight strips, so the blocking, the activation packing and
// the register micro-kernel live here once.
//
// The classic BLIS structure (Goto & van de Geijn), with the weights in the role of the
// packed "B" operand:
//   for each block of kNC weight rows (split across threads by rows)
//     for each block of kKC columns (the shared dimension)
//       for each block of kMC tokens
//         pack the activations as tiles of [kKC][kMR]                         (L2)
//         for each weight strip (stays in L1) and each token tile:
//           (first token block only: pack the strip, widened to float32, [kKC][NR])
//           micro-kernel: a kMR x NR tile of y in 2*kMR vector registers,
//                         one broadcast + two FMAs per token per k
// Each weight value is converted once per call and then reused for every token. On AVX2
// the micro-kernel holds 12 accumulators (6 tokens x 16 rows) and issues 12 FMAs per 2
// loads + 6 broadcasts, close to the 2 FMA/cycle peak.
//
// Per-target header: include inside a foreach_target unit, after hwy/highway.h (the usual
// Highway "-inl.h" re-inclusion guard).

#include "kernels/matmul_blocking.h"

#if defined(GEMMA_KERNELS_MATMUL_KERNEL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_MATMUL_KERNEL_INL_H_
#undef GEMMA_KERNELS_MATMUL_KERNEL_INL_H_
#else
#define GEMMA_KERNELS_MATMUL_KERNEL_INL_H_
#endif

#include <algorithm>

#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// A namespace of its own: the including files define helpers of their own. Everything here
// is inline (templates or HWY_INLINE), so both including files may hold a copy.
namespace matmul_kernel {
namespace hn = hwy::HWY_NAMESPACE;
using namespace gemma::matmul_blocking;  // NOLINT(build/namespaces)

#if HWY_TARGET == HWY_AVX2
// Eight full rows [r0, r0 + 8) of a strip, columns [0, kc8) with kc8 a multiple of 8:
// row_at(j, k) returns the 8 float32 values of row r0 + j at columns k..k+7. The 8x8
// blocks are transposed in registers (three shuffle rounds), one vector store per column
// instead of one scalar store per weight. Unaligned stores: nr may be 6 (activation tiles).
template <class RowAt>
HWY_INLINE void PackStripRows8(const RowAt& row_at, size_t r0, size_t kc8, size_t nr,
                               float* HWY_RESTRICT strip) {
  const hn::Full256<float> df;
  const hn::Full256<uint64_t> du;
  for (size_t k = 0; k < kc8; k += 8) {
    const auto r0v = row_at(0, k), r1v = row_at(1, k), r2v = row_at(2, k), r3v = row_at(3, k);
    const auto r4v = row_at(4, k), r5v = row_at(5, k), r6v = row_at(6, k), r7v = row_at(7, k);
    // 32-bit interleave within 128-bit halves: [a0 b0 a1 b1 | a4 b4 a5 b5] etc.
    const auto t0 = hn::BitCast(du, hn::InterleaveLower(df, r0v, r1v));
    const auto t1 = hn::BitCast(du, hn::InterleaveUpper(df, r0v, r1v));
    const auto t2 = hn::BitCast(du, hn::InterleaveLower(df, r2v, r3v));
    const auto t3 = hn::BitCast(du, hn::InterleaveUpper(df, r2v, r3v));
    const auto t4 = hn::BitCast(du, hn::InterleaveLower(df, r4v, r5v));
    const auto t5 = hn::BitCast(du, hn::InterleaveUpper(df, r4v, r5v));
    const auto t6 = hn::BitCast(du, hn::InterleaveLower(df, r6v, r7v));
    const auto t7 = hn::BitCast(du, hn::InterleaveUpper(df, r6v, r7v));
    // 64-bit interleave: [a0 b0 c0 d0 | a4 b4 c4 d4] etc.
    const auto u0 = hn::BitCast(df, hn::InterleaveLower(du, t0, t2));  // columns 0, 4
    const auto u1 = hn::BitCast(df, hn::InterleaveUpper(du, t0, t2));  // columns 1, 5
    const auto u2 = hn::BitCast(df, hn::InterleaveLower(du, t1, t3));  // columns 2, 6
    const auto u3 = hn::BitCast(df, hn::InterleaveUpper(du, t1, t3));  // columns 3, 7
    const auto u4 = hn::BitCast(df, hn::InterleaveLower(du, t4, t6));
    const auto u5 = hn::BitCast(df, hn::InterleaveUpper(du, t4, t6));
    const auto u6 = hn::BitCast(df, hn::InterleaveLower(du, t5, t7));
    const auto u7 = hn::BitCast(df, hn::InterleaveUpper(du, t5, t7));
    // 128-bit halves: rows 0-3 from u, rows 4-7 from the matching u of the second group.
    float* HWY_RESTRICT out = strip + k * nr + r0;
    hn::StoreU(hn::ConcatLowerLower(df, u4, u0), df, out + 0 * nr);
    hn::StoreU(hn::ConcatLowerLower(df, u5, u1), df, out + 1 * nr);
    hn::StoreU(hn::ConcatLowerLower(df, u6, u2), df, out + 2 * nr);
    hn::StoreU(hn::ConcatLowerLower(df, u7, u3), df, out + 3 * nr);
    hn::StoreU(hn::ConcatUpperUpper(df, u4, u0), df, out + 4 * nr);
    hn::StoreU(hn::ConcatUpperUpper(df, u5, u1), df, out + 5 * nr);
    hn::StoreU(hn::ConcatUpperUpper(df, u6, u2), df, out + 6 * nr);
    hn::StoreU(hn::ConcatUpperUpper(df, u7, u3), df, out + 7 * nr);
  }
}
#endif

// Asks for `rows` rows of `bytes` bytes each, the first at `first`, `stride` apart. The
// weight packing calls it for the strip after next: a layer's weights come from DRAM (they
// do not stay in L3), each strip reads 16 short pieces of rows 1 row apart, and without it
// each piece waits for its misses in turn.
HWY_INLINE void PrefetchRows(const std::byte* first, size_t stride, size_t rows, size_t bytes) {
  for (size_t i = 0; i < rows; ++i) {
    for (size_t b = 0; b < bytes; b += 64) hwy::Prefetch(first + i * stride + b);
  }
}

// Packs tokens [t0, t0 + mc) x columns [k0, k0 + kc) of x as tiles:
// packed[(j * kc + k) * kMR + i] = x[t0 + j * kMR + i, k0 + k], zero past the last token.
// On AVX2 the 6 rows (and 2 zero rows) are transposed 8 columns at a time in registers; each
// column's 8-float store spills 2 floats into the next column, which its own store then
// overwrites, and the last one 2 floats past the block (packed needs kPackSlack more),
// unless no_spill: then the last 8 columns go through the scalar loop (for tiles shared by
// threads that pack neighbouring blocks at the same time).
HWY_INLINE void PackActivations(const float* x, size_t cols, size_t t0, size_t mc, size_t k0,
                                size_t kc, float* HWY_RESTRICT packed, bool no_spill = false) {
  (void)no_spill;  // only the AVX2 path spills
  for (size_t j = 0; j * kMR < mc; ++j) {
    float* HWY_RESTRICT tile = packed + j * kc * kMR;
    const size_t valid = std::min(kMR, mc - j * kMR);  // tokens in this tile
    size_t k_done = 0;
#if HWY_TARGET == HWY_AVX2
    const hn::Full256<float> df;
    const float* HWY_RESTRICT src[kMR];
    for (size_t i = 0; i < valid; ++i) src[i] = x + (t0 + j * kMR + i) * cols + k0;
    k_done = kc & ~size_t{7};
    if (no_spill && k_done == kc && k_done >= 8) k_done -= 8;
    PackStripRows8(
        [&](size_t i, size_t k) { return i < valid ? hn::LoadU(df, src[i] + k) : hn::Zero(df); }, 0,
        k_done, kMR, tile);
#endif
    for (size_t i = 0; i < kMR; ++i) {
      if (i >= valid) {
        for (size_t k = k_done; k < kc; ++k) tile[k * kMR + i] = 0.0f;
        continue;
      }
      const float* HWY_RESTRICT src_row = x + (t0 + j * kMR + i) * cols + k0;
      for (size_t k = k_done; k < kc; ++k) tile[k * kMR + i] = src_row[k];
    }
  }
}

// c[i * ldc + j] (+)= sum_k a[k * kMR + i] * b[k * NR + j] for i < kMR, j < NR = 2 vectors.
template <class DF>
HWY_INLINE void MicroKernel(DF df, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b,
                            size_t kc, float* HWY_RESTRICT c, size_t ldc, bool accumulate) {
  using V = hn::Vec<DF>;
  const size_t N = hn::Lanes(df);
  V c00 = hn::Zero(df), c01 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  V c20 = hn::Zero(df), c21 = hn::Zero(df), c30 = hn::Zero(df), c31 = hn::Zero(df);
  V c40 = hn::Zero(df), c41 = hn::Zero(df), c50 = hn::Zero(df), c51 = hn::Zero(df);
  if (accumulate) {
    // The tile of y was last touched a whole column block ago and is likely out of L1/L2:
    // start loading it now so the misses overlap the FMAs below.
    for (size_t i = 0; i < kMR; ++i) {
      hwy::Prefetch(c + i * ldc);
      hwy::Prefetch(c + i * ldc + 2 * N - 1);
    }
  }
#pragma GCC unroll 4  // fewer loop-counter uops between the FMAs
  for (size_t k = 0; k < kc; ++k) {
    const V b0 = hn::Load(df, b);
    const V b1 = hn::Load(df, b + N);
    V ai = hn::Set(df, a[0]);
    c00 = hn::MulAdd(ai, b0, c00);
    c01 = hn::MulAdd(ai, b1, c01);
    ai = hn::Set(df, a[1]);
    c10 = hn::MulAdd(ai, b0, c10);
    c11 = hn::MulAdd(ai, b1, c11);
    ai = hn::Set(df, a[2]);
    c20 = hn::MulAdd(ai, b0, c20);
    c21 = hn::MulAdd(ai, b1, c21);
    ai = hn::Set(df, a[3]);
    c30 = hn::MulAdd(ai, b0, c30);
    c31 = hn::MulAdd(ai, b1, c31);
    ai = hn::Set(df, a[4]);
    c40 = hn::MulAdd(ai, b0, c40);
    c41 = hn::MulAdd(ai, b1, c41);
    ai = hn::Set(df, a[5]);
    c50 = hn::MulAdd(ai, b0, c50);
    c51 = hn::MulAdd(ai, b1, c51);
    a += kMR;
    b += 2 * N;
  }
  const auto store = [&](V lo, V hi, float* HWY_RESTRICT row) {
    if (accumulate) {
      lo = hn::Add(lo, hn::LoadU(df, row));
      hi = hn::Add(hi, hn::LoadU(df, row + N));
    }
    hn::StoreU(lo, df, row);
    hn::StoreU(hi, df, row + N);
  };
  store(c00, c01, c + 0 * ldc);
  store(c10, c11, c + 1 * ldc);
  store(c20, c21, c + 2 * ldc);
  store(c30, c31, c + 3 * ldc);
  store(c40, c41, c + 4 * ldc);
  store(c50, c51, c + 5 * ldc);
}

// Copies (or adds, when add_to_y) the block of y a row block accumulated in, [tokens][nc]
// with stride kLdc, to y[t * y_stride + j].
HWY_INLINE void CopyOut(const float* HWY_RESTRICT c_block, size_t tokens, size_t nc,
                        float* HWY_RESTRICT y, size_t y_stride, bool add_to_y) {
  for (size_t t = 0; t < tokens; ++t) {
    const float* HWY_RESTRICT from = c_block + t * kLdc;
    float* HWY_RESTRICT to = y + t * y_stride;
    if (add_to_y) {
      for (size_t j = 0; j < nc; ++j) to[j] += from[j];
    } else {
      std::copy_n(from, nc, to);
    }
  }
}

// y[t * rows + r] for r in [row_begin, row_end), all tokens; x: [tokens, cols]. Overwrites
// y, or adds the product to it when add_to_y (a product split along the shared dimension).
// prepacked: x already packed (PackTiles), or null to pack it here per block.
// pack_weights(row0, nc, k0, kc, nr, packed, s) fills strip s: packed[(s * kc + k) * nr + i]
// = W[row0 + s * nr + i, k0 + k] as float32, zero past the last of the nc rows. Strips are
// packed as the first token block reaches them rather than all before it: the weights come
// from DRAM, and each strip's rows, prefetched two strips ahead, then arrive while the
// micro-kernel works on the strips before.
// scratch: ScratchFloats(tokens), aligned to the vector size.
template <class PackWeights>
HWY_INLINE void MatMulBlocked(size_t rows, size_t cols, const float* x, const float* prepacked,
                              size_t tokens, float* y, size_t row_begin, size_t row_end,
                              bool add_to_y, float* scratch, const PackWeights& pack_weights) {
  const hn::ScalableTag<float> df;
  const size_t nr = 2 * hn::Lanes(df);
  float* HWY_RESTRICT packed_w = scratch;                           // [kNC / nr][kKC][nr]
  float* HWY_RESTRICT packed_x = packed_w + kKC * kNC;              // [kMC / kMR][kKC][kMR]
  float* HWY_RESTRICT c_block = packed_x + kKC * kMC + kPackSlack;  // [tokens, kLdc]
  static_assert(kNC % 32 == 0 && kLdc % 16 == 0, "whole strips, aligned rows");

  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = std::min(kNC, row_end - jc);
    for (size_t pc = 0; pc < cols; pc += kKC) {
      const size_t kc = std::min(kKC, cols - pc);
      const bool accumulate = pc != 0;
      for (size_t ic = 0; ic < tokens; ic += kMC) {
        const size_t mc = std::min(kMC, tokens - ic);
        const float* HWY_RESTRICT block_x = packed_x;
        if (prepacked != nullptr) {
          block_x = prepacked + PackedTileOffset(tokens, pc, ic, kc);
        } else {
          PackActivations(x, cols, ic, mc, pc, kc, packed_x);
        }
        // Whole tiles only: the block has room for the tiles' rows past the last token and
        // columns past the last row, which are computed and never copied out.
        for (size_t jr = 0; jr < nc; jr += nr) {
          if (ic == 0) pack_weights(jc, nc, pc, kc, nr, packed_w, jr / nr);
          const float* strip = packed_w + jr * kc;
          for (size_t ir = 0; ir < mc; ir += kMR) {
            MicroKernel(df, block_x + ir * kc, strip, kc, c_block + (ic + ir) * kLdc + jr, kLdc,
                        accumulate);
          }
        }
      }
    }
    CopyOut(c_block, tokens, nc, y + jc, rows, add_to_y);
  }
}

}  // namespace matmul_kernel
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_MATMUL_KERNEL_INL_H_
