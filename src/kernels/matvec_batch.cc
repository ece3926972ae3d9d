// MatVecBatch (kernels/matmul.h): the decode product of several activation rows, each row
// bit for bit what MatVec gives it alone, each weight read from memory once for all rows.
//
// Which kernel: bf16 weights with rounded activations use the AVX-512 BF16 batch kernel
// (x86/bf16_batch_avx512.h) where the CPU has it; block-quantized weights with int8
// activations the integer batch kernels (QuantMatVecBatchRowsInt8: AVX-512 VNNI or AVX2);
// quantized weights with float32 activations QuantMatVecBatchRows; everything else (F32,
// F16, BF16 and the rounded bf16 values elsewhere) the portable Highway kernel below.
//
// The portable kernel is the twin of MatVecRowsT (kernels/matvec.cc), which gives each
// output two accumulators: `a` sums the first N columns of every 2N, `b` the second N, one
// more vector of N goes into `a`, the horizontal sum of a + b is taken, and the last
// columns are added one by one (DotRowTail). Here a register tile of kTileRows weight rows
// x kTileTokens activation rows holds those two accumulators for every (row, token) pair,
// so each widened weight vector feeds several FMAs; columns go in chunks whose activations
// stay in L1, the accumulators waiting in a small buffer between chunks.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matvec_batch.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <vector>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/simd_weights-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {
using namespace plain_weights;  // NOLINT(build/namespaces)

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// 32 vector registers: 3 x 4 x 2 = 24 accumulators.
constexpr int kTileRows = 3, kTileTokens = 4;
#else
// 16 (AVX2) or fewer: 2 x 3 x 2 = 12 accumulators.
constexpr int kTileRows = 2, kTileTokens = 3;
#endif
// Columns per chunk (rounded down to whole 2N): 2 KiB of float32 activations per row.
constexpr size_t kChunkColumns = 512;
// Weight rows are prefetched this many groups ahead, at the chunk being read.
constexpr size_t kPrefetchGroups = 2;

// Columns [c_begin, c_end) (whole 2N) of weight rows w[0 .. R) times activation rows
// x + t * x_stride, t < T, into the accumulators saved at state + (t * kTileRows + i) * 2N
// (zeros when `first`); with `last`, also the whole N-vectors of [c_end, cols).
template <typename T, int R, int TT>
void Tile(const T* const* w, const float* x, size_t x_stride, size_t c_begin, size_t c_end,
          size_t cols, bool first, bool last, float* state) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const size_t N = hn::Lanes(df);
  V a[TT][R], b[TT][R];
  for (int t = 0; t < TT; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * kTileRows + i) * 2 * N;
      a[t][i] = first ? hn::Zero(df) : hn::LoadU(df, s);
      b[t][i] = first ? hn::Zero(df) : hn::LoadU(df, s + N);
    }
  }
  for (size_t c = c_begin; c < c_end; c += 2 * N) {
    V w0[R];
    for (int i = 0; i < R; ++i) w0[i] = LoadWeights(df, w[i] + c);
    for (int t = 0; t < TT; ++t) {
      const V x0 = hn::LoadU(df, x + t * x_stride + c);
      for (int i = 0; i < R; ++i) a[t][i] = hn::MulAdd(w0[i], x0, a[t][i]);
    }
    V w1[R];
    for (int i = 0; i < R; ++i) w1[i] = LoadWeights(df, w[i] + c + N);
    for (int t = 0; t < TT; ++t) {
      const V x1 = hn::LoadU(df, x + t * x_stride + c + N);
      for (int i = 0; i < R; ++i) b[t][i] = hn::MulAdd(w1[i], x1, b[t][i]);
    }
  }
  if (last) {
    for (size_t c = c_end; c + N <= cols; c += N) {
      V w0[R];
      for (int i = 0; i < R; ++i) w0[i] = LoadWeights(df, w[i] + c);
      for (int t = 0; t < TT; ++t) {
        const V x0 = hn::LoadU(df, x + t * x_stride + c);
        for (int i = 0; i < R; ++i) a[t][i] = hn::MulAdd(w0[i], x0, a[t][i]);
      }
    }
  }
  for (int t = 0; t < TT; ++t) {
    for (int i = 0; i < R; ++i) {
      float* s = state + (t * kTileRows + i) * 2 * N;
      hn::StoreU(a[t][i], df, s);
      hn::StoreU(b[t][i], df, s + N);
    }
  }
}

template <typename T, int R>
using TileFn = void (*)(const T* const*, const float*, size_t, size_t, size_t, size_t, bool, bool,
                        float*);
