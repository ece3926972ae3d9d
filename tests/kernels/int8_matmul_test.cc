// The integer prefill product (kernels/quant/int8_matmul.h): rows rounded exactly as decode
// rounds them, and the blocked kernel against the double-precision reference of the same
// arithmetic (ReferenceMatVecRowsInt8, token by token) on awkward sizes: token counts around
// the 6-token tiles and the 120-token blocks, rows around the 16-row strips and the 2048-row
// blocks, one and several 256-value column blocks, 1-3 threads, and MatMul / MatMulAdd
// through the dispatch that the model uses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/quant/int8_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/thread_pool.h"

namespace gemma::test {
namespace {

class Int8MatMulTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(Int8MatMulTest);

std::vector<float> UnevenRows(size_t tokens, size_t cols, std::mt19937& rng) {
  std::vector<float> x = RandomFloats(tokens * cols, rng);
  for (size_t b = 0; b < tokens * cols / 32; ++b) {
    const float scale = b % 7 == 0 ? 0.0f : b % 7 == 1 ? 1e-3f : b % 7 == 2 ? 40.0f : 1.0f;
    for (size_t i = 0; i < 32; ++i) x[32 * b + i] *= scale;
  }
  return x;
}

// The reference of the whole product: each token's row rounded by decode's own rounding,
// then ReferenceMatVecRowsInt8. Also returns the bound of float32 rounding per output.
[[maybe_unused]] void Reference(const WeightMatrix& w, const std::vector<float>& x, size_t tokens,
                                std::vector<float>& y, std::vector<double>& bound) {
  y.assign(tokens * w.rows, NAN);
  bound.assign(tokens * w.rows, 0.0);
  std::vector<float> row(w.cols);
  quant::Int8Activations a;
  for (size_t t = 0; t < tokens; ++t) {
    ASSERT_TRUE(quant::QuantizeActivations(x.data() + t * w.cols, w.cols, a));
    quant::ReferenceMatVecRowsInt8(w, a, y.data() + t * w.rows, 0, w.rows);
    for (size_t r = 0; r < w.rows; ++r) {
      DequantizeRow(w, r, row.data());
      double wmax = 0, abs_terms = 0;
      for (float v : row) wmax = std::max(wmax, std::fabs(double(v)));
      for (size_t c = 0; c < w.cols; ++c) {
        // The -8 offsets go through the integer sums: terms up to wmax beside each weight.
        abs_terms += (std::fabs(double(row[c])) + wmax) * std::fabs(double(a.d[c / 32]) * a.q[c]);
      }
      bound[t * w.rows + r] = 4 * Gamma(w.cols + 16) * abs_terms + 1e-30;
    }
  }
}

TEST_P(Int8MatMulTest, RoundedRowsEqualDecodeRounding) {
  std::mt19937 rng(91);
  const size_t tokens = 7, cols = 96;
  const std::vector<float> x = UnevenRows(tokens, cols, rng);
  quant::Int8Rows rows;
  quant::PrepareInt8Rows(tokens, cols, rows);
  ASSERT_TRUE(quant::QuantizeActivationRows(x.data(), 0, 3, rows));
  ASSERT_TRUE(quant::QuantizeActivationRows(x.data(), 3, tokens, rows));
  quant::Int8Activations a;
  for (size_t t = 0; t < tokens; ++t) {
    ASSERT_TRUE(quant::QuantizeActivationsReference(x.data() + t * cols, cols, a));
    for (size_t c = 0; c < cols; ++c) ASSERT_EQ(rows.q[t * cols + c], a.q[c]) << t << " " << c;
    for (size_t b = 0; b < cols / 32; ++b) {
      ASSERT_EQ(rows.d[t * 3 + b], a.d[b]);
      int sum = 0;
      for (size_t i = 0; i < 32; ++i) sum += a.q[32 * b + i];
      ASSERT_EQ(rows.sum[t * 3 + b], sum);
    }
  }
  std::vector<float> bad = x;
  bad[5 * cols + 40] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(quant::QuantizeActivationRows(bad.data(), 0, tokens, rows));
  EXPECT_THROW(quant::PrepareInt8Rows(2, 33, rows), Error);
}

// Int8MatMulRows for `dtype` against the reference on awkward sizes: tokens one tile, a
// partial tile, a partial 120-token block; rows a partial strip, several strips, past one
// 2048-row block; cols one block, a partial 256-column block (32-value types), or one and
// several super-blocks (K types).
[[maybe_unused]] void CheckKernel(DType dtype, const std::string& label) {
  std::mt19937 rng(92);
  std::printf("[  VARIANT ] int8 prefill %s: %s\n", std::string(DTypeName(dtype)).c_str(),
              label.c_str());
  struct Shape {
    size_t rows, cols, tokens;
  };
  const bool k_type = Traits(dtype).block_elements == 256;
  const std::vector<Shape> shapes =
      k_type ? std::vector<Shape>{{1, 256, 1},
                                  {5, 256, 7},
                                  {33, 512, 13},
                                  {64, 768, 121},
                                  {2048 + 40, 256, 8}}
             : std::vector<Shape>{{1, 32, 1},    {5, 64, 7},     {16, 256, 6},
                                  {37, 288, 13}, {64, 544, 121}, {2048 + 48, 64, 9}};
  for (const Shape s : shapes) {
    SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " " << s.rows << "x" << s.cols
                                      << " tokens " << s.tokens << " " << label);
    const OwnedWeights w = QuantizedWeights(dtype, s.rows, s.cols, rng);
    const std::vector<float> x = UnevenRows(s.tokens, s.cols, rng);
    std::vector<float> ref;
    std::vector<double> bound;
    Reference(w.matrix, x, s.tokens, ref, bound);
    quant::Int8Rows xq;
    quant::PrepareInt8Rows(s.tokens, s.cols, xq);
    ASSERT_TRUE(quant::QuantizeActivationRows(x.data(), 0, s.tokens, xq));
    // The whole matrix at once, then in uneven row ranges (as threads split it), added to y.
    std::vector<float> y(s.tokens * s.rows, NAN);
    Int8MatMulRows(w.matrix, xq, y.data(), 0, s.rows, /*add_to_y=*/false);
    std::vector<float> added(s.tokens * s.rows, 0.5f);
    const size_t cut = s.rows / 3;
    Int8MatMulRows(w.matrix, xq, added.data(), cut, s.rows, /*add_to_y=*/true);
    Int8MatMulRows(w.matrix, xq, added.data(), 0, cut, /*add_to_y=*/true);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], ref[i], bound[i]) << "token " << i / s.rows << " row " << i % s.rows;
      ASSERT_NEAR(added[i], ref[i] + 0.5, bound[i] + 1e-6 * (std::fabs(ref[i]) + 1))
          << "token " << i / s.rows << " row " << i % s.rows;
    }
  }
}

