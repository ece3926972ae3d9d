// Scalar dequantization of ggml's block types, bit-exact with ggml's `to_float` (the same
// float32 operations in the same order, no fused multiply-add).
#pragma once

#include <cstddef>

#include "base/dtype.h"

namespace gemma::quant {

// Converts `n` values (a multiple of the type's block size) starting at `blocks` to float32.
// `type` must be a block-quantized type.
void DequantizeBlocks(DType type, const void* blocks, float* out, size_t n);

}  // namespace gemma::quant
