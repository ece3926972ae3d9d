// Batched decode products with block-quantized weights (QuantMatVecBatchRows,
// QuantMatVecBatchRowsInt8 in quant_matmul.h): several activation rows, each bit for bit what
// the single-row kernels (quant_matvec.cc) give it alone.
//
// Integer activations: on AVX-512 VNNI x86/int8_matvec_batch_avx512.h; on AVX2 the kernels
// below, which run the single-row kernels' per-block arithmetic (int8_avx2-inl.h) with the
// weight side (Unpack: bytes to unsigned values, scales) done once per block into a panel of
// a few KiB, and the products with each activation row (Multiply) replayed from it. Rows go
// in the single-row kernels' groups (each row's operations are the same in any group), the
// columns in chunks whose panel stays in L1, each row's accumulators waiting in a small
// buffer between chunks (a store and a reload change no bits).
//
// Float32 activations: for now the rows pass in turn over groups of weight rows small enough
// to stay in L1, through the single-row kernels: each weight byte comes from memory once for
// the whole batch, but each row converts the weights again.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/quant_matvec_batch.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>

#include "hwy/highway.h"
#include "kernels/quant/half_table.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/quant/int8_avx2-inl.h"
#include "kernels/scratch_buffer.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
using namespace int8_avx2;  // NOLINT(build/namespaces)
using quant::Int8Activations;
using quant_matvec::HalfToFloatTable;

// Columns per panel: 1024 (Q8_0: 32 blocks, 2.3 KiB per row; K types: 4 super-blocks).
constexpr size_t kChunkValues = 1024;

// Weight rows w[0 .. kRows) for every activation row: y[t][r0 + i].
template <class K, int kRows>
void Int8BatchGroup(const uint8_t* const* w, size_t blocks, size_t prefetch_distance,
                    const Int8Activations* const* a, size_t tokens, float* const* y, size_t r0,
                    const float* HWY_RESTRICT half, typename K::Block* panel,
                    typename K::Acc* state) {
  for (size_t s = 0; s < tokens * kRows; ++s) state[s] = typename K::Acc{};
  const size_t chunk = std::max<size_t>(1, kChunkValues / K::kValues);
  for (size_t b0 = 0; b0 < blocks; b0 += chunk) {
    const size_t b1 = std::min(b0 + chunk, blocks);
    for (size_t b = b0; b < b1; ++b) {
      for (int i = 0; i < kRows; ++i) {
        // The next group's rows at the same offset, as the single-row kernels do.
        for (size_t line = 0; line < K::kBytes; line += 64) {
          _mm_prefetch(
              reinterpret_cast<const char*>(w[i] + prefetch_distance + b * K::kBytes + line),
              _MM_HINT_T0);
        }
        K::Unpack(w[i] + b * K::kBytes, half, panel[(b - b0) * kRows + i]);
      }
    }
    for (size_t t = 0; t < tokens; ++t) {
      typename K::Acc acc[kRows];
      for (int i = 0; i < kRows; ++i) acc[i] = state[t * kRows + i];
      for (size_t b = b0; b < b1; ++b) {
        for (int i = 0; i < kRows; ++i) K::Multiply(panel[(b - b0) * kRows + i], *a[t], b, acc[i]);
      }
      for (int i = 0; i < kRows; ++i) state[t * kRows + i] = acc[i];
    }
  }
  for (size_t t = 0; t < tokens; ++t) {
    for (int i = 0; i < kRows; ++i) y[t][r0 + i] = K::Finish(state[t * kRows + i]);
  }
}

// As Int8RowsT: groups of K::kRows rows, then single rows.
template <class K>
void Int8BatchRowsT(const std::byte* data, size_t row_bytes, size_t cols,
                    const Int8Activations* const* a, size_t tokens, float* const* y,
                    size_t row_begin, size_t row_end) {
  const size_t blocks = cols / K::kValues;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  thread_local ScratchBuffer<typename K::Block> panel_buffer;
  thread_local ScratchBuffer<typename K::Acc> state_buffer;
  typename K::Block* panel =
      panel_buffer.Reserve(std::max<size_t>(1, kChunkValues / K::kValues) * K::kRows);
  typename K::Acc* state = state_buffer.Reserve(tokens * K::kRows);
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  const size_t prefetch_distance = K::kRows * row_bytes;
  size_t r = row_begin;
  for (; r + K::kRows <= row_end; r += K::kRows) {
    const uint8_t* w[K::kRows];
    for (size_t i = 0; i < K::kRows; ++i) w[i] = row_ptr(r + i);
    Int8BatchGroup<K, K::kRows>(w, blocks, prefetch_distance, a, tokens, y, r, half, panel, state);
  }
  for (; r < row_end; ++r) {
    const uint8_t* w[1] = {row_ptr(r)};
    Int8BatchGroup<K, 1>(w, blocks, prefetch_distance, a, tokens, y, r, half, panel, state);
  }
}