template <typename T, int R>
TileFn<T, R> TileFor(size_t tokens) {
  static_assert(kTileTokens == 3 || kTileTokens == 4, "one tile per token count");
  switch (tokens) {
    case 1:
      return &Tile<T, R, 1>;
    case 2:
      return &Tile<T, R, 2>;
    case 3:
      return &Tile<T, R, 3>;
    default:
      return &Tile<T, R, kTileTokens>;
  }
}

// Weight rows [r0, r0 + R) for every token: y[t * y_stride + r0 + i].
template <typename T, int R>
void Group(const std::byte* data, size_t row_bytes, size_t cols, size_t r0, const float* x,
           size_t tokens, float* y, size_t y_stride, float* state) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const T* rows[R];
  for (int i = 0; i < R; ++i) rows[i] = reinterpret_cast<const T*>(data + (r0 + i) * row_bytes);
  const size_t body = cols / (2 * N) * (2 * N);
  const size_t chunk = std::max<size_t>(1, kChunkColumns / (2 * N)) * (2 * N);
  const size_t prefetch_distance = kPrefetchGroups * kTileRows * row_bytes;
  for (size_t c0 = 0;; c0 += chunk) {
    const size_t c1 = std::min(c0 + chunk, body);
    const bool first = c0 == 0, last = c1 == body;
    for (int i = 0; i < R; ++i) {
      const std::byte* p = reinterpret_cast<const std::byte*>(rows[i] + c0) + prefetch_distance;
      const size_t bytes = ((last ? cols : c1) - c0) * sizeof(T);
      for (size_t line = 0; line < bytes; line += 64) hwy::Prefetch(p + line);
    }
    for (size_t t0 = 0; t0 < tokens; t0 += kTileTokens) {
      const size_t count = std::min<size_t>(kTileTokens, tokens - t0);
      TileFor<T, R>(count)(rows, x + t0 * cols, cols, c0, c1, cols, first, last,
                           state + t0 * kTileRows * 2 * N);
    }
    if (last) break;
  }
  // Where MatVecRowsT's vector loops stop and DotRowTail starts.
  size_t tail = body;
  while (tail + N <= cols) tail += N;
  for (size_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < R; ++i) {
      const float* s = state + (t * kTileRows + i) * 2 * N;
      y[t * y_stride + r0 + i] =
          hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::LoadU(df, s), hn::LoadU(df, s + N)))) +
          DotRowTail(df, rows[i], x + t * cols, tail, cols);
    }
  }
}

// y[t * y_stride + r] for r in [row_begin, row_end), t < tokens; x: [tokens][cols].
template <typename T>
void MatVecBatchRowsT(const std::byte* data, size_t row_bytes, size_t cols, const float* x,
                      size_t tokens, float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  thread_local std::vector<float> state;
  const size_t floats =
      (tokens + kTileTokens) * kTileRows * 2 * hn::Lanes(hn::ScalableTag<float>());
  if (state.size() < floats) state.resize(floats);
  size_t r = row_begin;
  for (; r + kTileRows <= row_end; r += kTileRows) {
    Group<T, kTileRows>(data, row_bytes, cols, r, x, tokens, y, y_stride, state.data());
  }
  // The rows left over, one at a time (each row's operations are the same in any group).
  for (; r < row_end; ++r) {
    Group<T, 1>(data, row_bytes, cols, r, x, tokens, y, y_stride, state.data());
  }
}

