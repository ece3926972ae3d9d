// Shared helpers of the kernel tests: random inputs, weight matrices of every plain dtype
// at awkward alignments, and error bounds derived from float32 rounding.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

// simd_targets.h first, in its own block: the test must see the same targets as the
// kernels were compiled for.
#include "kernels/simd_targets.h"

#include "base/dtype.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/quant/quantize.h"
#include "kernels/weight_matrix.h"

namespace gemma::test {

// Unit roundoff of float32.
constexpr double kEps = 1.0 / (1 << 24);

// Higham's gamma_n = n u / (1 - n u): the worst-case relative error of any order of
// summing n products in float32, with or without FMA. A kernel whose error against the
// double-precision reference exceeds gamma_n * sum |terms| has a real bug (a lost or
// duplicated term, a wrong element), not a rounding difference.
inline double Gamma(size_t n) {
  const double nu = static_cast<double>(n) * kEps;
  return nu / (1.0 - nu);
}

// Every test that touches SIMD runs once per instruction set compiled in and supported
// by this CPU (e.g. AVX2 and the scalar fallback here, AVX-512 where available).
using PerTarget = hwy::TestWithParamTarget;

inline std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// A weight matrix that owns its bytes. The first value starts `misalign` bytes into the
// buffer and each row may be padded, so kernels cannot rely on alignment or on
// row_bytes == cols * size.
struct OwnedWeights {
  std::vector<std::byte> storage;
  WeightMatrix matrix;
};

inline OwnedWeights RandomWeights(DType dtype, size_t rows, size_t cols, std::mt19937& rng,
                                  size_t misalign = 0, size_t row_padding = 0) {
  OwnedWeights w;
  const size_t value_bytes = ByteSize(dtype, cols);
  const size_t row_bytes = value_bytes + row_padding;
  w.storage.assign(misalign + rows * row_bytes + 1, std::byte{0x7f});
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (size_t r = 0; r < rows; ++r) {
    std::byte* row = w.storage.data() + misalign + r * row_bytes;
    for (size_t c = 0; c < cols; ++c) {
      const float f = dist(rng);
      if (dtype == DType::kF32) {
        std::memcpy(row + 4 * c, &f, 4);
      } else {
        const uint16_t bits = dtype == DType::kBF16 ? F32ToBF16(f) : F32ToF16(f);
        std::memcpy(row + 2 * c, &bits, 2);
      }
    }
  }
  w.matrix = WeightMatrix{.dtype = dtype,
                          .data = w.storage.data() + misalign,
                          .rows = rows,
                          .cols = cols,
                          .row_bytes = row_bytes};
  return w;
}

// sums[t * rows + r] = sum_c |W[r, c] x[t * cols + c]|: the scale of the rounding error
// of each output of a matrix product.
inline std::vector<double> AbsDotSums(const WeightMatrix& w, const float* x, size_t tokens) {
  std::vector<double> sums(tokens * w.rows, 0.0);
  std::vector<float> row(w.cols);
  for (size_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w, r, row.data());
    for (size_t t = 0; t < tokens; ++t) {
      double sum = 0.0;
      for (size_t c = 0; c < w.cols; ++c) sum += std::fabs(double(row[c]) * x[t * w.cols + c]);
      sums[t * w.rows + r] = sum;
    }
  }
  return sums;
}

// A block-quantized matrix (quant::QuantizeRow) of random rows whose magnitudes differ
// from row to row, so scales differ from block to block and row to row.
inline OwnedWeights QuantizedWeights(DType dtype, size_t rows, size_t cols, std::mt19937& rng) {
  OwnedWeights w;
  const size_t row_bytes = ByteSize(dtype, cols);
  w.storage.resize(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    const float scale = 0.05f + 0.1f * static_cast<float>(r % 7);
    const std::vector<float> values = RandomFloats(cols, rng, -scale, scale);
    quant::QuantizeRow(dtype, values.data(), w.storage.data() + r * row_bytes, cols);
  }
  w.matrix = {
      .dtype = dtype, .data = w.storage.data(), .rows = rows, .cols = cols, .row_bytes = row_bytes};
  return w;
}

}  // namespace gemma::test
