// Prefill: Y = X W^T for many tokens, bound by FMA throughput rather than memory. The
// blocking and the register micro-kernel are in kernels/matmul_kernel-inl.h (shared with the
// quantized weights); this file fills the packed float32 weight strips from f32, bf16 and
// f16 rows. Each weight is converted once per call, so bf16 and f16 cost the same as f32.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>

#include "hwy/highway.h"
#include "kernels/matmul_kernel-inl.h"
#include "kernels/simd_weights-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {
using namespace plain_weights;           // NOLINT(build/namespaces)
using namespace gemma::matmul_blocking;  // NOLINT(build/namespaces)
using namespace matmul_kernel;           // NOLINT(build/namespaces)

// Widens rows [r0, r0 + count) of the strip's rows (count <= nr) one at a time and
// scatters them into the strip with scalar stores: the general path, and the tails.
template <typename T>
void PackStripRows(const std::byte* data, size_t row_bytes, size_t first_row, size_t r0,
                   size_t count, size_t valid, size_t k0, size_t kc, size_t nr,
                   float* HWY_RESTRICT strip) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  HWY_ALIGN float row[kKC];
  for (size_t i = r0; i < r0 + count; ++i) {
    if (i >= valid) {
      for (size_t k = 0; k < kc; ++k) strip[k * nr + i] = 0.0f;
      continue;
    }
    const T* HWY_RESTRICT src = reinterpret_cast<const T*>(data + (first_row + i) * row_bytes) + k0;
    size_t k = 0;
    for (; k + N <= kc; k += N) hn::Store(LoadWeights(df, src + k), df, row + k);
    for (; k < kc; ++k) row[k] = WeightAt(src, k);
    for (k = 0; k < kc; ++k) strip[k * nr + i] = row[k];
  }
}

// Packs strip s of rows [row0, row0 + nc) x columns [k0, k0 + kc) of W as float32:
// packed[(s * kc + k) * NR + i] = W[row0 + s * NR + i, k0 + k], zero past the last row.
template <typename T>
void PackWeights(const std::byte* data, size_t row_bytes, size_t row0, size_t nc, size_t k0,
                 size_t kc, size_t nr, float* HWY_RESTRICT packed, size_t s) {
  {
    float* HWY_RESTRICT strip = packed + s * kc * nr;
    const size_t first_row = row0 + s * nr;
    const size_t valid = std::min(nr, nc - s * nr);  // rows of W in this strip
    if ((s + 2) * nr < nc) {
      PrefetchRows(data + (first_row + 2 * nr) * row_bytes + k0 * sizeof(T), row_bytes,
                   std::min(nr, nc - (s + 2) * nr), kc * sizeof(T));
    }
#if HWY_TARGET == HWY_AVX2
    if (valid == nr && kc >= 8) {
      const size_t kc8 = kc & ~size_t{7};
      const hn::Full256<float> df;
      for (size_t r0 = 0; r0 < nr; r0 += 8) {
        const T* HWY_RESTRICT src[8];
        for (size_t j = 0; j < 8; ++j) {
          src[j] = reinterpret_cast<const T*>(data + (first_row + r0 + j) * row_bytes) + k0;
        }
        PackStripRows8([&](size_t j, size_t k) { return LoadWeights(df, src[j] + k); }, r0, kc8, nr,
                       strip);
      }
      if (kc8 != kc) {
        // Columns [kc8, kc): widen and scatter one value at a time.
        for (size_t i = 0; i < nr; ++i) {
          const T* src = reinterpret_cast<const T*>(data + (first_row + i) * row_bytes) + k0;
          for (size_t k = kc8; k < kc; ++k) strip[k * nr + i] = WeightAt(src, k);
        }
      }
      return;
    }
#endif
    PackStripRows<T>(data, row_bytes, first_row, 0, nr, valid, k0, kc, nr, strip);
  }
}

// y[t * rows + r] for r in [row_begin, row_end), all tokens. scratch:
// matmul_blocking::ScratchFloats(tokens), aligned to the vector size.
template <typename T>
void MatMulRowsT(const std::byte* data, size_t row_bytes, size_t rows, size_t cols, const float* x,
                 const float* prepacked, size_t tokens, float* y, size_t row_begin, size_t row_end,
                 bool add_to_y, float* scratch) {
  MatMulBlocked(
      rows, cols, x, prepacked, tokens, y, row_begin, row_end, add_to_y, scratch,
      [&](size_t row0, size_t nc, size_t k0, size_t kc, size_t nr, float* packed, size_t s) {
        PackWeights<T>(data, row_bytes, row0, nc, k0, kc, nr, packed, s);
      });
}

