// MatVec and MatMul hand block-quantized weights to the GGUF engineer's QuantMatVecRows /
// QuantMatMulRows, each thread on its own rows. Rows are independent, so the threaded
// result must equal one single-threaded call over all rows, bit for bit. (The quantized
// arithmetic itself is tested in tests/kernels/quant*.)
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/quant/quant_matmul.h"

namespace gemma::test {
namespace {

TEST(MatMulQuantDispatchTest, ThreadedEqualsOneCallOverAllRows) {
  std::mt19937 rng(30);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const size_t rows = 333, cols = 512, tokens = 5;
    const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
    const std::vector<float> x = RandomFloats(tokens * cols, rng);
    std::vector<float> want_vec(rows), want_mat(tokens * rows);
    QuantMatVecRows(w.matrix, x.data(), want_vec.data(), 0, rows);
    QuantMatMulRows(w.matrix, x.data(), tokens, want_mat.data(), 0, rows);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> got_vec(rows, NAN), got_mat(tokens * rows, NAN);
      MatVec(w.matrix, x.data(), got_vec.data(), pool);
      MatMul(w.matrix, x.data(), tokens, got_mat.data(), pool);
      EXPECT_EQ(got_vec, want_vec) << DTypeName(dtype) << " threads=" << threads;
      EXPECT_EQ(got_mat, want_mat) << DTypeName(dtype) << " threads=" << threads;
    }
  }
}

}  // namespace
}  // namespace gemma::test
