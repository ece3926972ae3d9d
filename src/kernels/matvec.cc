// Decode: y = W x for one token. Bound by memory bandwidth: each weight byte is read
// once, widened to float32 in registers, and multiplied with x (which stays in L1).
// Four rows are processed together, each with two accumulators, so four independent
// streams keep the hardware prefetchers busy and the FMA latency is hidden. Rows are
// split across the pool in chunks of 16 (64 bytes of y) so no two threads write the same
// cache line of y.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/simd_weights-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {
using namespace plain_weights;  // NOLINT(build/namespaces)

// y[r] for r in [row_begin, row_end). T is float, hwy::bfloat16_t or hwy::float16_t.
template <typename T>
void MatVecRowsT(const std::byte* data, size_t row_bytes, size_t cols, const float* x, float* y,
                 size_t row_begin, size_t row_end) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const size_t N = hn::Lanes(df);
  const auto row_ptr = [&](size_t r) { return reinterpret_cast<const T*>(data + r * row_bytes); };

  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const T* HWY_RESTRICT w0 = row_ptr(r);
    const T* HWY_RESTRICT w1 = row_ptr(r + 1);
    const T* HWY_RESTRICT w2 = row_ptr(r + 2);
    const T* HWY_RESTRICT w3 = row_ptr(r + 3);
    V a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    V b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
    size_t c = 0;
    for (; c + 2 * N <= cols; c += 2 * N) {
      const V x0 = hn::LoadU(df, x + c);
      const V x1 = hn::LoadU(df, x + c + N);
      a0 = hn::MulAdd(LoadWeights(df, w0 + c), x0, a0);
      a1 = hn::MulAdd(LoadWeights(df, w1 + c), x0, a1);
      a2 = hn::MulAdd(LoadWeights(df, w2 + c), x0, a2);
      a3 = hn::MulAdd(LoadWeights(df, w3 + c), x0, a3);
      b0 = hn::MulAdd(LoadWeights(df, w0 + c + N), x1, b0);
      b1 = hn::MulAdd(LoadWeights(df, w1 + c + N), x1, b1);
      b2 = hn::MulAdd(LoadWeights(df, w2 + c + N), x1, b2);
      b3 = hn::MulAdd(LoadWeights(df, w3 + c + N), x1, b3);
    }
    for (; c + N <= cols; c += N) {
      const V x0 = hn::LoadU(df, x + c);
      a0 = hn::MulAdd(LoadWeights(df, w0 + c), x0, a0);
      a1 = hn::MulAdd(LoadWeights(df, w1 + c), x0, a1);
      a2 = hn::MulAdd(LoadWeights(df, w2 + c), x0, a2);
      a3 = hn::MulAdd(LoadWeights(df, w3 + c), x0, a3);
    }
    y[r + 0] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, b0))) + DotRowTail(df, w0, x, c, cols);
    y[r + 1] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a1, b1))) + DotRowTail(df, w1, x, c, cols);
    y[r + 2] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a2, b2))) + DotRowTail(df, w2, x, c, cols);
    y[r + 3] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a3, b3))) + DotRowTail(df, w3, x, c, cols);
  }
  for (; r < row_end; ++r) {
    const T* HWY_RESTRICT w0 = row_ptr(r);
    V a0 = hn::Zero(df), b0 = hn::Zero(df);
    size_t c = 0;
    for (; c + 2 * N <= cols; c += 2 * N) {
      a0 = hn::MulAdd(LoadWeights(df, w0 + c), hn::LoadU(df, x + c), a0);
      b0 = hn::MulAdd(LoadWeights(df, w0 + c + N), hn::LoadU(df, x + c + N), b0);
    }
    for (; c + N <= cols; c += N) {
      a0 = hn::MulAdd(LoadWeights(df, w0 + c), hn::LoadU(df, x + c), a0);
    }
    y[r] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, b0))) + DotRowTail(df, w0, x, c, cols);
  }
}

void MatVecRowsF32(const std::byte* data, size_t row_bytes, size_t cols, const float* x, float* y,
                   size_t row_begin, size_t row_end) {
  MatVecRowsT<float>(data, row_bytes, cols, x, y, row_begin, row_end);
}
void MatVecRowsBF16(const std::byte* data, size_t row_bytes, size_t cols, const float* x, float* y,
                    size_t row_begin, size_t row_end) {
  MatVecRowsT<hwy::bfloat16_t>(data, row_bytes, cols, x, y, row_begin, row_end);
}
void MatVecRowsF16(const std::byte* data, size_t row_bytes, size_t cols, const float* x, float* y,
                   size_t row_begin, size_t row_end) {
  MatVecRowsT<hwy::float16_t>(data, row_bytes, cols, x, y, row_begin, row_end);
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
#include "kernels/quant/int8_activations.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/x86/bf16_avx512.h"

namespace gemma {

HWY_EXPORT(MatVecRowsF32);
HWY_EXPORT(MatVecRowsBF16);
HWY_EXPORT(MatVecRowsF16);

namespace {

// Below this many weight bytes, waking a second thread costs more than it saves.
constexpr size_t kMinBytesToSplit = 64 * 1024;
// 16 floats = one 64-byte cache line of y per chunk boundary.
constexpr size_t kRowAlign = 16;

using RowsFn = void (*)(const std::byte*, size_t, size_t, const float*, float*, size_t, size_t);

RowsFn PlainRowsFn(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsF32);
    case DType::kBF16:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsBF16);
    case DType::kF16:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsF16);
    default:
      return nullptr;
  }
}

