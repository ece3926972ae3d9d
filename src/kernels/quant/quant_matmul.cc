// Prefill products with block-quantized weights: Y = X W^T for many tokens (QuantMatMulRows).
// Decode (one token) is in quant_matvec.cc.
//
// Prefill is bound by FMA throughput: the same blocked structure as
// kernels/matmul.cc (BLIS: packed weight strips in L2, packed activation tiles, a 6 x 2-vector
// register micro-kernel), except that the weight strips are filled by dequantizing the blocks.
// Each weight is dequantized once per call and reused for every token.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/quant_matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/dtype.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/dequantize_blocks.h"
#include "kernels/weight_matrix.h"

#ifndef GEMMA_KERNELS_QUANT_QUANT_MATMUL_BLOCKING_
#define GEMMA_KERNELS_QUANT_QUANT_MATMUL_BLOCKING_
namespace gemma::quant_blocking {
constexpr size_t kMR = 6;     // tokens per register tile
constexpr size_t kKC = 256;   // columns per block: one K super-block, or eight 32-value blocks
constexpr size_t kMC = 120;   // tokens per packed block (multiple of kMR)
constexpr size_t kNC = 2048;  // weight rows per packed block (multiple of every NR), 2 MiB
constexpr size_t kScratchFloats = kKC * kNC + kKC * kMC;
}  // namespace gemma::quant_blocking
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace gemma::quant_blocking;  // NOLINT(build/namespaces)
// Internal linkage: kernels/matmul.cc has helpers of the same names in the same namespace.
namespace {

// Packs rows [row0, row0 + nc) x columns [k0, k0 + kc) of W, dequantized, as float32 strips:
// packed[(s * kc + k) * nr + i] = W[row0 + s * nr + i, k0 + k], zero past the last row.
void PackQuantWeights(const WeightMatrix& w, size_t row0, size_t nc, size_t k0, size_t kc,
                      size_t nr, float* HWY_RESTRICT packed) {
  const DTypeTraits& t = Traits(w.dtype);
  HWY_ALIGN float row[kKC];
  for (size_t s = 0; s * nr < nc; ++s) {
    float* HWY_RESTRICT strip = packed + s * kc * nr;
    for (size_t i = 0; i < nr; ++i) {
      const size_t r = s * nr + i;
      if (r >= nc) {
        for (size_t k = 0; k < kc; ++k) strip[k * nr + i] = 0.0f;
        continue;
      }
      quant::DequantizeBlocks(w.dtype, w.row(row0 + r) + k0 / t.block_elements * t.block_bytes, row,
                              kc);
      for (size_t k = 0; k < kc; ++k) strip[k * nr + i] = row[k];
    }
  }
}

// Packs tokens [t0, t0 + mc) x columns [k0, k0 + kc) of x as tiles:
// packed[(j * kc + k) * kMR + i] = x[t0 + j * kMR + i, k0 + k], zero past the last token.
void PackActivations(const float* x, size_t cols, size_t t0, size_t mc, size_t k0, size_t kc,
                     float* HWY_RESTRICT packed) {
  for (size_t j = 0; j * kMR < mc; ++j) {
    float* HWY_RESTRICT tile = packed + j * kc * kMR;
    for (size_t i = 0; i < kMR; ++i) {
      const size_t t = j * kMR + i;
      if (t >= mc) {
        for (size_t k = 0; k < kc; ++k) tile[k * kMR + i] = 0.0f;
        continue;
      }
      const float* HWY_RESTRICT src = x + (t0 + t) * cols + k0;
      for (size_t k = 0; k < kc; ++k) tile[k * kMR + i] = src[k];
    }
  }
}

// c[i * ldc + j] (+)= sum_k a[k * kMR + i] * b[k * NR + j] for i < kMR, j < NR = 2 vectors.
// The register tile of kernels/matmul.cc (12 accumulators, 12 FMAs per 2 loads + 6
// broadcasts on AVX2).
template <class DF>
HWY_INLINE void MicroKernel(DF df, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b,
                            size_t kc, float* HWY_RESTRICT c, size_t ldc, bool accumulate) {
  using V = hn::Vec<DF>;
  const size_t N = hn::Lanes(df);
  V c00 = hn::Zero(df), c01 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  V c20 = hn::Zero(df), c21 = hn::Zero(df), c30 = hn::Zero(df), c31 = hn::Zero(df);
  V c40 = hn::Zero(df), c41 = hn::Zero(df), c50 = hn::Zero(df), c51 = hn::Zero(df);
  if (accumulate) {
    for (size_t i = 0; i < kMR; ++i) {
      hwy::Prefetch(c + i * ldc);
      hwy::Prefetch(c + i * ldc + 2 * N - 1);
    }
  }
#pragma GCC unroll 4
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

// y[t * w.rows + r] for r in [row_begin, row_end), all tokens. scratch: kScratchFloats,
// aligned to the vector size.
void MatMulRowsQuant(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                     size_t row_begin, size_t row_end, float* scratch) {
  const hn::ScalableTag<float> df;
  const size_t nr = 2 * hn::Lanes(df);
  const size_t rows = w.rows, cols = w.cols;
  float* HWY_RESTRICT packed_w = scratch;              // [kNC / nr][kKC][nr]
  float* HWY_RESTRICT packed_x = scratch + kKC * kNC;  // [kMC / kMR][kKC][kMR]
  HWY_ALIGN float edge[kMR * 2 * HWY_MAX_BYTES / sizeof(float)];

  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = std::min(kNC, row_end - jc);
    for (size_t pc = 0; pc < cols; pc += kKC) {
      const size_t kc = std::min(kKC, cols - pc);
      const bool accumulate = pc != 0;
      PackQuantWeights(w, jc, nc, pc, kc, nr, packed_w);
      for (size_t ic = 0; ic < tokens; ic += kMC) {
        const size_t mc = std::min(kMC, tokens - ic);
        PackActivations(x, cols, ic, mc, pc, kc, packed_x);
        for (size_t jr = 0; jr < nc; jr += nr) {
          const float* strip = packed_w + jr * kc;
          const size_t n_valid = std::min(nr, nc - jr);
          for (size_t ir = 0; ir < mc; ir += kMR) {
            const float* tile = packed_x + ir * kc;
            const size_t m_valid = std::min(kMR, mc - ir);
            float* out = y + (ic + ir) * rows + jc + jr;
            if (m_valid == kMR && n_valid == nr) {
              MicroKernel(df, tile, strip, kc, out, rows, accumulate);
              continue;
            }
            // Edge tile: compute the whole tile into `edge`, keep the valid part.
            MicroKernel(df, tile, strip, kc, edge, nr, /*accumulate=*/false);
            for (size_t i = 0; i < m_valid; ++i) {
              for (size_t j = 0; j < n_valid; ++j) {
                out[i * rows + j] = (accumulate ? out[i * rows + j] : 0.0f) + edge[i * nr + j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

#include "base/error.h"
#include "hwy/aligned_allocator.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"

namespace gemma {

HWY_EXPORT(MatMulRowsQuant);

namespace {

// Packing space of the calling thread: allocated on its first call and then reused.
float* ThreadScratch() {
  thread_local hwy::AlignedFreeUniquePtr<float[]> scratch;
  if (!scratch) scratch = hwy::AllocateAligned<float>(quant_blocking::kScratchFloats);
  if (!scratch) Fail(ErrorCode::kInternal, "QuantMatMulRows: cannot allocate packing buffers");
  return scratch.get();
}

}  // namespace

void QuantMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                     size_t row_begin, size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  if (w.cols == 0) {
    for (size_t t = 0; t < tokens; ++t)
      std::fill(y + t * w.rows + row_begin, y + t * w.rows + row_end, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulRowsQuant)(w, x, tokens, y, row_begin, row_end, ThreadScratch());
}

}  // namespace gemma
#endif  // HWY_ONCE
