// The SIMD quantized products (QuantMatVecRows / QuantMatMulRows) against the plain scalar
// reference (quant::ReferenceMatVecRows, which dequantizes with ggml's own operations) and a
// double-precision product, for every instruction set compiled in, on awkward sizes: row
// counts that are not multiples of the 4-row group or the 16/32-row micro-kernel strip,
// token counts around the 6-token tile, column counts that are not multiples of the
// 256-value packing block, and more than one 2048-row packing block.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/quant/quantize.h"
#include "kernels/thread_pool.h"

namespace gemma::test {
namespace {

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                            DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Bound on |computed - exact| for one output: float32 rounding of any summation order of
// the products, of the per-block scale multiplications, and of Q4_K's separately summed
// minimums (whose terms can exceed the dequantized weights, hence the max-|w| term).
double Bound(const WeightMatrix& w, size_t r, const float* x) {
  std::vector<float> row(w.cols);
  DequantizeRow(w, r, row.data());
  double wmax = 0, sum = 0;
  for (float v : row) wmax = std::max(wmax, std::fabs(double(v)));
  for (size_t c = 0; c < w.cols; ++c) sum += (std::fabs(double(row[c])) + wmax) * std::fabs(x[c]);
  return 4 * Gamma(w.cols + 16) * sum + 1e-30;
}

double Exact(const WeightMatrix& w, size_t r, const float* x) {
  std::vector<float> row(w.cols);
  DequantizeRow(w, r, row.data());
  double sum = 0;
  for (size_t c = 0; c < w.cols; ++c) sum += double(row[c]) * x[c];
  return sum;
}

class QuantMatmulSimdTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(QuantMatmulSimdTest);

TEST_P(QuantMatmulSimdTest, MatVecMatchesReferenceAndExact) {
  std::mt19937 rng(61);
  for (DType dtype : kTypes) {
    const size_t block = Traits(dtype).block_elements;
    for (size_t rows : {1, 3, 5, 38}) {
      for (size_t blocks : {1, 3, 9}) {
        const size_t cols = blocks * block;
        SCOPED_TRACE(::testing::Message()
                     << DTypeName(dtype) << " rows " << rows << " cols " << cols);
        const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
        const std::vector<float> x = RandomFloats(cols, rng);
        std::vector<float> fast(rows, NAN), ref(rows, NAN);
        QuantMatVecRows(w.matrix, x.data(), fast.data(), 0, rows);
        quant::ReferenceMatVecRows(w.matrix, x.data(), ref.data(), 0, rows);
        for (size_t r = 0; r < rows; ++r) {
          const double exact = Exact(w.matrix, r, x.data());
          const double bound = Bound(w.matrix, r, x.data());
          EXPECT_NEAR(fast[r], exact, bound) << "row " << r;
          EXPECT_NEAR(fast[r], ref[r], 2 * bound) << "row " << r;
        }
      }
    }
  }
}

// A row's result must not depend on where the thread's row range starts or ends (the 4-row
// groups and the tail compute it the same way): threads then agree with one call bit for bit.
TEST_P(QuantMatmulSimdTest, MatVecRowRangesGiveIdenticalRows) {
  std::mt19937 rng(62);
  for (DType dtype : kTypes) {
    SCOPED_TRACE(DTypeName(dtype));
    const size_t rows = 23, cols = 2 * Traits(dtype).block_elements;
    const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
    const std::vector<float> x = RandomFloats(cols, rng);
    std::vector<float> whole(rows, NAN), pieces(rows, NAN);
    QuantMatVecRows(w.matrix, x.data(), whole.data(), 0, rows);
    const size_t cuts[] = {0, 1, 3, 8, 9, 14, 23};
    for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
      QuantMatVecRows(w.matrix, x.data(), pieces.data(), cuts[i], cuts[i + 1]);
    }
    EXPECT_EQ(pieces, whole);
    // Nothing outside the range is written.
    std::vector<float> partial(rows, -7.0f);
    QuantMatVecRows(w.matrix, x.data(), partial.data(), 5, 11);
    for (size_t r = 0; r < rows; ++r) {
      if (r < 5 || r >= 11) {
        EXPECT_EQ(partial[r], -7.0f) << "row " << r;
      }
    }
  }
}

TEST_P(QuantMatmulSimdTest, MatMulMatchesReferenceAndExact) {
  std::mt19937 rng(63);
  for (DType dtype : kTypes) {
    const size_t block = Traits(dtype).block_elements;
    // 288 = 9 blocks of 32: a last packing block of 32 columns.
    const size_t cols = block == 32 ? 288 : 512;
    for (size_t tokens : {2, 6, 7, 13}) {
      const size_t rows = 37;
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " tokens " << tokens);
      const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
      const std::vector<float> x = RandomFloats(tokens * cols, rng);
      std::vector<float> fast(tokens * rows, -7.0f), ref(tokens * rows, -7.0f);
      const size_t begin = 3, end = 34;  // not multiples of the strip width
      QuantMatMulRows(w.matrix, x.data(), tokens, fast.data(), begin, end);
      quant::ReferenceMatMulRows(w.matrix, x.data(), tokens, ref.data(), begin, end);
      for (size_t t = 0; t < tokens; ++t) {
        for (size_t r = 0; r < rows; ++r) {
          const size_t i = t * rows + r;
          if (r < begin || r >= end) {
            EXPECT_EQ(fast[i], -7.0f) << "row " << r << " outside the range was written";
            continue;
          }
          const double exact = Exact(w.matrix, r, x.data() + t * cols);
          const double bound = Bound(w.matrix, r, x.data() + t * cols);
          EXPECT_NEAR(fast[i], exact, bound) << "row " << r << " token " << t;
          EXPECT_NEAR(fast[i], ref[i], 2 * bound) << "row " << r << " token " << t;
        }
      }
    }
  }
}

// More rows than one 2048-row packing block, split across 1..3 threads as MatMul does.
TEST_P(QuantMatmulSimdTest, MatMulAcrossPackingBlocksAndThreads) {
  std::mt19937 rng(64);
  const size_t rows = 2100, cols = 64, tokens = 8;
  const OwnedWeights w = QuantizedWeights(DType::kQ8_0, rows, cols, rng);
  const std::vector<float> x = RandomFloats(tokens * cols, rng);
  std::vector<float> whole(tokens * rows, NAN);
  QuantMatMulRows(w.matrix, x.data(), tokens, whole.data(), 0, rows);
  for (size_t r = 0; r < rows; r += 97) {
    for (size_t t = 0; t < tokens; ++t) {
      EXPECT_NEAR(whole[t * rows + r], Exact(w.matrix, r, x.data() + t * cols),
                  Bound(w.matrix, r, x.data() + t * cols))
          << "row " << r << " token " << t;
    }
  }
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> split(tokens * rows, NAN);
    pool.ParallelForRef(rows, 64, [&](size_t begin, size_t end, int) {
      QuantMatMulRows(w.matrix, x.data(), tokens, split.data(), begin, end);
    });
    EXPECT_EQ(split, whole) << "threads " << threads;
  }
}

}  // namespace
}  // namespace gemma::test