// The integer prefill kernels exist in x86 builds only (an Arm build has none to skip).
#if defined(__x86_64__)
constexpr DType kVnniTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// The portable kernel (Q4_0, AVX2 and AVX-512 Highway targets), per-ISA kernels off: its
// micro-kernel in inline assembly and the intrinsics twin (kernels/x86/int8_tile_avx2-inl.h).
TEST_P(Int8MatMulTest, KernelMatchesReference) {
  ScopedCpuFeatureLimit portable(kCpuInlineAsm);
  if (!HasInt8MatMul(DType::kQ4_0)) {
    // Only the x86 AVX2 / AVX-512 targets have the integer prefill kernel.
    EXPECT_NE(hwy::TargetName(GetParam()), std::string("AVX2"));
    GTEST_SKIP() << "no integer prefill kernel on " << hwy::TargetName(GetParam());
  }
  for (DType dtype : kVnniTypes) EXPECT_EQ(HasInt8MatMul(dtype), dtype == DType::kQ4_0);
  CheckKernel(DType::kQ4_0, std::string(hwy::TargetName(GetParam())) + " inline_asm");
  ScopedCpuFeatureLimit twin(0);
  CheckKernel(DType::kQ4_0, std::string(hwy::TargetName(GetParam())) + " intrinsics");
}