void MatMulRowsF32(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                   const float* x, const float* prepacked, size_t tokens, float* y,
                   size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  MatMulRowsT<float>(data, row_bytes, rows, cols, x, prepacked, tokens, y, row_begin, row_end,
                     add_to_y, scratch);
}
void MatMulRowsBF16(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                    const float* x, const float* prepacked, size_t tokens, float* y,
                    size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  MatMulRowsT<hwy::bfloat16_t>(data, row_bytes, rows, cols, x, prepacked, tokens, y, row_begin,
                               row_end, add_to_y, scratch);
}
void MatMulRowsF16(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                   const float* x, const float* prepacked, size_t tokens, float* y,
                   size_t row_begin, size_t row_end, bool add_to_y, float* scratch) {
  MatMulRowsT<hwy::float16_t>(data, row_bytes, rows, cols, x, prepacked, tokens, y, row_begin,
                              row_end, add_to_y, scratch);
}

// Blocks [first, last) of matmul_blocking::PackTiles.
void PackTileBlocks(const float* x, size_t tokens, size_t cols, size_t first, size_t last,
                    float* tiles) {
  const size_t token_blocks = (tokens + kMC - 1) / kMC;
  for (size_t b = first; b < last; ++b) {
    const size_t pc = b / token_blocks * kKC, ic = b % token_blocks * kMC;
    const size_t kc = std::min(kKC, cols - pc);
    PackActivations(x, cols, ic, std::min(kMC, tokens - ic), pc, kc,
                    tiles + PackedTileOffset(tokens, pc, ic, kc), /*no_spill=*/true);
  }
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/bf16_activations.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/matmul_checks.h"
#include "kernels/packed_activations.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/x86/bf16_avx512.h"

namespace gemma {

HWY_EXPORT(MatMulRowsF32);
HWY_EXPORT(MatMulRowsBF16);
HWY_EXPORT(MatMulRowsF16);
HWY_EXPORT(PackTileBlocks);

namespace matmul_blocking {
size_t PackedTileBlocks(size_t tokens, size_t cols) {
  return (cols + kKC - 1) / kKC * ((tokens + kMC - 1) / kMC);
}
void PackTiles(const float* x, size_t tokens, size_t cols, size_t first, size_t last,
               float* tiles) {
  HWY_DYNAMIC_DISPATCH(PackTileBlocks)(x, tokens, cols, first, last, tiles);
}
}  // namespace matmul_blocking

namespace {

using MatMulRowsFn = void (*)(const std::byte*, size_t, size_t, size_t, const float*, const float*,
                              size_t, float*, size_t, size_t, bool, float*);

MatMulRowsFn PlainMatMulFn(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return HWY_DYNAMIC_DISPATCH(MatMulRowsF32);
    case DType::kBF16:
      return HWY_DYNAMIC_DISPATCH(MatMulRowsBF16);
    case DType::kF16:
      return HWY_DYNAMIC_DISPATCH(MatMulRowsF16);
    default:
      return nullptr;
  }
}

// Row chunks are multiples of 64 rows: whole micro-kernel strips for every target
// (NR <= 32) and whole cache lines of y for each token.
constexpr size_t kRowAlign = 64;

// The blocked product over the pool, rows split in kRowAlign multiples. x.x() is read
// directly, or through what x has prepared (int8 rows, and with share_tiles the float32
// tiles); without share_tiles each thread packs the tiles it needs itself.
void BlockedMatMul(const WeightMatrix& w, PackedActivations& x, bool share_tiles, float* y,
                   bool add_to_y, ThreadPool& pool) {
  if (w.quant_dot == QuantDot::kInt8 && HasInt8MatMul(w.dtype)) {
    if (const quant::Int8Rows* xq = x.Int8Rows(pool)) {
      pool.ParallelForRef(w.rows, kRowAlign, [&](size_t begin, size_t end, int) {
        Int8MatMulRows(w, *xq, y, begin, end, add_to_y);
      });
      return;
    }
  }
  const float* x_values = x.x();
  const float* tiles = nullptr;
  if (UsesRoundedBf16(w)) {
    if (CpuFeatureEnabled(kCpuAvx512Bf16)) {
      // The pair tiles are packed once over the pool, shared or not (they are small).
      const uint32_t* pair_tiles = x.Bf16PairTiles(pool);
      const Bf16Rows& xb = x.RoundedBf16(pool, /*with_values=*/false);
      pool.ParallelForRef(w.rows, kRowAlign, [&](size_t begin, size_t end, int) {
        x86::Bf16MatMulRowsAvx512(w, xb, pair_tiles, y, begin, end, add_to_y);
      });
      return;
    }
    // The float32 product of the rounded values: the same products, summed in another order.
    x_values = x.RoundedBf16(pool).values;
    if (share_tiles) tiles = x.RoundedBf16Tiles(pool);
  } else if (share_tiles) {
    tiles = x.FloatTiles(pool);
  }
  const MatMulRowsFn fn = PlainMatMulFn(w.dtype);
  pool.ParallelForRef(w.rows, kRowAlign, [&](size_t begin, size_t end, int) {
    if (fn) {
      fn(w.data, w.row_bytes, w.rows, w.cols, x_values, tiles, x.tokens(), y, begin, end, add_to_y,
         matmul_blocking::ThreadScratch(x.tokens()));
    } else {
      QuantMatMulRows(w, x.x(), x.tokens(), y, begin, end, add_to_y, tiles);
    }
  });
}

// One product of a plain x: the calling thread's PackedActivations (reused, so nothing is
// allocated per call) prepares the int8 rows when needed; tiles are packed per thread.
void BlockedMatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, bool add_to_y,
                   ThreadPool& pool) {
  thread_local PackedActivations caller;
  caller.Reset(x, tokens, w.cols);
  BlockedMatMul(w, caller, /*share_tiles=*/false, y, add_to_y, pool);
}

void CheckPacked(const WeightMatrix& w, const PackedActivations& x, const char* what) {
  CheckWeightMatrix(w, what);
  if (x.cols() != w.cols) {
    Fail(ErrorCode::kInvalidArgument, what, ": activations of ", x.cols(), " columns for a ",
         w.rows, " x ", w.cols, " matrix");
  }
}

}  // namespace

