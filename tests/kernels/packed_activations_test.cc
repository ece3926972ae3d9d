// Products with activations prepared once (kernels/packed_activations.h) must equal the
// plain products bit for bit: the shared tiles hold the same floats in the same order as
// each thread's own packing, and the int8 rows are decode's rounding. Awkward sizes: token
// counts around the 6-token tiles and 120-token blocks, columns that are not a multiple of
// 8 (the no-spill packing of the last columns) or span several 256-column blocks; every
// plain dtype and two quantized ones in both arithmetics; 1-3 threads; one preparation
// reused by several products and then reset to another size.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/packed_activations.h"
#include "kernels/thread_pool.h"

namespace gemma::test {
namespace {

class PackedActivationsTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(PackedActivationsTest);

struct Case {
  DType dtype;
  QuantDot dot;
  size_t cols;
};

// Plain weights start 4 bytes into their buffer with 8-byte row padding: misaligned for
// vectors, aligned for float32 (a float32 row at an odd address is undefined behaviour).
OwnedWeights Weights(const Case& c, size_t rows, std::mt19937& rng) {
  OwnedWeights w = IsQuantized(c.dtype) ? QuantizedWeights(c.dtype, rows, c.cols, rng)
                                        : RandomWeights(c.dtype, rows, c.cols, rng, 4, 8);
  w.matrix.quant_dot = c.dot;
  return w;
}

TEST_P(PackedActivationsTest, ProductsEqualPlainProductsBitForBit) {
  std::mt19937 rng(101);
  const Case cases[] = {
      {DType::kF32, QuantDot::kFloat32, 130},  {DType::kBF16, QuantDot::kFloat32, 520},
      {DType::kF16, QuantDot::kFloat32, 264},  {DType::kQ4_0, QuantDot::kInt8, 320},
      {DType::kQ4_0, QuantDot::kFloat32, 320}, {DType::kQ4_K, QuantDot::kInt8, 512},
      {DType::kBF16, QuantDot::kInt8, 520},    {DType::kBF16, QuantDot::kInt8, 131}};
  for (const Case& c : cases) {
    for (size_t tokens : {1, 2, 7, 121}) {
      for (int threads : {1, 3}) {
        SCOPED_TRACE(::testing::Message()
                     << DTypeName(c.dtype) << " int8 " << (c.dot == QuantDot::kInt8) << " cols "
                     << c.cols << " tokens " << tokens << " threads " << threads);
        ThreadPool pool(threads);
        const OwnedWeights a = Weights(c, 70, rng), b = Weights(c, 131, rng);
        const std::vector<float> x = RandomFloats(tokens * c.cols, rng);
        PackedActivations packed;
        packed.Reset(x.data(), tokens, c.cols);
        // Two products from one preparation, then one that adds.
        std::vector<float> ya(tokens * 70, NAN), yb(tokens * 131, NAN), yb_add(tokens * 131, 0.25f);
        MatMul(a.matrix, packed, ya.data(), pool);
        MatMul(b.matrix, packed, yb.data(), pool);
        MatMulAdd(b.matrix, packed, yb_add.data(), pool);
        std::vector<float> ra(tokens * 70), rb(tokens * 131), rb_add(tokens * 131, 0.25f);
        MatMul(a.matrix, x.data(), tokens, ra.data(), pool);
        MatMul(b.matrix, x.data(), tokens, rb.data(), pool);
        MatMulAdd(b.matrix, x.data(), tokens, rb_add.data(), pool);
        EXPECT_EQ(ya, ra);
        EXPECT_EQ(yb, rb);
        EXPECT_EQ(yb_add, rb_add);
      }
    }
  }
}

TEST_P(PackedActivationsTest, ResetPreparesTheNewActivations) {
  std::mt19937 rng(102);
  ThreadPool pool(2);
  const OwnedWeights w = RandomWeights(DType::kBF16, 64, 300, rng);
  PackedActivations packed;
  for (size_t tokens : {250, 9, 250}) {
    SCOPED_TRACE(tokens);
    const std::vector<float> x = RandomFloats(tokens * 300, rng);
    packed.Reset(x.data(), tokens, 300);
    std::vector<float> y(tokens * 64), ref(tokens * 64);
    MatMul(w.matrix, packed, y.data(), pool);
    MatMul(w.matrix, x.data(), tokens, ref.data(), pool);
    EXPECT_EQ(y, ref);
  }
  const std::vector<float> x(4 * 299, 1.0f);
  packed.Reset(x.data(), 4, 299);
  std::vector<float> y(4 * 64);
  EXPECT_THROW(MatMul(w.matrix, packed, y.data(), pool), Error);
}

}  // namespace
}  // namespace gemma::test
