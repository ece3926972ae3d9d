// Products with block-quantized weights (llama.cpp layouts: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K). MatVec / MatMul in kernels/matmul.h call these for quantized dtypes,
// each thread on its own range of rows.
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma {

// y[r] for r in [row_begin, row_end); x: [w.cols].
void QuantMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                     size_t row_end);
// True where this CPU has an integer decode kernel for `dtype` (QuantDot::kInt8): x86 with
// AVX2 (every block-quantized type). Elsewhere decode keeps float32 activations.
bool HasInt8MatVec(DType dtype);
// y[r] for r in [row_begin, row_end) from activations rounded to int8 (int8_activations.h):
// the products of the file's weights with those activations, in float32 per block.
// Requires HasInt8MatVec(w.dtype) and x.cols == w.cols.
void QuantMatVecRowsInt8(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                         size_t row_begin, size_t row_end);
// The same two decode products for several activation rows (MatVecBatch): y[t][r] for r in
// [row_begin, row_end) and t < tokens, x[t] row t's activations (float32, or rounded to
// int8), each row bit for bit what QuantMatVecRows / QuantMatVecRowsInt8 give it alone, each
// weight block read from memory once for all the rows (kernels/quant/quant_matvec_batch.cc).
void QuantMatVecBatchRows(const WeightMatrix& w, const float* const* x, size_t tokens,
                          float* const* y, size_t row_begin, size_t row_end);
void QuantMatVecBatchRowsInt8(const WeightMatrix& w, const quant::Int8Activations* const* x,
                              size_t tokens, float* const* y, size_t row_begin, size_t row_end);
// y[t * w.rows + r] for r in [row_begin, row_end), t in [0, tokens); x: [tokens, w.cols].
// Overwrites y, or adds the product to it when add_to_y. prepacked: x already in register
// tiles (PackedActivations::FloatTiles), or null.
void QuantMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                     size_t row_begin, size_t row_end, bool add_to_y = false,
                     const float* prepacked = nullptr);

}  // namespace gemma