bool UsesInt8(const WeightMatrix& w) {
  return w.quant_dot == QuantDot::kInt8 && IsQuantized(w.dtype) && HasInt8MatVec(w.dtype);
}

// x prepared once per product by the calling thread, into its reusable buffers (no
// allocation per token); the workers then share it.
struct PreparedX {
  const float* x = nullptr;
  // x rounded to int8, for the matrices that use it; null when none does, or when x holds a
  // NaN or an infinity: the float kernels then propagate it.
  const quant::Int8Activations* int8 = nullptr;
  // x rounded to bf16 (bits and as float32), for bf16 matrices with QuantDot::kInt8; null
  // when none is one.
  const uint16_t* bf16_bits = nullptr;
  const float* bf16_values = nullptr;
};

PreparedX PrepareFor(const float* x, const WeightMatrix& w0, const WeightMatrix* w1 = nullptr) {
  PreparedX p{.x = x};
  if (UsesInt8(w0) || (w1 != nullptr && UsesInt8(*w1))) {
    thread_local quant::Int8Activations rounded;
    if (quant::QuantizeActivations(x, w0.cols, rounded)) p.int8 = &rounded;
  }
  if (UsesRoundedBf16(w0) || (w1 != nullptr && UsesRoundedBf16(*w1))) {
    thread_local Bf16Rows rounded;
    PrepareBf16Rows(1, w0.cols, rounded);
    RoundRowsToBf16(x, 0, 1, rounded);
    p.bf16_bits = rounded.bits;
    p.bf16_values = rounded.values;
  }
  return p;
}

void Rows(const WeightMatrix& w, const PreparedX& x, float* y, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end) return;
  if (x.int8 != nullptr && UsesInt8(w)) {
    QuantMatVecRowsInt8(w, *x.int8, y, row_begin, row_end);
  } else if (UsesRoundedBf16(w)) {
    if (CpuFeatureEnabled(kCpuAvx512Bf16)) {
      x86::Bf16MatVecRowsAvx512(w, x.bf16_bits, y, row_begin, row_end);
    } else {
      HWY_DYNAMIC_DISPATCH(MatVecRowsBF16)
      (w.data, w.row_bytes, w.cols, x.bf16_values, y, row_begin, row_end);
    }
  } else if (const RowsFn fn = PlainRowsFn(w.dtype)) {
    fn(w.data, w.row_bytes, w.cols, x.x, y, row_begin, row_end);
  } else {
    QuantMatVecRows(w, x.x, y, row_begin, row_end);
  }
}

}  // namespace

void MatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end) return;
  Rows(w, PrepareFor(x, w), y, row_begin, row_end);
}

void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  CheckWeightMatrix(w, "MatVec");
  if (w.rows == 0) return;
  const PreparedX px = PrepareFor(x, w);
  if (w.rows * w.row_bytes < kMinBytesToSplit || pool.size() == 1) {
    Rows(w, px, y, 0, w.rows);
    return;
  }
  pool.ParallelForRef(w.rows, kRowAlign,
                      [&](size_t begin, size_t end, int) { Rows(w, px, y, begin, end); });
}

void MatVecPair(const WeightMatrix& w0, const WeightMatrix& w1, const float* x, float* y0,
                float* y1, ThreadPool& pool) {
  CheckWeightMatrix(w0, "MatVecPair (first)");
  CheckWeightMatrix(w1, "MatVecPair (second)");
  if (w0.cols != w1.cols) {
    Fail(ErrorCode::kInvalidArgument, "MatVecPair: the matrices have ", w0.cols, " and ", w1.cols,
         " columns; they must read the same x");
  }
  // One hand-off for both products: each worker takes the same share of each matrix.
  const size_t parts = static_cast<size_t>(pool.size());
  const PreparedX px = PrepareFor(x, w0, &w1);
  pool.RunRef([&](int worker) {
    const auto [b0, e0] = ThreadPool::Chunk(w0.rows, kRowAlign, parts, size_t(worker));
    Rows(w0, px, y0, b0, e0);
    const auto [b1, e1] = ThreadPool::Chunk(w1.rows, kRowAlign, parts, size_t(worker));
    Rows(w1, px, y1, b1, e1);
  });
}

}  // namespace gemma
#endif  // HWY_ONCE
