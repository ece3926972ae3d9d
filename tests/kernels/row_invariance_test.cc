// The two products the batched engine uses, whose result for a row must not depend on the
// other rows: MatVecBatch (generated tokens: each row bit for bit what MatVec gives it alone)
// and MatMulRowInvariant (prompt rows: the same whether alone or among other rows, at any
// place among them),
// for every weight type and both activation arithmetics (exact float32, or activations
// rounded to int8 / bf16 as QuantDot::kInt8 does), with 1-3
// threads, on every instruction set compiled in. (The batched engine promises that a
// sequence's numbers do not depend on its batch; this is where that promise is kept.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu_features.h"
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

// Columns for the batched decode kernels' awkward cases: more than one 1024-column chunk,
// tails that are not whole vectors (plain types), an odd number of 32-value blocks (the
// pair kernels' last block), several super-blocks (K types).
size_t AwkwardCols(DType dtype) {
  const size_t block = Traits(dtype).block_elements;
  if (block == 256) return 5 * 256;
  if (block == 32) return 35 * 32;
  // 1151 = 17 x 64 + 63: the masked tails of the bf16 kernel, and N-vectors and single
  // columns after the 2N-loops of the float kernels for N = 1, 4, 8 and 16.
  return 1151;
}

// MatVecBatch over `rows` random activation rows equals MatVec on each row alone.
void CheckBatchRows(const WeightMatrix& w, size_t rows, ThreadPool& pool, std::mt19937& rng,
                    const std::string& label) {
  const std::vector<float> x = RandomFloats(rows * w.cols, rng);
  DecodeActivations prepared;
  prepared.Reset(x.data(), rows, w.cols);
  std::vector<float> together(rows * w.rows, NAN);
  MatVecBatch(w, prepared, together.data(), pool);
  for (size_t r = 0; r < rows; ++r) {
    std::vector<float> alone(w.rows, NAN);
    MatVec(w, &x[r * w.cols], alone.data(), pool);
    const std::vector<float> row(together.begin() + long(r * w.rows),
                                 together.begin() + long((r + 1) * w.rows));
    ASSERT_EQ(row, alone) << DTypeName(w.dtype)
                          << (w.quant_dot == QuantDot::kInt8 ? " rounded" : "") << " " << w.rows
                          << " x " << w.cols << ": row " << r << " of " << rows << ", "
                          << pool.size() << " threads, " << label;
  }
}

