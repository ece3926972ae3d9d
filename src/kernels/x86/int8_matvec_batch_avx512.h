// Integer decode products (QuantDot::kInt8) of several activation rows at once (MatVecBatch,
// kernels/matmul.h) on AVX-512 VNNI: each block of weights is read and unpacked to unsigned
// bytes and scale vectors once, into a small panel in L1, and every activation row then
// multiplies the panel. Each row's result is bit for bit what Int8MatVecRowsAvx512Vnni
// (int8_matvec_avx512.h) gives it alone: per output the same vpdpbusd products, the same
// conversions, scale products and fused multiply-adds into the same accumulators in the
// same order, and the same final sums; only the weights' loading and unpacking is shared.
// The portable twin is the AVX2 batch kernel (kernels/quant/quant_matvec_batch.cc).
#pragma once

#include <cstddef>

#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma::x86 {

// y[t][r] for r in [row_begin, row_end) and t < tokens, x[t] the rounded activations of
// row t. Requires HasInt8MatVecAvx512Vnni(w.dtype), x[t]->cols == w.cols and
// CpuFeatureEnabled(kCpuAvx512Vnni).
void Int8MatVecBatchRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Activations* const* x,
                                   size_t tokens, float* const* y, size_t row_begin,
                                   size_t row_end);

}  // namespace gemma::x86
