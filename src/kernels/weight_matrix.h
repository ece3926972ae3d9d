// A weight matrix as the kernels see it: `rows` rows of `cols` values of one dtype,
// row-major, each row `row_bytes` long (ByteSize(dtype, cols) unless padded). It knows
// nothing of Gemma or files: the bytes usually lie in a mapped checkpoint.
#pragma once

#include <cstddef>

#include "base/dtype.h"

namespace gemma {

struct WeightMatrix {
  DType dtype = DType::kF32;
  const std::byte* data = nullptr;
  size_t rows = 0;  // output features
  size_t cols = 0;  // input features
  size_t row_bytes = 0;

  const std::byte* row(size_t r) const { return data + r * row_bytes; }
};

// Converts row `r` to float32 (cols values). Works for every dtype.
void DequantizeRow(const WeightMatrix& w, size_t r, float* out);

}  // namespace gemma
