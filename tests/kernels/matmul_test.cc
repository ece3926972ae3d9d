// MatVec, MatVecPair and MatMul against gemma::ref on random data of awkward sizes, every
// plain dtype, misaligned and padded rows, 1-3 threads, every compiled instruction set.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/ref/reference.h"

namespace gemma::test {
namespace {

class MatMulTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatMulTest);

constexpr DType kPlainTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

// Checks got[i] against want[i] within gamma_cols * abs_sums[i] plus half an ulp of the
// reference's own final rounding.
void ExpectWithinRounding(const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<double>& abs_sums, size_t cols,
                          const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = Gamma(cols) * abs_sums[i] + kEps * std::fabs(want[i]);
    ASSERT_LE(std::fabs(double(got[i]) - want[i]), bound)
        << what << " output " << i << ": got " << got[i] << " want " << want[i];
  }
}

void CheckMatVec(DType dtype, size_t rows, size_t cols, int threads, size_t misalign,
                 std::mt19937& rng) {
  const size_t elem = dtype == DType::kF32 ? 4 : 2;
  OwnedWeights w = RandomWeights(dtype, rows, cols, rng, misalign * elem, (rows % 3) * elem);
  // x and y start one float past an aligned address when misaligned.
  std::vector<float> x_storage = RandomFloats(cols + 1, rng);
  const float* x = x_storage.data() + (misalign ? 1 : 0);
  std::vector<float> want(rows);
  ref::MatVec(w.matrix, x, want.data());
  std::vector<float> y_storage(rows + 1, NAN);
  ThreadPool pool(threads);
  MatVec(w.matrix, x, y_storage.data() + (misalign ? 1 : 0), pool);
  std::vector<float> got(y_storage.begin() + (misalign ? 1 : 0),
                         y_storage.begin() + (misalign ? 1 : 0) + long(rows));
  ExpectWithinRounding(got, want, AbsDotSums(w.matrix, x, 1), cols,
                       StrCat("MatVec ", DTypeName(dtype), " ", rows, "x", cols,
                              " threads=", threads, " misalign=", misalign));
}

TEST_P(MatMulTest, MatVecSweepsColumns) {
  std::mt19937 rng(1);
  for (DType dtype : kPlainTypes) {
    for (size_t cols = 0; cols <= 80; ++cols) {
      for (size_t rows : {1, 3, 4, 5, 9}) CheckMatVec(dtype, rows, cols, 1, cols % 2, rng);
    }
  }
}

TEST_P(MatMulTest, MatVecLargeAndThreaded) {
  std::mt19937 rng(2);
  for (DType dtype : kPlainTypes) {
    for (int threads : {1, 2, 3}) {
      // Big enough to be split across threads; rows not a multiple of the 16-row chunks.
      CheckMatVec(dtype, 301, 257, threads, 1, rng);
      CheckMatVec(dtype, 64, 2048 + 3, threads, 0, rng);
      CheckMatVec(dtype, 17, 4096, threads, 1, rng);
      CheckMatVec(dtype, 0, 100, threads, 0, rng);
    }
  }
}

TEST_P(MatMulTest, MatVecPairMatchesTwoMatVecs) {
  std::mt19937 rng(3);
  for (int threads : {1, 2, 3}) {
    OwnedWeights w0 = RandomWeights(DType::kBF16, 333, 130, rng);
    OwnedWeights w1 = RandomWeights(DType::kF16, 77, 130, rng, 2);
    const std::vector<float> x = RandomFloats(130, rng);
    std::vector<float> want0(333), want1(77), got0(333, NAN), got1(77, NAN);
    ref::MatVec(w0.matrix, x.data(), want0.data());
    ref::MatVec(w1.matrix, x.data(), want1.data());
    ThreadPool pool(threads);
    MatVecPair(w0.matrix, w1.matrix, x.data(), got0.data(), got1.data(), pool);
    ExpectWithinRounding(got0, want0, AbsDotSums(w0.matrix, x.data(), 1), 130, "pair first");
    ExpectWithinRounding(got1, want1, AbsDotSums(w1.matrix, x.data(), 1), 130, "pair second");
  }
}

