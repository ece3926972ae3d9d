#include "kernels/quant/quant_matmul_reference.h"

#include <algorithm>

#include "kernels/quant/dequantize_blocks.h"

namespace gemma::quant {
namespace {

// Values dequantized at a time: one K super-block or eight 32-value blocks, so the floats
// stay in L1 between the dequantization and the dot product.
constexpr size_t kChunk = 256;

// Eight independent partial sums let the compiler vectorize and hide FMA latency.
float Dot(const float* a, const float* b, size_t n) {
  float partial[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t k = 0; k < 8; ++k) partial[k] += a[i + k] * b[i + k];
  }
  for (; i < n; ++i) partial[0] += a[i] * b[i];
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

// Row r's values [c, c + n) as float32 (n a multiple of the block size).
void DequantizeChunk(const WeightMatrix& w, size_t r, size_t c, size_t n, float* out) {
  const DTypeTraits& t = Traits(w.dtype);
  DequantizeBlocks(w.dtype, w.row(r) + c / t.block_elements * t.block_bytes, out, n);
}

}  // namespace

void ReferenceMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                         size_t row_end) {
  alignas(64) float chunk[kChunk];  // [kChunk] dequantized weights
  for (size_t r = row_begin; r < row_end; ++r) {
    float sum = 0.0f;
    for (size_t c = 0; c < w.cols; c += kChunk) {
      const size_t n = std::min(kChunk, w.cols - c);
      DequantizeChunk(w, r, c, n, chunk);
      sum += Dot(chunk, x + c, n);
    }
    y[r] = sum;
  }
}

void ReferenceMatMulRows(const WeightMatrix& w, const float* x, size_t tokens, float* y,
                         size_t row_begin, size_t row_end) {
  alignas(64) float chunk[kChunk];  // [kChunk] dequantized weights
  for (size_t r = row_begin; r < row_end; ++r) {
    for (size_t t = 0; t < tokens; ++t) y[t * w.rows + r] = 0.0f;
    for (size_t c = 0; c < w.cols; c += kChunk) {
      const size_t n = std::min(kChunk, w.cols - c);
      DequantizeChunk(w, r, c, n, chunk);
      for (size_t t = 0; t < tokens; ++t) y[t * w.rows + r] += Dot(chunk, x + t * w.cols + c, n);
    }
  }
}

void ReferenceMatVecRowsInt8(const WeightMatrix& w, const Int8Activations& x, float* y,
                             size_t row_begin, size_t row_end) {
  alignas(64) float chunk[kChunk];  // [kChunk] dequantized weights
  for (size_t r = row_begin; r < row_end; ++r) {
    double sum = 0.0;
    for (size_t c = 0; c < w.cols; c += kChunk) {
      const size_t n = std::min(kChunk, w.cols - c);
      DequantizeChunk(w, r, c, n, chunk);
      for (size_t b = 0; b < n / kInt8ActivationBlock; ++b) {
        double block = 0.0;
        for (size_t i = 0; i < kInt8ActivationBlock; ++i) {
          const size_t k = b * kInt8ActivationBlock + i;
          block += static_cast<double>(chunk[k]) * x.q[c + k];
        }
        sum += static_cast<double>(x.d[(c / kInt8ActivationBlock) + b]) * block;
      }
    }
    y[r] = static_cast<float>(sum);
  }
}

}  // namespace gemma::quant
