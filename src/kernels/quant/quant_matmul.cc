// Prefill products with block-quantized weights: Y = X W^T for many tokens (QuantMatMulRows).
// Decode (one token) is in quant_matvec.cc.
//
// Prefill is bound by FMA throughput: the blocked product and register micro-kernel of
// kernels/matmul_kernel-inl.h (shared with the plain dtypes), with the weight strips filled
// by dequantizing the blocks with SIMD (kernels/quant/dequantize_blocks-inl.h). Each weight
// is dequantized once per call and reused for every token.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/quant_matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>

#include "base/dtype.h"
#include "hwy/highway.h"
#include "kernels/matmul_kernel-inl.h"
#include "kernels/quant/dequantize_blocks-inl.h"
#include "kernels/weight_matrix.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: kernels/matmul.cc has helpers of the same names in the same namespace.
namespace {
using namespace gemma::matmul_blocking;  // NOLINT(build/namespaces)
using namespace matmul_kernel;           // NOLINT(build/namespaces)

// Packs strip s of rows [row0, row0 + nc) x columns [k0, k0 + kc) of W, dequantized, as
// float32: packed[(s * kc + k) * nr + i] = W[row0 + s * nr + i, k0 + k], zero past the last
// row. k0 and kc are multiples of the block size (kKC is a multiple of every block size).
void PackQuantWeights(const WeightMatrix& w, size_t row0, size_t nc, size_t k0, size_t kc,
                      size_t nr, float* HWY_RESTRICT packed, size_t s) {
  const DTypeTraits& t = Traits(w.dtype);
  const size_t block_offset = k0 / t.block_elements * t.block_bytes;
  // The strip's rows, dequantized: [nr][kKC], 16 KiB on AVX2 (L1).
  HWY_ALIGN float rows[2 * HWY_MAX_BYTES / sizeof(float)][kKC];
  {
    float* HWY_RESTRICT strip = packed + s * kc * nr;
    const size_t valid = std::min(nr, nc - s * nr);  // rows of W in this strip
    if ((s + 2) * nr < nc) {
      PrefetchRows(w.row(row0 + (s + 2) * nr) + block_offset, w.row_bytes,
                   std::min(nr, nc - (s + 2) * nr), kc / t.block_elements * t.block_bytes);
    }
    for (size_t i = 0; i < valid; ++i) {
      simd_dequant::DequantizeBlocks(w.dtype, w.row(row0 + s * nr + i) + block_offset, rows[i], kc);
    }
#if HWY_TARGET == HWY_AVX2
    if (valid == nr && kc % 8 == 0) {
      const hn::Full256<float> df;
      for (size_t r0 = 0; r0 < nr; r0 += 8) {
        PackStripRows8([&](size_t j, size_t k) { return hn::Load(df, rows[r0 + j] + k); }, r0, kc,
                       nr, strip);
      }
      return;
    }
#endif
    for (size_t i = 0; i < nr; ++i) {
      for (size_t k = 0; k < kc; ++k) strip[k * nr + i] = i < valid ? rows[i][k] : 0.0f;
    }
  }
}

// y[t * w.rows + r] for r in [row_begin, row_end), all tokens (overwritten, or added to
// when add_to_y). scratch: matmul_blocking::ScratchFloats(tokens), aligned to the vector size.
void MatMulRowsQuant(const WeightMatrix& w, const float* x, const float* prepacked, size_t tokens,
                     float* y, size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  MatMulBlocked(w.rows, w.cols, x, prepacked, tokens, y, row_begin, row_end, add_to_y, scratch,
                [&](size_t row0, size_t nc, size_t k0, size_t kc, size_t nr, float* packed,
                    size_t s) { PackQuantWeights(w, row0, nc, k0, kc, nr, packed, s); });
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"

namespace gemma {

HWY_EXPORT(MatMulRowsQuant);

void QuantMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                     size_t row_begin, size_t row_end, bool add_to_y, const float* prepacked) {
  if (row_begin >= row_end || tokens == 0) return;
  if (w.cols == 0) {
    if (add_to_y) return;
    for (size_t t = 0; t < tokens; ++t)
      std::fill(y + t * w.rows + row_begin, y + t * w.rows + row_end, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulRowsQuant)
  (w, x, prepacked, tokens, y, row_begin, row_end, add_to_y,
   matmul_blocking::ThreadScratch(tokens));
}

}  // namespace gemma
#endif  // HWY_ONCE
