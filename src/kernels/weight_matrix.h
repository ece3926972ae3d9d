// A weight matrix as the kernels see it: `rows` rows of `cols` values of one dtype,
// row-major, each row `row_bytes` long (ByteSize(dtype, cols) unless padded). It knows
// nothing of Gemma or files: the bytes usually lie in a mapped checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace gemma {

// How products with block-quantized or bf16 weights treat the activations
// (docs/quantization.md):
enum class QuantDot : uint8_t {
  // Activations stay float32; weights are dequantized in registers. The products are those
  // of the file's weights: logits within ~1e-6 of an exact evaluation.
  kFloat32,
  // Activations are rounded to int8 per 32 values (kernels/quant/int8_activations.h) and
  // the products are integer, as in llama.cpp: 1.5-3x faster, within half a rounding step.
  // Used where the CPU has integer kernels: decode (HasInt8MatVec) and prefill
  // (HasInt8MatMul, Q4_0); elsewhere kFloat32.
  // For bf16 weights: activations are rounded to bf16 (kernels/bf16_activations.h), as in
  // llama.cpp, so that AVX-512 BF16 CPUs multiply with vdpbf16ps; every CPU rounds the same
  // way, within 2^-9 of each value.
  kInt8,
};

struct WeightMatrix {
  DType dtype = DType::kF32;
  const std::byte* data = nullptr;
  size_t rows = 0;  // output features
  size_t cols = 0;  // input features
  size_t row_bytes = 0;
  QuantDot quant_dot = QuantDot::kFloat32;  // ignored for f32 and f16

  const std::byte* row(size_t r) const { return data + r * row_bytes; }
};

// Rows [begin, begin + count) of w, as a view of the same bytes (no copy).
WeightMatrix RowRange(const WeightMatrix& w, size_t begin, size_t count);

// Columns [begin, begin + count) of every row of w, as a view with w's row stride. For
// block-quantized dtypes both ends must fall on block boundaries (a block's values share
// one scale); Error(kInvalidArgument) otherwise, and for a range outside w.
WeightMatrix ColumnRange(const WeightMatrix& w, size_t begin, size_t count);

// Converts row `r` to float32 (cols values). Works for every dtype.
void DequantizeRow(const WeightMatrix& w, size_t r, float* out);

}  // namespace gemma