// As Int8RowsQ4_0: groups of 4 rows, two blocks at a time; a group of fewer rows repeats its
// last row (as Int8GroupQ4_0<1> repeats its one row).
void Int8BatchRowsQ4_0(const std::byte* data, size_t row_bytes, size_t cols,
                       const Int8Activations* const* a, size_t tokens, float* const* y,
                       size_t row_begin, size_t row_end) {
  constexpr size_t kBytes = sizeof(quant::BlockQ4_0);
  constexpr size_t kChunkPairs = kChunkValues / 64;
  struct State {
    __m256 acc[4];
    __m256 offset;
  };
  const size_t blocks = cols / 32, pairs = blocks / 2;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  thread_local ScratchBuffer<Q4_0Pair> panel_buffer;
  thread_local ScratchBuffer<State> state_buffer;
  Q4_0Pair* panel = panel_buffer.Reserve(kChunkPairs);
  State* state = state_buffer.Reserve(tokens);
  for (size_t r = row_begin; r < row_end; r += 4) {
    const size_t n = std::min<size_t>(4, row_end - r);
    const uint8_t* w[4];
    for (size_t i = 0; i < 4; ++i) {
      w[i] = reinterpret_cast<const uint8_t*>(data + (r + std::min(i, n - 1)) * row_bytes);
    }
    for (size_t t = 0; t < tokens; ++t) state[t] = State{};
    for (size_t p0 = 0; p0 < pairs; p0 += kChunkPairs) {
      const size_t p1 = std::min(p0 + kChunkPairs, pairs);
      for (size_t p = p0; p < p1; ++p) {
        const size_t off = 2 * p * kBytes;
        for (int i = 0; i < 4; ++i) {
          _mm_prefetch(reinterpret_cast<const char*>(w[i] + 4 * row_bytes + off), _MM_HINT_T0);
        }
        UnpackQ4_0Pair<4>(w, off, panel[p - p0]);
      }
      for (size_t t = 0; t < tokens; ++t) {
        State s = state[t];
        for (size_t p = p0; p < p1; ++p)
          MultiplyQ4_0Pair<4>(panel[p - p0], *a[t], p, s.acc, s.offset);
        state[t] = s;
      }
    }
    for (size_t t = 0; t < tokens; ++t) {
      FinishQ4_0Rows(w, static_cast<int>(n), blocks, *a[t], half, state[t].acc, state[t].offset,
                     y[t] + r);
    }
  }
}

bool HasInt8BatchKernels() { return true; }
#define GEMMA_INT8_BATCH_ROWS(name, kernel)                                                        \
  void name(const std::byte* data, size_t row_bytes, size_t cols, const Int8Activations* const* a, \
            size_t tokens, float* const* y, size_t begin, size_t end) {                            \
    Int8BatchRowsT<kernel>(data, row_bytes, cols, a, tokens, y, begin, end);                       \
  }
#else
bool HasInt8BatchKernels() { return false; }
// Never called: HasInt8BatchKernels is false on this target.
#define GEMMA_INT8_BATCH_ROWS(name, kernel)                                                 \
  void name(const std::byte*, size_t, size_t, const quant::Int8Activations* const*, size_t, \
            float* const*, size_t, size_t) {}
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ4_0, Int8Q4_0)
#endif
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ8_0, Int8Q8_0)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ4_1, Int8Q4_1)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ5_0, Int8Q5_0)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ5_1, Int8Q5_1)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ4_K, Int8Q4_K)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ5_K, Int8Q5_K)
GEMMA_INT8_BATCH_ROWS(Int8BatchRowsQ6_K, Int8Q6_K)
#undef GEMMA_INT8_BATCH_ROWS

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/arm/int8_matvec_neon.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/x86/int8_matvec_avx512.h"
#include "kernels/x86/int8_matvec_batch_avx512.h"

