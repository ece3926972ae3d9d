// The decode product of bf16 weights with several bf16-rounded activation rows at once
// (MatVecBatch, kernels/matmul.h) on AVX-512 BF16: each weight vector is loaded once and
// multiplied (vdpbf16ps) with the same columns of every row. Each row's result is bit for
// bit what Bf16MatVecRowsAvx512 (bf16_avx512.h) gives it alone: the same two accumulators
// per output, fed the same column chunks in the same order, the same masked tail and the
// same horizontal sum; only the loads of the weights are shared. Call only where
// CpuFeatureEnabled(kCpuAvx512Bf16); the portable twin loops the float32 decode kernel over
// the rows (kernels/matvec_batch.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_matrix.h"

namespace gemma::x86 {

// y[t * y_stride + r] = sum_c W[r, c] * x[t * w.cols + c] for r in [row_begin, row_end) and
// t < tokens; w.dtype is BF16, x: [tokens][w.cols] bf16 bits.
void Bf16MatVecBatchRowsAvx512(const WeightMatrix& w, const uint16_t* x, size_t tokens, float* y,
                               size_t y_stride, size_t row_begin, size_t row_end);

}  // namespace gemma::x86
