// The two products the batched engine uses, whose result for a row must not depend on the
// other rows: MatVecBatch (generated tokens: each row bit for bit what MatVec gives it alone)
// and MatMulRowInvariant (prompt rows: the same whether alone or among other rows, at any
// place among them),
// for every weight type and both activation arithmetics (exact float32, or activations
// rounded to int8 / bf16 as QuantDot::kInt8 does), with 1-3
// threads, on every instruction set compiled in. (The batched engine promises that a
// sequence's numbers do not depend on its batch; this is where that promise is kept.)
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/decode_activations.h"
#include "kernels/matmul.h"
#include "kernels/packed_activations.h"

namespace gemma::test {
namespace {

class RowInvarianceTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(RowInvarianceTest);

std::vector<float> Product(const WeightMatrix& w, const float* x, size_t rows, ThreadPool& pool) {
  PackedActivations packed;
  packed.Reset(x, rows, w.cols);
  std::vector<float> y(rows * w.rows, NAN);
  MatMulRowInvariant(w, packed, y.data(), pool);
  return y;
}

TEST_P(RowInvarianceTest, EachRowIsTheSameAloneAndAmongOthers) {
  std::mt19937 rng(60);
  constexpr DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  for (DType dtype : kTypes) {
    // 2100 weight rows: more than one 2048-row block; 512 columns: two column blocks.
    const size_t cols = 512;
    OwnedWeights w = IsQuantized(dtype) ? QuantizedWeights(dtype, 2100, cols, rng)
                                        : RandomWeights(dtype, 2100, cols, rng);
    for (QuantDot dot : {QuantDot::kFloat32, QuantDot::kInt8}) {
      w.matrix.quant_dot = dot;
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        for (size_t rows : {size_t{2}, size_t{7}, size_t{13}, size_t{130}}) {
          const std::vector<float> x = RandomFloats(rows * cols, rng);
          const std::vector<float> together = Product(w.matrix, x.data(), rows, pool);
          for (size_t r : {size_t{0}, rows / 2, rows - 1}) {
            const std::vector<float> alone = Product(w.matrix, &x[r * cols], 1, pool);
            const std::vector<float> row(together.begin() + long(r * w.matrix.rows),
                                         together.begin() + long((r + 1) * w.matrix.rows));
            ASSERT_EQ(row, alone) << DTypeName(dtype) << (dot == QuantDot::kInt8 ? " rounded" : "")
                                  << ": row " << r << " of " << rows << ", " << threads
                                  << " threads";
          }
        }
      }
    }
  }
}

TEST_P(RowInvarianceTest, MatVecBatchGivesEachRowWhatMatVecGivesItAlone) {
  std::mt19937 rng(61);
  constexpr DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  for (DType dtype : kTypes) {
    // 1029 weight rows: groups of 4 and a tail; a multiple of 256 columns for the K types.
    const size_t cols = 512, out_rows = 1029;
    OwnedWeights w = IsQuantized(dtype) ? QuantizedWeights(dtype, out_rows, cols, rng)
                                        : RandomWeights(dtype, out_rows, cols, rng);
    for (QuantDot dot : {QuantDot::kFloat32, QuantDot::kInt8}) {
      w.matrix.quant_dot = dot;
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        for (size_t rows : {size_t{1}, size_t{2}, size_t{5}, size_t{16}}) {
          const std::vector<float> x = RandomFloats(rows * cols, rng);
          DecodeActivations prepared;
          prepared.Reset(x.data(), rows, cols);
          std::vector<float> together(rows * out_rows, NAN);
          MatVecBatch(w.matrix, prepared, together.data(), pool);
          for (size_t r = 0; r < rows; ++r) {
            std::vector<float> alone(out_rows, NAN);
            MatVec(w.matrix, &x[r * cols], alone.data(), pool);
            const std::vector<float> row(together.begin() + long(r * out_rows),
                                         together.begin() + long((r + 1) * out_rows));
            ASSERT_EQ(row, alone) << DTypeName(dtype) << (dot == QuantDot::kInt8 ? " rounded" : "")
                                  << ": row " << r << " of " << rows << ", " << threads
                                  << " threads";
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace gemma::test