namespace gemma {

HWY_EXPORT(HasInt8BatchKernels);
HWY_EXPORT(Int8BatchRowsQ8_0);
HWY_EXPORT(Int8BatchRowsQ4_0);
HWY_EXPORT(Int8BatchRowsQ4_1);
HWY_EXPORT(Int8BatchRowsQ5_0);
HWY_EXPORT(Int8BatchRowsQ5_1);
HWY_EXPORT(Int8BatchRowsQ4_K);
HWY_EXPORT(Int8BatchRowsQ5_K);
HWY_EXPORT(Int8BatchRowsQ6_K);

namespace {

// Weight rows per pass of every activation row: 32 KiB (in L1), whole groups of 4 rows, so
// every row goes through the 4-row paths of the kernels as it does in MatVec.
size_t RowsPerPass(const WeightMatrix& w) {
  return std::max<size_t>(4, (32 * 1024 / std::max<size_t>(w.row_bytes, 1)) & ~size_t{3});
}

using Int8BatchFn = void (*)(const std::byte*, size_t, size_t, const quant::Int8Activations* const*,
                             size_t, float* const*, size_t, size_t);

// The AVX2 batch kernel for `dtype`: the twin of the single-row kernel QuantMatVecRowsInt8
// picks (quant_matvec.cc, Int8MatVecFn), on the same Highway target.
Int8BatchFn Int8BatchRowsFn(DType dtype) {
  if (!HWY_DYNAMIC_DISPATCH(HasInt8BatchKernels)()) return nullptr;
  switch (dtype) {
    case DType::kQ8_0:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ8_0);
    case DType::kQ4_0:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ4_0);
    case DType::kQ4_1:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ4_1);
    case DType::kQ5_0:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ5_0);
    case DType::kQ5_1:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ5_1);
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ4_K);
    case DType::kQ5_K:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ5_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(Int8BatchRowsQ6_K);
    default:
      return nullptr;
  }
}

}  // namespace

void QuantMatVecBatchRows(const WeightMatrix& w, const float* const* x, size_t tokens,
                          float* const* y, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  const size_t group = RowsPerPass(w);
  for (size_t g = row_begin; g < row_end; g += group) {
    const size_t g_end = std::min(row_end, g + group);
    for (size_t t = 0; t < tokens; ++t) QuantMatVecRows(w, x[t], y[t], g, g_end);
  }
}

void QuantMatVecBatchRowsInt8(const WeightMatrix& w, const quant::Int8Activations* const* x,
                              size_t tokens, float* const* y, size_t row_begin, size_t row_end) {
  if (row_begin >= row_end || tokens == 0) return;
  for (size_t t = 0; t < tokens; ++t) {
    if (x[t]->cols != w.cols) {
      Fail(ErrorCode::kInternal, "QuantMatVecBatchRowsInt8: ", x[t]->cols, " activations for ",
           w.cols, " columns");
    }
  }
  // The same choice as QuantMatVecRowsInt8.
  if (CpuFeatureEnabled(kCpuAvx512Vnni) && x86::HasInt8MatVecAvx512Vnni(w.dtype)) {
    x86::Int8MatVecBatchRowsAvx512Vnni(w, x, tokens, y, row_begin, row_end);
  } else if (CpuFeatureEnabled(kCpuNeonDot) && arm::HasInt8MatVecNeonDot(w.dtype)) {
    // Row by row for now: each row is what the single-row kernel gives it.
    for (size_t t = 0; t < tokens; ++t) {
      arm::Int8MatVecRowsNeonDot(w, *x[t], y[t], row_begin, row_end);
    }
  } else if (const Int8BatchFn fn = Int8BatchRowsFn(w.dtype)) {
    fn(w.data, w.row_bytes, w.cols, x, tokens, y, row_begin, row_end);
  } else {
    Fail(ErrorCode::kInternal, "QuantMatVecBatchRowsInt8: no integer kernel for ",
         DTypeName(w.dtype), " on this CPU");
  }
}

}  // namespace gemma
#endif  // HWY_ONCE
