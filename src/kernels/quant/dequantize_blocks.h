// Scalar dequantization of ggml's block types, bit-exact with ggml's `to_float` (the same
// float32 operations in the same order, no fused multiply-add).
#pragma once

#include <cstddef>

#include "base/dtype.h"

namespace gemma::quant {

// Converts `n` values (a multiple of the type's block size) starting at `blocks` to float32.
// `type` must be a block-quantized type.
void DequantizeBlocks(DType type, const void* blocks, float* out, size_t n);

// The same conversion with SIMD (the best instruction set of this CPU), bit-exact with
// DequantizeBlocks. The prefill product uses its per-target form directly
// (kernels/quant/dequantize_blocks-inl.h); this entry point is for tests and benchmarks.
void DequantizeBlocksSimd(DType type, const void* blocks, float* out, size_t n);

}  // namespace gemma::quant
