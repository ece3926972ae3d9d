#include "kernels/quant/quant_matmul.h"

#include <vector>

namespace gemma {

// Baseline: dequantize a row, then a float32 dot product. Fast block kernels replace this.
void QuantMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                     size_t row_end) {
  std::vector<float> row(w.cols);
  for (size_t r = row_begin; r < row_end; ++r) {
    DequantizeRow(w, r, row.data());
    float sum = 0.0f;
    for (size_t c = 0; c < w.cols; ++c) sum += row[c] * x[c];
    y[r] = sum;
  }
}

void QuantMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                     size_t row_begin, size_t row_end) {
  std::vector<float> row(w.cols);
  for (size_t r = row_begin; r < row_end; ++r) {
    DequantizeRow(w, r, row.data());
    for (size_t t = 0; t < tokens; ++t) {
      float sum = 0.0f;
      for (size_t c = 0; c < w.cols; ++c) sum += row[c] * x[t * w.cols + c];
      y[t * w.rows + r] = sum;
    }
  }
}

}  // namespace gemma