// Every type, both arithmetics, 1-3 threads, 1..17 and 64 rows; with the per-instruction-set
// kernels (AVX-512 BF16, VNNI) and without them (the portable and AVX2 kernels), on every
// Highway target.
TEST_P(RowInvarianceTest, MatVecBatchGivesEachRowWhatMatVecGivesItAlone) {
  std::mt19937 rng(61);
  constexpr DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  std::vector<size_t> row_counts;
  for (size_t rows = 1; rows <= 17; ++rows) row_counts.push_back(rows);
  row_counts.push_back(64);
  // With more threads, fewer row counts: the register tiles' tails are covered with one
  // thread, and how rows split between threads needs only a few. (The full product took
  // over 25 minutes on the SCALAR target under AddressSanitizer, past ctest's timeout.)
  const std::vector<size_t> threaded_row_counts = {1, 2, 3, 5, 8, 17, 64};
  // The per-instruction-set kernels do not depend on the Highway target: they run with
  // the AVX3 and AVX2 parameters; the SCALAR one runs the portable kernels alone.
  const bool scalar = GetParam() == HWY_SCALAR;
  for (const uint32_t features : {~uint32_t{0}, uint32_t{0}}) {
    if (scalar && features != 0) continue;
    ScopedCpuFeatureLimit limit(features);
    const std::string label = "cpu features " + CpuFeatureNames(EnabledCpuFeatures()) + ", " +
                              hwy::TargetName(GetParam());
    for (DType dtype : kTypes) {
      // 1029 weight rows x 512 columns: groups of 3 and 4 and a tail; then fewer rows of
      // awkward width (AwkwardCols).
      struct Shape {
        size_t out_rows, cols;
      };
      for (const Shape shape : {Shape{1029, 512}, Shape{259, AwkwardCols(dtype)}}) {
        OwnedWeights w = IsQuantized(dtype)
                             ? QuantizedWeights(dtype, shape.out_rows, shape.cols, rng)
                             : RandomWeights(dtype, shape.out_rows, shape.cols, rng);
        for (QuantDot dot : {QuantDot::kFloat32, QuantDot::kInt8}) {
          w.matrix.quant_dot = dot;
          for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            for (size_t rows : threads == 1 ? row_counts : threaded_row_counts) {
              CheckBatchRows(w.matrix, rows, pool, rng, label);
            }
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// Small and awkward shapes (one block, a few rows, columns that fill no vector), where the
// single-row kernels are checked against the scalar reference (quant_int8_test,
// quant_matmul_test, matmul_test, bf16_rounded_test): the batch gives every row the same.
TEST_P(RowInvarianceTest, MatVecBatchOnAwkwardShapes) {
  std::mt19937 rng(63);
  constexpr DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  ThreadPool pool(1);
  for (const uint32_t features : {~uint32_t{0}, uint32_t{0}}) {
    ScopedCpuFeatureLimit limit(features);
    const std::string label = "cpu features " + CpuFeatureNames(EnabledCpuFeatures()) + ", " +
                              hwy::TargetName(GetParam());
    for (DType dtype : kTypes) {
      const size_t block = Traits(dtype).block_elements;
      const std::vector<size_t> widths =
          block == 1
              ? std::vector<size_t>{1, 5, 31, 64, 65, 200}
              : std::vector<size_t>{block, 2 * block, 3 * block, 6 * block, 7 * block, 8 * block};
      for (size_t cols : widths) {
        for (size_t out_rows : {1, 2, 3, 4, 5, 7, 38}) {
          // Rows at an offset and padded by whole elements (float32 tensors are 4-byte
          // aligned in every file the loaders accept; 16-bit ones may sit at any even byte).
          const size_t elem = dtype == DType::kF32 ? 4 : 2;
          OwnedWeights w = IsQuantized(dtype)
                               ? QuantizedWeights(dtype, out_rows, cols, rng)
                               : RandomWeights(dtype, out_rows, cols, rng, elem, 3 * elem);
          for (QuantDot dot : {QuantDot::kFloat32, QuantDot::kInt8}) {
            w.matrix.quant_dot = dot;
            for (size_t rows : {2, 5}) CheckBatchRows(w.matrix, rows, pool, rng, label);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// A row with a NaN or an infinity keeps float32 activations (no int8 rounding) and
// propagates them, in a batch as alone; the rows beside it are not affected.
TEST_P(RowInvarianceTest, MatVecBatchRowsWithNaNOrInfinityMatchMatVec) {
  std::mt19937 rng(62);
  for (const uint32_t features : {~uint32_t{0}, uint32_t{0}}) {
    ScopedCpuFeatureLimit limit(features);
    for (DType dtype : {DType::kBF16, DType::kF32, DType::kQ8_0, DType::kQ4_0, DType::kQ6_K}) {
      const size_t out_rows = 67, cols = 512;
      OwnedWeights w = IsQuantized(dtype) ? QuantizedWeights(dtype, out_rows, cols, rng)
                                          : RandomWeights(dtype, out_rows, cols, rng);
      w.matrix.quant_dot = QuantDot::kInt8;
      const size_t rows = 6;
      std::vector<float> x = RandomFloats(rows * cols, rng);
      x[1 * cols + 100] = NAN;
      x[4 * cols + 7] = INFINITY;
      DecodeActivations prepared;
      prepared.Reset(x.data(), rows, cols);
      std::vector<float> together(rows * out_rows, 0.0f);
      ThreadPool pool(2);
      MatVecBatch(w.matrix, prepared, together.data(), pool);
      for (size_t r = 0; r < rows; ++r) {
        std::vector<float> alone(out_rows, 0.0f);
        MatVec(w.matrix, &x[r * cols], alone.data(), pool);
        EXPECT_EQ(std::memcmp(alone.data(), &together[r * out_rows], out_rows * sizeof(float)), 0)
            << DTypeName(dtype) << " row " << r << ", cpu features "
            << CpuFeatureNames(EnabledCpuFeatures());
        const bool bad = r == 1 || r == 4;
        EXPECT_EQ(std::isfinite(together[r * out_rows]), !bad) << DTypeName(dtype) << " row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace gemma::test
