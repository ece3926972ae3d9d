#include "kernels/matmul.h"

#include <vector>

#include "kernels/ref/reference.h"

namespace gemma {

// Baseline implementation: float32 accumulation over dequantized rows, rows split across
// the pool. The SIMD kernels replace this.
void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  pool.ParallelFor(w.rows, 1, [&](size_t begin, size_t end, int) {
    std::vector<float> row(w.cols);
    for (size_t r = begin; r < end; ++r) {
      DequantizeRow(w, r, row.data());
      float sum = 0.0f;
      for (size_t c = 0; c < w.cols; ++c) sum += row[c] * x[c];
      y[r] = sum;
    }
  });
}

void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  pool.ParallelFor(w.rows, 1, [&](size_t begin, size_t end, int) {
    std::vector<float> row(w.cols);
    for (size_t r = begin; r < end; ++r) {
      DequantizeRow(w, r, row.data());
      for (size_t t = 0; t < tokens; ++t) {
        const float* xt = x + t * w.cols;
        float sum = 0.0f;
        for (size_t c = 0; c < w.cols; ++c) sum += row[c] * xt[c];
        y[t * w.rows + r] = sum;
      }
    }
  });
}

}  // namespace gemma
