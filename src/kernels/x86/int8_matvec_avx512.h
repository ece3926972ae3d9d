// Integer decode products (QuantDot::kInt8: activations rounded to int8 per 32 values,
// kernels/quant/int8_activations.h) on AVX-512 VNNI (Zen 4/5, Ice Lake and later servers):
// vpdpbusd multiplies 64 unsigned weight bytes by 64 signed activation bytes and adds each
// 4 products into an int32 lane, one instruction where AVX2 needs vpmaddubsw + vpmaddwd (and
// the sign trick for Q8_0, whose weights go in offset by 128 here instead). The portable twins
// are the AVX2 kernels of kernels/quant/quant_matvec.cc; both compute the arithmetic of
// quant::ReferenceMatVecRowsInt8 (exact integer block sums, float32 scaling), which the
// tests compare them with.
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma::x86 {

// True for the types these kernels handle: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool HasInt8MatVecAvx512Vnni(DType dtype);

// y[r] for r in [row_begin, row_end). Requires HasInt8MatVecAvx512Vnni(w.dtype),
// x.cols == w.cols and CpuFeatureEnabled(kCpuAvx512Vnni).
void Int8MatVecRowsAvx512Vnni(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                              size_t row_begin, size_t row_end);

}  // namespace gemma::x86
