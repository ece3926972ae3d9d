// Products of bf16 weights with activations rounded to bf16 (QuantDot::kInt8 on a bf16
// matrix; kernels/bf16_activations.h): every variant against the double-precision product of
// the rounded values. The products of bf16 values are exact in float32, so a variant may
// differ from the reference only by float32 summation (gamma_n bound, as in matmul_test).
// Variants: the AVX-512 BF16 kernels (kernels/x86/bf16_avx512.cc; reported as not tested,
// a counted skip, on CPUs without it) and the portable float32 kernels on every Highway
// target. Awkward sizes: columns that are odd (a half-filled last pair), not a multiple of
// 32 (masked tails) or span several 256-column blocks; tokens around the 14-token tiles and
// 112-token blocks; rows around the 32-row strips; misaligned and padded rows; 1-3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/bf16_activations.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/packed_activations.h"

namespace gemma::test {
namespace {

// x rounded as the kernels round it.
std::vector<float> Rounded(const std::vector<float>& x) {
  std::vector<float> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = BF16ToF32(F32ToBF16(x[i]));
  return r;
}

// want[t * rows + r] = sum_c W[r, c] xr[t, c] in double, and the sums of |terms|.
void Reference(const WeightMatrix& w, const std::vector<float>& xr, size_t tokens,
               std::vector<double>& want, std::vector<double>& abs_sums) {
  want.assign(tokens * w.rows, 0.0);
  abs_sums.assign(tokens * w.rows, 0.0);
  std::vector<float> row(w.cols);
  for (size_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w, r, row.data());
    for (size_t t = 0; t < tokens; ++t) {
      double sum = 0, abs_sum = 0;
      for (size_t c = 0; c < w.cols; ++c) {
        const double term = double(row[c]) * xr[t * w.cols + c];
        sum += term;
        abs_sum += std::fabs(term);
      }
      want[t * w.rows + r] = sum;
      abs_sums[t * w.rows + r] = abs_sum;
    }
  }
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                const std::vector<double>& abs_sums, const std::vector<float>& base, size_t cols,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double expected = want[i] + (base.empty() ? 0.0 : base[i]);
    // One more rounding where the product is added to y (MatMulAdd).
    const double bound = Gamma(cols + 1) * (abs_sums[i] + std::fabs(expected)) + 1e-30;
    ASSERT_LE(std::fabs(double(got[i]) - expected), bound)
        << what << " output " << i << ": got " << got[i] << " want " << expected;
  }
}

// Runs MatVec (tokens == 1), MatMul and MatMulAdd on one random case, the products with the
// activations prepared once (PackedActivations) too, and checks them all.
void CheckCase(size_t rows, size_t cols, size_t tokens, int threads, size_t misalign,
               std::mt19937& rng) {
  OwnedWeights w = RandomWeights(DType::kBF16, rows, cols, rng, 2 * misalign, 2 * (rows % 3));
  w.matrix.quant_dot = QuantDot::kInt8;
  const std::vector<float> x = RandomFloats(tokens * cols, rng);
  std::vector<double> want, abs_sums;
  Reference(w.matrix, Rounded(x), tokens, want, abs_sums);
  const std::string what = StrCat(rows, "x", cols, " tokens=", tokens, " threads=", threads,
                                  " misalign=", misalign, " [", KernelIsaSummary(), "]");
  ThreadPool pool(threads);
  std::vector<float> y(tokens * rows, NAN);
  if (tokens == 1) {
    MatVec(w.matrix, x.data(), y.data(), pool);
    ExpectNear(y, want, abs_sums, {}, cols, "MatVec " + what);
  }
  std::fill(y.begin(), y.end(), NAN);
  MatMul(w.matrix, x.data(), tokens, y.data(), pool);
  ExpectNear(y, want, abs_sums, {}, cols, "MatMul " + what);
  const std::vector<float> base = RandomFloats(tokens * rows, rng);
  std::vector<float> y_add = base;
  MatMulAdd(w.matrix, x.data(), tokens, y_add.data(), pool);
  ExpectNear(y_add, want, abs_sums, base, cols, "MatMulAdd " + what);
  // Prepared once and shared: bit-identical to the plain call.
  PackedActivations packed;
  packed.Reset(x.data(), tokens, cols);
  std::vector<float> y_packed(tokens * rows, NAN);
  MatMul(w.matrix, packed, y_packed.data(), pool);
  EXPECT_EQ(y_packed, y) << "MatMul(PackedActivations) " << what;
}

