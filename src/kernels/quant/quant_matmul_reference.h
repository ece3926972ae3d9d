// Plain scalar products with block-quantized weights: each 256-value chunk of a row is
// dequantized with ggml's own float operations (quant::DequantizeBlocks) and dotted with
// float32 activations. The SIMD kernels in quant_matmul.cc are tested against these, and
// they serve the types that have no SIMD kernel yet.
#pragma once

#include <cstddef>

#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma::quant {

// y[r] for r in [row_begin, row_end); x: [w.cols].
void ReferenceMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                         size_t row_end);
// The integer decode arithmetic (QuantDot::kInt8) in double: y[r] = sum over 32-value blocks
// b of x.d[b] * sum_i W[r, 32b + i] * x.q[32b + i], rounded once. Any type; cols must be a
// multiple of 32 and equal x.cols.
void ReferenceMatVecRowsInt8(const WeightMatrix& w, const Int8Activations& x, float* y,
                             size_t row_begin, size_t row_end);
// y[t * w.rows + r] for r in [row_begin, row_end), t in [0, tokens); x: [tokens, w.cols].
void ReferenceMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                         size_t row_begin, size_t row_end);

}  // namespace gemma::quant
