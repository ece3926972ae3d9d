// RowRange / ColumnRange views of weight matrices, and MatMulAdd: the pieces the forward
// pass uses to run a prefill's feed-forward block in slices of the intermediate features.
// Views must address exactly the values of the sub-matrix (compared with the whole matrix
// bit for bit); products over column slices summed with MatMulAdd must equal the product
// of the whole matrix within float32 rounding, for plain and block-quantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/ref/reference.h"

namespace gemma::test {
namespace {

constexpr DType kEveryType[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                                DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                                DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

OwnedWeights AnyWeights(DType dtype, size_t rows, size_t cols, std::mt19937& rng) {
  // Plain rows padded by 3 values: a row stride that is not the row's size, with every value
  // still aligned to its type (the loaders guarantee that much).
  return IsQuantized(dtype) ? QuantizedWeights(dtype, rows, cols, rng)
                            : RandomWeights(dtype, rows, cols, rng, 0, 3 * ByteSize(dtype, 1));
}

std::vector<float> Row(const WeightMatrix& w, size_t r) {
  std::vector<float> row(w.cols);
  DequantizeRow(w, r, row.data());
  return row;
}

TEST(WeightViewsTest, RowAndColumnRangesAddressTheSubMatrix) {
  std::mt19937 rng(40);
  for (DType dtype : kEveryType) {
    const size_t block = Traits(dtype).block_elements;
    const size_t cols = IsQuantized(dtype) ? 4 * 256 : 37;
    const OwnedWeights w = AnyWeights(dtype, 11, cols, rng);
    const size_t col_begin = IsQuantized(dtype) ? 256 : 5;
    const size_t col_count = IsQuantized(dtype) ? 2 * 256 : 19;
    const WeightMatrix rows = RowRange(w.matrix, 3, 6);
    const WeightMatrix columns = ColumnRange(w.matrix, col_begin, col_count);
    const WeightMatrix both = ColumnRange(rows, col_begin, col_count);
    ASSERT_EQ(rows.rows, 6u);
    ASSERT_EQ(columns.cols, col_count);
    ASSERT_EQ(col_count % block, 0u);
    for (size_t r = 0; r < w.matrix.rows; ++r) {
      const std::vector<float> whole = Row(w.matrix, r);
      const std::vector<float> slice(whole.begin() + long(col_begin),
                                     whole.begin() + long(col_begin + col_count));
      EXPECT_EQ(Row(columns, r), slice) << DTypeName(dtype) << " row " << r;
      if (r >= 3 && r < 9) {
        EXPECT_EQ(Row(rows, r - 3), whole) << DTypeName(dtype) << " row " << r;
        EXPECT_EQ(Row(both, r - 3), slice) << DTypeName(dtype) << " row " << r;
      }
    }
  }
}

TEST(WeightViewsTest, RefusesRangesOutsideTheMatrixOrSplittingBlocks) {
  std::mt19937 rng(41);
  const OwnedWeights q = QuantizedWeights(DType::kQ4_K, 4, 512, rng);
  EXPECT_THROW(ColumnRange(q.matrix, 128, 256), Error);  // starts inside a 256-value block
  EXPECT_THROW(ColumnRange(q.matrix, 0, 300), Error);    // ends inside one
  EXPECT_THROW(ColumnRange(q.matrix, 256, 512), Error);  // past the last column
  EXPECT_THROW(RowRange(q.matrix, 3, 2), Error);
  EXPECT_THROW(RowRange(q.matrix, 5, 0), Error);
  EXPECT_NO_THROW(ColumnRange(q.matrix, 512, 0));
  EXPECT_NO_THROW(RowRange(q.matrix, 4, 0));
  const OwnedWeights b = RandomWeights(DType::kBF16, 4, 9, rng);
  EXPECT_NO_THROW(ColumnRange(b.matrix, 3, 5));  // plain types split anywhere
  EXPECT_THROW(ColumnRange(b.matrix, 5, 5), Error);
}

// y0 + W x for every token, W's sums in double (ref::MatMul), then the bound of
// ExpectWithinRounding plus one rounding of the final addition.
void CheckMatMulAdd(DType dtype, size_t rows, size_t cols, size_t tokens, int threads,
                    std::mt19937& rng) {
  const OwnedWeights w = AnyWeights(dtype, rows, cols, rng);
  const std::vector<float> x = RandomFloats(tokens * cols, rng);
  const std::vector<float> y0 = RandomFloats(tokens * rows, rng, -4.0f, 4.0f);
  std::vector<float> product(tokens * rows);
  ref::MatMul(w.matrix, x.data(), tokens, product.data());
  const std::vector<double> sums = AbsDotSums(w.matrix, x.data(), tokens);
  std::vector<float> y = y0;
  ThreadPool pool(threads);
  MatMulAdd(w.matrix, x.data(), tokens, y.data(), pool);
  for (size_t i = 0; i < y.size(); ++i) {
    const double want = double(y0[i]) + product[i];
    const double bound = Gamma(cols) * sums[i] + 2 * kEps * (std::fabs(want) + std::fabs(y0[i]));
    ASSERT_LE(std::fabs(y[i] - want), bound)
        << "MatMulAdd " << DTypeName(dtype) << " " << rows << "x" << cols << " tokens=" << tokens
        << " threads=" << threads << " output " << i;
  }
}

TEST(MatMulAddTest, AddsTheProductToY) {
  std::mt19937 rng(42);
  for (int threads : {1, 2, 3}) {
    for (size_t tokens : {1, 6, 7, 130}) {
      CheckMatMulAdd(DType::kF32, 70, 300, tokens, threads, rng);
      CheckMatMulAdd(DType::kBF16, 131, 257, tokens, threads, rng);
      CheckMatMulAdd(DType::kQ4_0, 65, 288, tokens, threads, rng);
      CheckMatMulAdd(DType::kQ6_K, 33, 512, tokens, threads, rng);
    }
  }
  // Nothing to add: y stays as it was.
  ThreadPool pool(2);
  std::vector<float> y = {1.0f, 2.0f}, x;
  const WeightMatrix empty{.dtype = DType::kBF16, .rows = 2, .cols = 0};
  MatMulAdd(empty, x.data(), 1, y.data(), pool);
  EXPECT_EQ(y, (std::vector<float>{1.0f, 2.0f}));
}

// The forward pass's use: MatMul over the first column slice, MatMulAdd over the others,
// equals the product of the whole matrix within the rounding bound of the whole sum.
TEST(MatMulAddTest, ColumnSlicesSumToTheWholeProduct) {
  std::mt19937 rng(43);
  ThreadPool pool(2);
  for (DType dtype : {DType::kBF16, DType::kQ8_0, DType::kQ4_K}) {
    const size_t rows = 200, cols = 1280, tokens = 9, slice = 512;  // slices 512, 512, 256
    const OwnedWeights w = AnyWeights(dtype, rows, cols, rng);
    std::vector<float> x = RandomFloats(tokens * cols, rng);
    std::vector<float> want(tokens * rows), got(tokens * rows, NAN);
    ref::MatMul(w.matrix, x.data(), tokens, want.data());
    std::vector<float> x_slice;
    for (size_t begin = 0; begin < cols; begin += slice) {
      const size_t width = std::min(slice, cols - begin);
      x_slice.resize(tokens * width);
      for (size_t t = 0; t < tokens; ++t) {
        std::copy_n(&x[t * cols + begin], width, &x_slice[t * width]);
      }
      const WeightMatrix part = ColumnRange(w.matrix, begin, width);
      if (begin == 0) {
        MatMul(part, x_slice.data(), tokens, got.data(), pool);
      } else {
        MatMulAdd(part, x_slice.data(), tokens, got.data(), pool);
      }
    }
    const std::vector<double> sums = AbsDotSums(w.matrix, x.data(), tokens);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_LE(std::fabs(double(got[i]) - want[i]),
                Gamma(cols) * sums[i] + kEps * std::fabs(want[i]))
          << DTypeName(dtype) << " output " << i;
    }
  }
}

}  // namespace
}  // namespace gemma::test