void SweepSizes() {
  std::mt19937 rng(7);
  for (size_t cols : {1, 2, 3, 31, 32, 33, 63, 64, 65, 255, 256, 257, 520, 777}) {
    for (size_t rows : {1, 4, 5, 33, 70}) CheckCase(rows, cols, 1, 1, cols % 2, rng);
  }
  for (size_t tokens : {2, 13, 14, 15, 29, 113, 130}) {
    for (size_t cols : {3, 64, 300}) CheckCase(37, cols, tokens, 1, tokens % 2, rng);
  }
  for (int threads : {2, 3}) {
    CheckCase(301, 257, 1, threads, 1, rng);
    CheckCase(130, 2048 + 3, 1, threads, 0, rng);
    CheckCase(2100, 96, 20, threads, 1, rng);  // more than one 2048-row block
    CheckCase(100, 600, 120, threads, 0, rng);
  }
}

void ExpectNanPropagates() {
  std::mt19937 rng(8);
  OwnedWeights w = RandomWeights(DType::kBF16, 40, 70, rng);
  w.matrix.quant_dot = QuantDot::kInt8;
  for (size_t tokens : {1, 20}) {
    std::vector<float> x = RandomFloats(tokens * 70, rng);
    x[(tokens - 1) * 70 + 33] = NAN;
    std::vector<float> y(tokens * 40, 0.0f);
    ThreadPool pool(2);
    MatMul(w.matrix, x.data(), tokens, y.data(), pool);
    for (size_t r = 0; r < 40; ++r) {
      EXPECT_TRUE(std::isnan(y[(tokens - 1) * 40 + r])) << "tokens " << tokens << " row " << r;
      if (tokens > 1) {
        EXPECT_FALSE(std::isnan(y[r])) << "row " << r << " of a finite token";
      }
    }
  }
}

TEST(Bf16Rounding, RowsRoundAsF32ToBF16) {
  // Ties (both parities), values just off a tie, NaNs with payloads, infinities, the largest
  // finite values (rounding up to infinity), subnormals, zeros, and random values.
  std::vector<float> x;
  for (uint32_t bits : {0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f807fffu, 0x7fc00000u,
                        0x7f800001u, 0xffa00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu,
                        0x7f7f8000u, 0x00000001u, 0x00018000u, 0x80000000u, 0x00000000u}) {
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    x.push_back(f);
  }
  std::mt19937 rng(9);
  for (float f : RandomFloats(1000, rng, -1e3f, 1e3f)) x.push_back(f);
  Bf16Rows rows;
  PrepareBf16Rows(1, x.size(), rows);
  RoundRowsToBf16(x.data(), 0, 1, rows);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(rows.bits[i], F32ToBF16(x[i])) << "value " << i << " = " << x[i];
    uint32_t widened;
    std::memcpy(&widened, &rows.values[i], sizeof(widened));
    ASSERT_EQ(widened, uint32_t{rows.bits[i]} << 16) << "value " << i;
  }
}

// The portable kernels: every Highway target, with the per-ISA kernels switched off.
class Bf16RoundedTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(Bf16RoundedTest);

TEST_P(Bf16RoundedTest, PortableMatchesReference) {
  ScopedCpuFeatureLimit portable(0);
  std::printf("[  VARIANT ] bf16 products: portable float32 on %s\n", hwy::TargetName(GetParam()));
  SweepSizes();
  ExpectNanPropagates();
}

#if defined(__x86_64__)  // an Arm build has no x86 kernel to skip
TEST(Bf16RoundedAvx512Test, Avx512Bf16MatchesReference) {
  if (!Cpu().avx512_bf16) {
    GTEST_SKIP() << "not tested: this CPU (" << Cpu().model << ") has no AVX-512 BF16";
  }
  std::printf("[  VARIANT ] bf16 products: avx512_bf16\n");
  SweepSizes();
  ExpectNanPropagates();
}
#endif  // __x86_64__

TEST(Bf16RoundedAvx512Test, KernelChoiceFollowsTheEnabledFeatures) {
  {
    ScopedCpuFeatureLimit none(0);
    EXPECT_NE(KernelIsaSummary().find("bf16=highway_f32"), std::string::npos) << KernelIsaSummary();
  }
  const bool has = Cpu().avx512_bf16;
  EXPECT_EQ(KernelIsaSummary().find("bf16=avx512_bf16") != std::string::npos, has)
      << KernelIsaSummary();
}

}  // namespace
}  // namespace gemma::test
