// Prefill: Y = X W^T for many tokens, bound by FMA throughput rather than memory.
//
// The classic BLIS structure (Goto & van de Geijn), with the weights in the role of the
// packed "B" operand:
//   for each block of kNC weight rows (split across threads by rows)
//     for each block of kKC columns (the shared dimension)
//       pack the weight block, widened to float32, as strips of [kKC][NR]    (L2/L3)
//       for each block of kMC tokens
//         pack the activations as tiles of [kKC][kMR]                         (L2)
//         for each weight strip (stays in L1) and each token tile:
//           micro-kernel: a kMR x NR tile of y in 2*kMR vector registers,
//                         one broadcast + two FMAs per token per k
// Each weight value is converted once per call and then reused for every token, so bf16
// and f16 cost the same as f32. On AVX2 the micro-kernel holds 12 accumulators (6 tokens
// x 16 rows) and issues 12 FMAs per 2 loads + 6 broadcasts, close to the 2 FMA/cycle peak.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/simd_weights-inl.h"

#ifndef GEMMA_KERNELS_MATMUL_BLOCKING_
#define GEMMA_KERNELS_MATMUL_BLOCKING_
namespace gemma::matmul_blocking {
constexpr size_t kMR = 6;    // tokens per register tile
constexpr size_t kKC = 256;  // columns per block: a [kKC][NR] strip is 16 KiB on AVX2 (L1)
constexpr size_t kMC = 120;  // tokens per packed block (multiple of kMR): 120 KiB (L2)
// Weight rows per packed block (a multiple of every NR): 2 MiB, in L3. Large, because the
// activations are re-packed once per block of rows (and that copy reads x from L3).
constexpr size_t kNC = 2048;
// Floats of scratch one thread needs: packed weights + packed activations.
constexpr size_t kScratchFloats = kKC * kNC + kKC * kMC;
}  // namespace gemma::matmul_blocking
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {
using namespace plain_weights;           // NOLINT(build/namespaces)
using namespace gemma::matmul_blocking;  // NOLINT(build/namespaces)

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

#if HWY_TARGET == HWY_AVX2
// Eight full rows of the strip, columns [0, kc8) with kc8 a multiple of 8: 8x8 blocks
// widened and transposed in registers (three shuffle rounds), one vector store per column.
// The scalar scatter above costs one store per weight; this costs one per 8.
template <typename T>
void PackStripRows8(const std::byte* data, size_t row_bytes, size_t first_row, size_t r0, size_t k0,
                    size_t kc8, size_t nr, float* HWY_RESTRICT strip) {
  const hn::Full256<float> df;
  const hn::Full256<uint64_t> du;
  const T* HWY_RESTRICT src[8];
  for (size_t j = 0; j < 8; ++j) {
    src[j] = reinterpret_cast<const T*>(data + (first_row + r0 + j) * row_bytes) + k0;
  }
  for (size_t k = 0; k < kc8; k += 8) {
    // r[j] = row j, columns k..k+7.
    const auto r0v = LoadWeights(df, src[0] + k), r1v = LoadWeights(df, src[1] + k);
    const auto r2v = LoadWeights(df, src[2] + k), r3v = LoadWeights(df, src[3] + k);
    const auto r4v = LoadWeights(df, src[4] + k), r5v = LoadWeights(df, src[5] + k);
    const auto r6v = LoadWeights(df, src[6] + k), r7v = LoadWeights(df, src[7] + k);
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
    hn::Store(hn::ConcatLowerLower(df, u4, u0), df, out + 0 * nr);
    hn::Store(hn::ConcatLowerLower(df, u5, u1), df, out + 1 * nr);
    hn::Store(hn::ConcatLowerLower(df, u6, u2), df, out + 2 * nr);
    hn::Store(hn::ConcatLowerLower(df, u7, u3), df, out + 3 * nr);
    hn::Store(hn::ConcatUpperUpper(df, u4, u0), df, out + 4 * nr);
    hn::Store(hn::ConcatUpperUpper(df, u5, u1), df, out + 5 * nr);
    hn::Store(hn::ConcatUpperUpper(df, u6, u2), df, out + 6 * nr);
    hn::Store(hn::ConcatUpperUpper(df, u7, u3), df, out + 7 * nr);
  }
}
#endif

// Packs rows [row0, row0 + nc) x columns [k0, k0 + kc) of W as float32 strips:
// packed[(s * kc + k) * NR + i] = W[row0 + s * NR + i, k0 + k], zero past the last row.
template <typename T>
void PackWeights(const std::byte* data, size_t row_bytes, size_t row0, size_t nc, size_t k0,
                 size_t kc, size_t nr, float* HWY_RESTRICT packed) {
  for (size_t s = 0; s * nr < nc; ++s) {
    float* HWY_RESTRICT strip = packed + s * kc * nr;
    const size_t first_row = row0 + s * nr;
    const size_t valid = std::min(nr, nc - s * nr);  // rows of W in this strip
#if HWY_TARGET == HWY_AVX2
    if (valid == nr && kc >= 8) {
      const size_t kc8 = kc & ~size_t{7};
      for (size_t r0 = 0; r0 < nr; r0 += 8) {
        PackStripRows8<T>(data, row_bytes, first_row, r0, k0, kc8, nr, strip);
      }
      if (kc8 != kc) {
        // Columns [kc8, kc): widen and scatter one value at a time.
        for (size_t i = 0; i < nr; ++i) {
          const T* src = reinterpret_cast<const T*>(data + (first_row + i) * row_bytes) + k0;
          for (size_t k = kc8; k < kc; ++k) strip[k * nr + i] = WeightAt(src, k);
        }
      }
      continue;
    }
#endif
    PackStripRows<T>(data, row_bytes, first_row, 0, nr, valid, k0, kc, nr, strip);
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

// y[t * rows + r] for r in [row_begin, row_end), all tokens. scratch: kScratchFloats,
// aligned to the vector size.
template <typename T>
void MatMulRowsT(const std::byte* data, size_t row_bytes, size_t rows, size_t cols, const float* x,
                 size_t tokens, float* y, size_t row_begin, size_t row_end, float* scratch) {
  const hn::ScalableTag<float> df;
  const size_t nr = 2 * hn::Lanes(df);
  float* HWY_RESTRICT packed_w = scratch;              // [kNC / nr][kKC][nr]
  float* HWY_RESTRICT packed_x = scratch + kKC * kNC;  // [kMC / kMR][kKC][kMR]
  HWY_ALIGN float edge[kMR * 2 * HWY_MAX_BYTES / sizeof(float)];

  for (size_t jc = row_begin; jc < row_end; jc += kNC) {
    const size_t nc = std::min(kNC, row_end - jc);
    for (size_t pc = 0; pc < cols; pc += kKC) {
      const size_t kc = std::min(kKC, cols - pc);
      const bool accumulate = pc != 0;
      PackWeights<T>(data, row_bytes, jc, nc, pc, kc, nr, packed_w);
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

void MatMulRowsF32(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                   const float* x, size_t tokens, float* y, size_t row_begin, size_t row_end,
                   float* scratch) {
  MatMulRowsT<float>(data, row_bytes, rows, cols, x, tokens, y, row_begin, row_end, scratch);
}
void MatMulRowsBF16(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                    const float* x, size_t tokens, float* y, size_t row_begin, size_t row_end,
                    float* scratch) {
  MatMulRowsT<hwy::bfloat16_t>(data, row_bytes, rows, cols, x, tokens, y, row_begin, row_end,
                               scratch);
}
void MatMulRowsF16(const std::byte* data, size_t row_bytes, size_t rows, size_t cols,
                   const float* x, size_t tokens, float* y, size_t row_begin, size_t row_end,
                   float* scratch) {
  MatMulRowsT<hwy::float16_t>(data, row_bytes, rows, cols, x, tokens, y, row_begin, row_end,
                              scratch);
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "hwy/aligned_allocator.h"
#include "kernels/matmul.h"
#include "kernels/matmul_checks.h"
#include "kernels/quant/quant_matmul.h"

namespace gemma {

HWY_EXPORT(MatMulRowsF32);
HWY_EXPORT(MatMulRowsBF16);
HWY_EXPORT(MatMulRowsF16);

namespace {

using MatMulRowsFn = void (*)(const std::byte*, size_t, size_t, size_t, const float*, size_t,
                              float*, size_t, size_t, float*);

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

// Packing space of the calling thread: allocated on its first MatMul and then reused, so
// the pool's persistent threads allocate nothing per call.
float* ThreadScratch() {
  thread_local hwy::AlignedFreeUniquePtr<float[]> scratch;
  if (!scratch) scratch = hwy::AllocateAligned<float>(matmul_blocking::kScratchFloats);
  if (!scratch) Fail(ErrorCode::kInternal, "MatMul: cannot allocate packing buffers");
  return scratch.get();
}

// Row chunks are multiples of 64 rows: whole micro-kernel strips for every target
// (NR <= 32) and whole cache lines of y for each token.
constexpr size_t kRowAlign = 64;

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
  const MatMulRowsFn fn = PlainMatMulFn(w.dtype);
  pool.ParallelForRef(w.rows, kRowAlign, [&](size_t begin, size_t end, int) {
    if (fn) {
      fn(w.data, w.row_bytes, w.rows, w.cols, x, tokens, y, begin, end, ThreadScratch());
    } else {
      QuantMatMulRows(w, x, tokens, y, begin, end);
    }
  });
}

}  // namespace gemma
#endif  // HWY_ONCE
