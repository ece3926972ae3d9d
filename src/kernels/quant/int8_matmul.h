// Prefill products with activations rounded to int8 (QuantDot::kInt8): the arithmetic of the
// integer decode kernels (kernels/quant/int8_activations.h) applied to many tokens at once,
// so that a prompt and the decode steps after it multiply the same way. Each token's row of
// activations is rounded exactly as decode rounds it; the weights' integers are multiplied by
// the activations' integers with vpmaddubsw in a register-tiled kernel (6 tokens x 16 rows),
// and d_w * d_x scales each 32-value block's integer sum in float32.
//
// Why: on AVX2 one vpmaddubsw does 32 multiply-adds where a float32 FMA does 8, and the
// weights stay 4-bit-sized in the packed panels instead of widening to float32; a Q4_0
// prefill is ~1.4x faster than with float32 activations (docs/performance.md). The error is
// that of int8 decode (docs/quantization.md); QuantDot::kFloat32 (--exact-quant) keeps the
// float32 product.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "hwy/aligned_allocator.h"
#include "kernels/weight_matrix.h"

namespace gemma {
namespace quant {

// The activations of `tokens` rows rounded to int8 blocks of 32 values, row t exactly as
// QuantizeActivations rounds it: x[t, c] ~= d[t, c / 32] * q[t, c].
struct Int8Rows {
  size_t tokens = 0;
  size_t cols = 0;
  int8_t* q = nullptr;       // [tokens][cols]
  float* d = nullptr;        // [tokens][cols / 32] block scales
  int32_t* sum = nullptr;    // [tokens][cols / 32] sum of q over each block (weight offsets)
  int16_t* sum16 = nullptr;  // [tokens][cols / 16] sum of q over each 16 values (Q6_K)

  // Owned storage; grows to the largest size seen and is then reused.
  hwy::AlignedFreeUniquePtr<int8_t[]> q_storage;
  hwy::AlignedFreeUniquePtr<float[]> d_storage;
  hwy::AlignedFreeUniquePtr<int32_t[]> sum_storage;
  hwy::AlignedFreeUniquePtr<int16_t[]> sum16_storage;
  size_t capacity = 0;  // values
};

// Sizes `rows` for tokens x cols values; cols must be a multiple of 32.
void PrepareInt8Rows(size_t tokens, size_t cols, Int8Rows& rows);

// Rounds rows [t_begin, t_end) of x ([rows.tokens, rows.cols], float32) into `rows`.
// Returns false if one of them holds a NaN or an infinity (the caller then keeps float32
// activations, which propagate it). Threads may fill disjoint ranges of the same rows.
bool QuantizeActivationRows(const float* x, size_t t_begin, size_t t_end, Int8Rows& rows);

}  // namespace quant

// True where this CPU has an integer prefill kernel for `dtype`: x86 with AVX-512 VNNI, every
// block-quantized type (kernels/x86/int8_matmul_avx512.h); x86 with AVX2, Q4_0.
bool HasInt8MatMul(DType dtype);

// y[t * w.rows + r] for r in [row_begin, row_end) and every token t of x: the sum over
// 32-value blocks b of d_w[r, b] * x.d[t, b] * (the integer dot product of the block, weight
// offsets included), in float32. Overwrites y, or adds to it when add_to_y. Requires
// HasInt8MatMul(w.dtype) and x.cols == w.cols.
void Int8MatMulRows(const WeightMatrix& w, const quant::Int8Rows& x, float* y, size_t row_begin,
                    size_t row_end, bool add_to_y);

}  // namespace gemma