void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  CheckWeightMatrix(w, "MatMul");
  if (tokens == 0 || w.rows == 0) return;
  if (tokens == 1) {
    MatVec(w, x, y, pool);
    return;
  }
  if (w.cols == 0) {
    std::fill(y, y + tokens * w.rows, 0.0f);
    return;
  }
  BlockedMatMul(w, x, tokens, y, /*add_to_y=*/false, pool);
}

void MatMulAdd(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  CheckWeightMatrix(w, "MatMulAdd");
  if (tokens == 0 || w.rows == 0 || w.cols == 0) return;
  BlockedMatMul(w, x, tokens, y, /*add_to_y=*/true, pool);
}

void MatMul(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool) {
  CheckPacked(w, x, "MatMul");
  if (x.tokens() <= 1 || w.rows == 0 || w.cols == 0) {
    MatMul(w, x.x(), x.tokens(), y, pool);
    return;
  }
  BlockedMatMul(w, x, /*share_tiles=*/true, y, /*add_to_y=*/false, pool);
}

void MatMulRowInvariant(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool) {
  CheckPacked(w, x, "MatMulRowInvariant");
  if (x.tokens() == 0 || w.rows == 0) return;
  if (w.cols == 0) {
    std::fill(y, y + x.tokens() * w.rows, 0.0f);
    return;
  }
  BlockedMatMul(w, x, /*share_tiles=*/true, y, /*add_to_y=*/false, pool);
}

void MatMulAdd(const WeightMatrix& w, PackedActivations& x, float* y, ThreadPool& pool) {
  CheckPacked(w, x, "MatMulAdd");
  if (x.tokens() == 0 || w.rows == 0 || w.cols == 0) return;
  BlockedMatMul(w, x, /*share_tiles=*/true, y, /*add_to_y=*/true, pool);
}

}  // namespace gemma
#endif  // HWY_ONCE
