// Scalar quantizers, bit-exact with ggml's reference quantizers as llama-quantize uses them
// without an importance matrix (quantize_row_*_ref): the same float32 operations in the same
// order, so quantizing a float32 tensor reproduces llama.cpp's file block for block.
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "kernels/quant/blocks.h"

namespace gemma::quant {

// Quantizes `n` values (a multiple of the type's block size) into `blocks`
// (ByteSize(type, n) bytes). Also accepts F32, F16 and BF16 (plain conversions).
void QuantizeRow(DType type, const float* x, void* blocks, size_t n);

// Activation quantizers for the integer dot products (llama.cpp's quantize_row_q8_0 /
// quantize_row_q8_K); n is a multiple of 32 / 256.
void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, size_t n);
void QuantizeRowQ8_K(const float* x, BlockQ8_K* y, size_t n);

// ggml's nearest_int: round half to even through the float32 magic number 1.5 * 2^23,
// valid for |x| <= 2^22.
inline int NearestInt(float x);

}  // namespace gemma::quant

#include <cstring>

inline int gemma::quant::NearestInt(float x) {
  const float v = x + 12582912.f;
  int i;
  std::memcpy(&i, &v, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}