// The assembly and its twin run the same instructions in the same order: equal bit for bit,
// on every Highway target that has the kernel (AVX2 and AVX-512 here).
TEST(Int8MatMulInlineAsmTest, EqualsItsIntrinsicsTwinBitForBit) {
  if (!Cpu().avx2_fma) {
    GTEST_SKIP() << "not tested: this CPU (" << Cpu().model << ") has no AVX2";
  }
  ScopedCpuFeatureLimit portable(kCpuInlineAsm);
  std::mt19937 rng(94);
  struct Shape {
    size_t rows, cols, tokens;
  };
  int tested = 0;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    if (!HasInt8MatMul(DType::kQ4_0)) continue;
    ++tested;
    std::printf("[  VARIANT ] int8 prefill Q4_0 inline_asm = intrinsics: %s\n",
                hwy::TargetName(target));
    for (const Shape s : {Shape{37, 288, 13}, Shape{64, 544, 121}, Shape{2048 + 48, 64, 9}}) {
      SCOPED_TRACE(::testing::Message() << hwy::TargetName(target) << " " << s.rows << "x" << s.cols
                                        << " tokens " << s.tokens);
      const OwnedWeights w = QuantizedWeights(DType::kQ4_0, s.rows, s.cols, rng);
      const std::vector<float> x = UnevenRows(s.tokens, s.cols, rng);
      quant::Int8Rows xq;
      quant::PrepareInt8Rows(s.tokens, s.cols, xq);
      ASSERT_TRUE(quant::QuantizeActivationRows(x.data(), 0, s.tokens, xq));
      std::vector<float> with_asm(s.tokens * s.rows, NAN), twin(s.tokens * s.rows, NAN);
      ASSERT_TRUE(CpuFeatureEnabled(kCpuInlineAsm));
      Int8MatMulRows(w.matrix, xq, with_asm.data(), 0, s.rows, /*add_to_y=*/false);
      {
        ScopedCpuFeatureLimit intrinsics(0);
        Int8MatMulRows(w.matrix, xq, twin.data(), 0, s.rows, /*add_to_y=*/false);
      }
      for (size_t i = 0; i < twin.size(); ++i) {
        ASSERT_EQ(std::memcmp(&with_asm[i], &twin[i], sizeof(float)), 0)
            << "token " << i / s.rows << " row " << i % s.rows << ": " << with_asm[i] << " vs "
            << twin[i];
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
}

TEST(Int8MatMulVnni512Test, KernelMatchesReferenceForEveryType) {
  if (!Cpu().avx512_vnni) {
    GTEST_SKIP() << "not tested: this CPU (" << Cpu().model << ") has no AVX-512 VNNI";
  }
  for (DType dtype : kVnniTypes) {
    ASSERT_TRUE(HasInt8MatMul(dtype)) << DTypeName(dtype);
    CheckKernel(dtype, "avx512_vnni");
  }
}

TEST_P(Int8MatMulTest, MatMulUsesIntegerProductsOnlyForInt8Matrices) {
  if (!HasInt8MatMul(DType::kQ4_0)) GTEST_SKIP() << "no integer prefill kernel";
  std::mt19937 rng(93);
  const size_t rows = 200, cols = 320, tokens = 31;
  OwnedWeights w = QuantizedWeights(DType::kQ4_0, rows, cols, rng);
  const std::vector<float> x = UnevenRows(tokens, cols, rng);
  std::vector<float> ref;
  std::vector<double> bound;
  Reference(w.matrix, x, tokens, ref, bound);
  std::vector<float> exact(tokens * rows);
  quant::ReferenceMatMulRows(w.matrix, x.data(), tokens, exact.data(), 0, rows);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(threads);
    ThreadPool pool(threads);
    w.matrix.quant_dot = QuantDot::kInt8;
    std::vector<float> y(tokens * rows, NAN), y_add(tokens * rows, 1.0f);
    MatMul(w.matrix, x.data(), tokens, y.data(), pool);
    MatMulAdd(w.matrix, x.data(), tokens, y_add.data(), pool);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], ref[i], bound[i]) << i;
      ASSERT_NEAR(y_add[i], ref[i] + 1.0, bound[i] + 1e-6 * (std::fabs(ref[i]) + 1)) << i;
    }
    // QuantDot::kFloat32 keeps float32 activations: the product of the file's weights.
    w.matrix.quant_dot = QuantDot::kFloat32;
    MatMul(w.matrix, x.data(), tokens, y.data(), pool);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      worst = std::max(worst, std::fabs(double(y[i]) - exact[i]));
      scale = std::max(scale, std::fabs(double(exact[i])));
    }
    EXPECT_LE(worst, 1e-5 * scale);
    // A non-finite activation falls back to float32, which propagates it.
    std::vector<float> bad = x;
    bad[3 * cols + 7] = std::numeric_limits<float>::infinity();
    w.matrix.quant_dot = QuantDot::kInt8;
    MatMul(w.matrix, bad.data(), tokens, y.data(), pool);
    EXPECT_FALSE(std::isfinite(y[3 * rows]));
    EXPECT_TRUE(std::isfinite(y[2 * rows]));
  }
}

#endif  // __x86_64__

}  // namespace
}  // namespace gemma::test