void CheckMatMul(DType dtype, size_t rows, size_t cols, size_t tokens, int threads, size_t misalign,
                 std::mt19937& rng) {
  const size_t elem = dtype == DType::kF32 ? 4 : 2;
  OwnedWeights w = RandomWeights(dtype, rows, cols, rng, misalign * elem, (cols % 2) * elem);
  std::vector<float> x_storage = RandomFloats(tokens * cols + 1, rng);
  const float* x = x_storage.data() + misalign;
  std::vector<float> want(tokens * rows);
  ref::MatMul(w.matrix, x, tokens, want.data());
  std::vector<float> y_storage(tokens * rows + 1, NAN);
  ThreadPool pool(threads);
  MatMul(w.matrix, x, tokens, y_storage.data() + misalign, pool);
  std::vector<float> got(y_storage.begin() + long(misalign),
                         y_storage.begin() + long(misalign + tokens * rows));
  ExpectWithinRounding(got, want, AbsDotSums(w.matrix, x, tokens), cols,
                       StrCat("MatMul ", DTypeName(dtype), " ", rows, "x", cols, " tokens=", tokens,
                              " threads=", threads));
}

TEST_P(MatMulTest, MatMulSmallShapes) {
  std::mt19937 rng(4);
  for (DType dtype : kPlainTypes) {
    for (size_t tokens : {1, 2, 5, 6, 7, 13}) {
      for (size_t rows : {1, 2, 15, 16, 17, 33}) {
        for (size_t cols : {0, 1, 3, 8, 17, 40}) {
          CheckMatMul(dtype, rows, cols, tokens, 1, (rows + cols) % 2, rng);
        }
      }
    }
  }
}

TEST_P(MatMulTest, MatMulCrossesEveryBlockBoundary) {
  std::mt19937 rng(5);
  // cols > 2 column blocks (256), tokens > one token block (120), rows not a multiple of
  // any strip width; 1-3 threads. (More than one 2048-row block: the next test.)
  for (DType dtype : kPlainTypes) {
    for (int threads : {1, 2, 3}) {
      CheckMatMul(dtype, 300, 600, 127, threads, 1, rng);
    }
    CheckMatMul(dtype, 64, 256, 12, 2, 0, rng);
    CheckMatMul(dtype, 531, 257, 3, 3, 0, rng);
  }
}

// The per-thread block of y that a row block accumulates in, copied out once per row block:
// more than one row block (2048 rows) per thread, token blocks of 120 with a partial
// register tile, a last column block of 8 (the vector packing's tail), and a second call on
// the same threads with fewer tokens (the scratch is reused, not re-zeroed).
TEST_P(MatMulTest, MatMulSeveralRowBlocksPerThread) {
  std::mt19937 rng(6);
  CheckMatMul(DType::kBF16, 4200, 520, 250, 2, 1, rng);
  CheckMatMul(DType::kBF16, 4200, 520, 7, 2, 0, rng);
}

TEST(MatMulArgsTest, RejectsInconsistentMatrices) {
  ThreadPool pool(1);
  std::vector<float> x(8, 1.0f), y(8);
  std::vector<std::byte> bytes(64);
  WeightMatrix w{.dtype = DType::kBF16,
                 .data = bytes.data(),
                 .rows = 2,
                 .cols = 8,
                 .row_bytes = 15};  // 8 bf16 need 16 bytes
  EXPECT_THROW(MatVec(w, x.data(), y.data(), pool), Error);
  w.row_bytes = 16;
  w.data = nullptr;
  EXPECT_THROW(MatMul(w, x.data(), 1, y.data(), pool), Error);
  w.data = bytes.data();
  w.dtype = DType::kQ8_0;  // 8 columns are not a whole 32-value block
  EXPECT_THROW(MatVec(w, x.data(), y.data(), pool), Error);
  WeightMatrix other{
      .dtype = DType::kF32, .data = bytes.data(), .rows = 1, .cols = 4, .row_bytes = 16};
  w.dtype = DType::kBF16;
  EXPECT_THROW(MatVecPair(w, other, x.data(), y.data(), y.data(), pool), Error);
}

}  // namespace
}  // namespace gemma::test
