// Integer prefill products (QuantDot::kInt8, kernels/quant/int8_matmul.h) on AVX-512 VNNI for
// every block-quantized type: each token's activations rounded exactly as decode rounds them,
// the weights' stored integers (offset to unsigned bytes) multiplied by vpdpbusd in a
// 6-token x 32-row register tile (12 int32 and 12 float32 zmm accumulators), each block's
// integer sums scaled into float32 once. The arithmetic of quant::ReferenceMatVecRowsInt8
// (exact integer block sums, float32 scaling), which the tests compare it with; the portable
// twin for Q4_0 is the AVX2 kernel of kernels/quant/int8_matmul.cc (the other types keep
// float32 activations in prefill where this kernel cannot run).
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/weight_matrix.h"

namespace gemma::x86 {

// True for the types the kernel handles: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool HasInt8MatMulAvx512Vnni(DType dtype);

// y[t * w.rows + r] (+)= the product for r in [row_begin, row_end) and every token of x.
// Requires HasInt8MatMulAvx512Vnni(w.dtype), x.cols == w.cols and
// CpuFeatureEnabled(kCpuAvx512Vnni).
void Int8MatMulRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Rows& x, float* y,
                              size_t row_begin, size_t row_end, bool add_to_y);

}  // namespace gemma::x86