void MatVecBatchRowsF32(const std::byte* data, size_t row_bytes, size_t cols, const float* x,
                        size_t tokens, float* y, size_t y_stride, size_t row_begin,
                        size_t row_end) {
  MatVecBatchRowsT<float>(data, row_bytes, cols, x, tokens, y, y_stride, row_begin, row_end);
}
void MatVecBatchRowsBF16(const std::byte* data, size_t row_bytes, size_t cols, const float* x,
                         size_t tokens, float* y, size_t y_stride, size_t row_begin,
                         size_t row_end) {
  MatVecBatchRowsT<hwy::bfloat16_t>(data, row_bytes, cols, x, tokens, y, y_stride, row_begin,
                                    row_end);
}
void MatVecBatchRowsF16(const std::byte* data, size_t row_bytes, size_t cols, const float* x,
                        size_t tokens, float* y, size_t y_stride, size_t row_begin,
                        size_t row_end) {
  MatVecBatchRowsT<hwy::float16_t>(data, row_bytes, cols, x, tokens, y, y_stride, row_begin,
                                   row_end);
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/bf16_activations.h"
#include "kernels/cpu_features.h"
#include "kernels/decode_activations.h"
#include "kernels/matmul.h"
#include "kernels/matmul_checks.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/x86/bf16_batch_avx512.h"

namespace gemma {

HWY_EXPORT(MatVecBatchRowsF32);
HWY_EXPORT(MatVecBatchRowsBF16);
HWY_EXPORT(MatVecBatchRowsF16);

namespace {

// As in kernels/matvec.cc: below this many weight bytes one thread does the product, and
// threads split the rows in multiples of 16 (one cache line of y).
constexpr size_t kMinBytesToSplit = 64 * 1024;
constexpr size_t kRowAlign = 16;

using BatchRowsFn = void (*)(const std::byte*, size_t, size_t, const float*, size_t, float*, size_t,
                             size_t, size_t);

BatchRowsFn PlainBatchRowsFn(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return HWY_DYNAMIC_DISPATCH(MatVecBatchRowsF32);
    case DType::kBF16:
      return HWY_DYNAMIC_DISPATCH(MatVecBatchRowsBF16);
    case DType::kF16:
      return HWY_DYNAMIC_DISPATCH(MatVecBatchRowsF16);
    default:
      return nullptr;
  }
}

// The per-row inputs and outputs of one call, in reused buffers of the calling thread.
struct BatchRows {
  std::vector<const quant::Int8Activations*> int8;  // rows rounded to int8
  std::vector<float*> int8_y;
  std::vector<const float*> other;  // rows without int8 (a NaN or an infinity), or all rows
  std::vector<float*> other_y;
};

}  // namespace

void MatVecBatch(const WeightMatrix& w, DecodeActivations& x, float* y, ThreadPool& pool) {
  CheckWeightMatrix(w, "MatVecBatch");
  if (x.cols() != w.cols) {
    Fail(ErrorCode::kInvalidArgument, "MatVecBatch: activations of ", x.cols(), " columns for a ",
         w.rows, " x ", w.cols, " matrix");
  }
  const size_t tokens = x.tokens();
  if (tokens == 0 || w.rows == 0) return;
  if (tokens == 1) {
    MatVec(w, x.x(), y, pool);  // the single-row kernels are tuned for one row
    return;
  }
  // Each row prepared as MatVec prepares a lone row, on this thread, before the workers.
  const bool quantized = IsQuantized(w.dtype);
  const bool int8 = quantized && w.quant_dot == QuantDot::kInt8 && HasInt8MatVec(w.dtype);
  const Bf16Rows* rounded = UsesRoundedBf16(w) ? &x.Bf16() : nullptr;
  // A reference: the workers must see this thread's buffers, not their own thread_local.
  thread_local BatchRows buffers;
  BatchRows& rows = buffers;
  rows.int8.clear(), rows.int8_y.clear(), rows.other.clear(), rows.other_y.clear();
  if (quantized) {
    for (size_t t = 0; t < tokens; ++t) {
      const quant::Int8Activations* a = int8 ? x.Int8Row(t) : nullptr;
      if (a != nullptr) {
        rows.int8.push_back(a);
        rows.int8_y.push_back(y + t * w.rows);
      } else {
        rows.other.push_back(x.x() + t * w.cols);
        rows.other_y.push_back(y + t * w.rows);
      }
    }
  }
  const auto product = [&](size_t begin, size_t end) {
    if (rounded != nullptr && CpuFeatureEnabled(kCpuAvx512Bf16)) {
      x86::Bf16MatVecBatchRowsAvx512(w, rounded->bits, tokens, y, w.rows, begin, end);
    } else if (rounded != nullptr) {
      HWY_DYNAMIC_DISPATCH(MatVecBatchRowsBF16)
      (w.data, w.row_bytes, w.cols, rounded->values, tokens, y, w.rows, begin, end);
    } else if (const BatchRowsFn fn = PlainBatchRowsFn(w.dtype)) {
      fn(w.data, w.row_bytes, w.cols, x.x(), tokens, y, w.rows, begin, end);
    } else {
      QuantMatVecBatchRowsInt8(w, rows.int8.data(), rows.int8.size(), rows.int8_y.data(), begin,
                               end);
      // Rows with a NaN or an infinity keep float32 activations, as MatVec gives them.
      if (int8) {
        for (size_t t = 0; t < rows.other.size(); ++t) {
          MatVecRows(w, rows.other[t], rows.other_y[t], begin, end);
        }
      } else {
        QuantMatVecBatchRows(w, rows.other.data(), rows.other.size(), rows.other_y.data(), begin,
                             end);
      }
    }
  };
  if (w.rows * w.row_bytes < kMinBytesToSplit || pool.size() == 1) {
    product(0, w.rows);
    return;
  }
  pool.ParallelForRef(w.rows, kRowAlign,
                      [&](size_t begin, size_t end, int) { product(begin, end); });
}

}  // namespace gemma
#endif  // HWY_ONCE
