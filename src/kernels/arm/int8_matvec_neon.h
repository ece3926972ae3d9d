// Integer decode products (QuantDot::kInt8: activations rounded to int8 per 32 values,
// kernels/quant/int8_activations.h) on Arm CPUs with the Armv8.2 dot-product extension
// (Apple M1 and later, Graviton 2/3/4, Cortex-A76 and later): sdot (vdotq_s32) multiplies 16
// signed weight bytes by 16 signed activation bytes and adds each 4 products into an int32
// lane. Chosen at run time from HWCAP (kCpuNeonDot); Arm CPUs without it keep the float32
// Highway kernels. The reference of the arithmetic is quant::ReferenceMatVecRowsInt8 (exact
// integer block sums, float32 scaling), which the tests compare these kernels with.
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/weight_matrix.h"

namespace gemma::arm {

// True for the types these kernels handle (Q8_0, Q4_0, Q4_K, Q6_K) on an aarch64 build.
bool HasInt8MatVecNeonDot(DType dtype);

// y[r] for r in [row_begin, row_end). Requires HasInt8MatVecNeonDot(w.dtype),
// x.cols == w.cols and CpuFeatureEnabled(kCpuNeonDot). Each row is computed alone, by the
// same operations wherever a thread's range starts: MatVecBatch calls it per activation row.
void Int8MatVecRowsNeonDot(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                           size_t row_begin, size_t row_end);

}  // namespace gemma::arm
