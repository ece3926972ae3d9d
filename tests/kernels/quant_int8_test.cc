// The integer decode path (QuantDot::kInt8): rounding activations to int8 blocks (SIMD vs
// scalar, bit for bit; the rounding error bound), the AVX2 integer kernels against the
// double-precision reference of the same arithmetic (ReferenceMatVecRowsInt8), and that
// arithmetic against the exact product, within the documented half-step bound. Awkward
// sizes: row counts around the 2- and 4-row groups, one and several blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/quant/quantize.h"

namespace gemma::test {
namespace {

// Every block-quantized type has integer decode kernels on AVX2 (kernels/quant/quant_matvec.cc)
// and AVX-512 VNNI (kernels/x86/int8_matvec_avx512.cc).
constexpr DType kVnniTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
constexpr auto& kInt8Types = kVnniTypes;

// Activations of uneven magnitude: some blocks tiny, some zero, some large, as after RMSNorm
// and GELU.
std::vector<float> UnevenActivations(size_t n, std::mt19937& rng) {
  std::vector<float> x = RandomFloats(n, rng);
  for (size_t b = 0; b < n / 32; ++b) {
    const float scale = b % 5 == 0 ? 0.0f : b % 5 == 1 ? 1e-3f : b % 5 == 2 ? 40.0f : 1.0f;
    for (size_t i = 0; i < 32; ++i) x[32 * b + i] *= scale;
  }
  return x;
}

class QuantInt8Test : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(QuantInt8Test);

TEST_P(QuantInt8Test, SimdRoundingEqualsScalarBitForBit) {
  std::mt19937 rng(81);
  for (size_t cols : {32, 64, 96, 2048, 2048 + 32}) {
    SCOPED_TRACE(cols);
    const std::vector<float> x = UnevenActivations(cols, rng);
    quant::Int8Activations fast, ref;
    ASSERT_TRUE(quant::QuantizeActivations(x.data(), cols, fast));
    ASSERT_TRUE(quant::QuantizeActivationsReference(x.data(), cols, ref));
    ASSERT_EQ(fast.cols, cols);
    for (size_t i = 0; i < cols; ++i) ASSERT_EQ(fast.q[i], ref.q[i]) << i;
    for (size_t i = 0; i < cols / 64 * 64; ++i) ASSERT_EQ(fast.q_pairs[i], ref.q_pairs[i]) << i;
    for (size_t i = 0; i < 4 * cols / 32; ++i) {
      ASSERT_EQ(fast.d4[i], ref.d4[i]) << i;
      ASSERT_EQ(fast.dsum4[i], ref.dsum4[i]) << i;
    }
    for (size_t b = 0; b < cols / 32; ++b) {
      ASSERT_EQ(fast.d[b], ref.d[b]) << b;
      ASSERT_EQ(fast.dsum[b], ref.dsum[b]) << b;
      ASSERT_EQ(fast.sum16[2 * b], ref.sum16[2 * b]) << b;
      ASSERT_EQ(fast.sum16[2 * b + 1], ref.sum16[2 * b + 1]) << b;
    }
  }
}

TEST_P(QuantInt8Test, RoundingErrorIsAtMostHalfAStep) {
  std::mt19937 rng(82);
  const size_t cols = 640;
  const std::vector<float> x = UnevenActivations(cols, rng);
  quant::Int8Activations a;
  ASSERT_TRUE(quant::QuantizeActivations(x.data(), cols, a));
  for (size_t b = 0; b < cols / 32; ++b) {
    float amax = 0.0f;
    int sum = 0, half[2] = {0, 0};
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
    EXPECT_FLOAT_EQ(a.d[b], amax / 127.0f);
    for (size_t i = 0; i < 32; ++i) {
      const int q = a.q[32 * b + i];
      EXPECT_LE(std::abs(q), 127);
      // Half a step, plus float32 rounding of x * (127 / amax).
      EXPECT_LE(std::fabs(x[32 * b + i] - a.d[b] * q), a.d[b] * (0.5 + 1e-5)) << b << " " << i;
      sum += q;
      half[i / 16] += q;
    }
    if (amax > 0.0f) {
      // The largest value is represented exactly by +-127.
      bool has_127 = false;
      for (size_t i = 0; i < 32; ++i) has_127 |= std::abs(a.q[32 * b + i]) == 127;
      EXPECT_TRUE(has_127) << b;
    }
    EXPECT_EQ(a.sum16[2 * b], half[0]);
    EXPECT_EQ(a.sum16[2 * b + 1], half[1]);
    EXPECT_FLOAT_EQ(a.dsum[b], a.d[b] * static_cast<float>(sum));
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(a.d4[4 * b + i], a.d[b]);
      EXPECT_EQ(a.dsum4[4 * b + i], a.dsum[b]);
    }
    // Pair layout: values 0-15 of b and b + 1, then values 16-31 of b and b + 1.
    for (size_t i = 0; i < 32; ++i) {
      EXPECT_EQ(a.q_pairs[64 * (b / 2) + 32 * (i / 16) + 16 * (b % 2) + i % 16], a.q[32 * b + i]);
    }
  }
}

TEST_P(QuantInt8Test, NonFiniteActivationsAreRefused) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (size_t pos : {0, 17, 31, 63}) {
      std::vector<float> x(64, 0.5f);
      x[pos] = bad;
      quant::Int8Activations a, r;
      EXPECT_FALSE(quant::QuantizeActivations(x.data(), x.size(), a)) << bad << " at " << pos;
      EXPECT_FALSE(quant::QuantizeActivationsReference(x.data(), x.size(), r)) << bad;
    }
  }
  quant::Int8Activations a;
  std::vector<float> x(33, 1.0f);
  EXPECT_THROW(quant::QuantizeActivations(x.data(), x.size(), a), Error);
}

TEST(QuantInt8Blocks, UnpackScalesMinsEqualsOneAtATime) {
  std::mt19937 rng(83);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 1000; ++trial) {
    uint8_t packed[12];
    for (uint8_t& b : packed) b = static_cast<uint8_t>(byte(rng));
    uint8_t scales[8], mins[8];
    quant::UnpackScalesMinsK4(packed, scales, mins);
    for (int j = 0; j < 8; ++j) {
      uint8_t s, m;
      quant::ScaleMinK4(j, packed, &s, &m);
      ASSERT_EQ(scales[j], s) << j;
      ASSERT_EQ(mins[j], m) << j;
    }
  }
}

// Every type of `types` that has an integer kernel now, against the reference and the exact
// product; `label` names the variant.
void CheckKernels(std::span<const DType> types, const std::string& label) {
  std::mt19937 rng(84);
  for (DType dtype : types) {
    if (!HasInt8MatVec(dtype)) continue;
    std::printf("[  VARIANT ] int8 decode %s: %s\n", std::string(DTypeName(dtype)).c_str(),
                label.c_str());
    const size_t block = Traits(dtype).block_elements;
    for (size_t rows : {1, 2, 3, 4, 5, 7, 38}) {
      // Blocks around Q8_0's steps of 4 blocks (AVX-512) and every kernel's pairs.
      for (size_t blocks : {1, 2, 3, 6, 7, 8, 65}) {
        if (blocks == 65 && block == 256) continue;
        const size_t cols = blocks * block;
        SCOPED_TRACE(::testing::Message()
                     << DTypeName(dtype) << " rows " << rows << " cols " << cols << " " << label);
        const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
        const std::vector<float> x = UnevenActivations(cols, rng);
        quant::Int8Activations a;
        ASSERT_TRUE(quant::QuantizeActivations(x.data(), cols, a));
        std::vector<float> fast(rows, NAN), ref(rows, NAN);
        QuantMatVecRowsInt8(w.matrix, a, fast.data(), 0, rows);
        quant::ReferenceMatVecRowsInt8(w.matrix, a, ref.data(), 0, rows);
        std::vector<float> row(cols);
        for (size_t r = 0; r < rows; ++r) {
          DequantizeRow(w.matrix, r, row.data());
          double abs_terms = 0, exact = 0, half_steps = 0, wmax = 0;
          for (float v : row) wmax = std::max(wmax, std::fabs(double(v)));
          for (size_t c = 0; c < cols; ++c) {
            const double xq = double(a.d[c / 32]) * a.q[c];
            // Offsets and minimums are summed apart from the products: their terms can
            // exceed the dequantized weights (hence wmax, as in quant_matmul_test).
            abs_terms += (std::fabs(double(row[c])) + wmax) * std::fabs(xq);
            exact += double(row[c]) * x[c];
            half_steps += std::fabs(double(row[c])) * a.d[c / 32] * 0.5;
          }
          const double rounding = 4 * Gamma(cols + 16) * abs_terms + 1e-30;
          ASSERT_NEAR(fast[r], ref[r], rounding) << "row " << r;
          ASSERT_NEAR(fast[r], exact, half_steps + rounding) << "row " << r;
        }
      }
    }
  }
}

void CheckRowRanges(std::span<const DType> types) {
  std::mt19937 rng(85);
  for (DType dtype : types) {
    if (!HasInt8MatVec(dtype)) continue;
    SCOPED_TRACE(DTypeName(dtype));
    const size_t rows = 23, cols = 3 * Traits(dtype).block_elements;
    const OwnedWeights w = QuantizedWeights(dtype, rows, cols, rng);
    const std::vector<float> x = UnevenActivations(cols, rng);
    quant::Int8Activations a;
    ASSERT_TRUE(quant::QuantizeActivations(x.data(), cols, a));
    std::vector<float> whole(rows, NAN), pieces(rows, NAN);
    QuantMatVecRowsInt8(w.matrix, a, whole.data(), 0, rows);
    const size_t cuts[] = {0, 1, 3, 8, 9, 14, 23};
    for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
      QuantMatVecRowsInt8(w.matrix, a, pieces.data(), cuts[i], cuts[i + 1]);
    }
    EXPECT_EQ(pieces, whole);
    std::vector<float> partial(rows, -7.0f);
    QuantMatVecRowsInt8(w.matrix, a, partial.data(), 5, 11);
    for (size_t r = 0; r < rows; ++r) {
      if (r < 5 || r >= 11) {
        EXPECT_EQ(partial[r], -7.0f) << "row " << r;
      }
    }
  }
}

// The portable kernels (Highway targets; the AVX2 integer kernels on x86), with the
// per-instruction-set kernels switched off.
TEST_P(QuantInt8Test, KernelsMatchReferenceAndExactWithinTheRoundingBound) {
  ScopedCpuFeatureLimit portable(0);
  for (DType dtype : kInt8Types) {
    // Only the x86 AVX2 / AVX-512 targets have integer kernels; the others keep float32.
    if (!HasInt8MatVec(dtype)) {
      EXPECT_NE(hwy::TargetName(GetParam()), std::string("AVX2"));
    }
  }
  CheckKernels(kVnniTypes, hwy::TargetName(GetParam()));
}

TEST_P(QuantInt8Test, RowRangesGiveIdenticalRows) {
  ScopedCpuFeatureLimit portable(0);
  CheckRowRanges(kVnniTypes);
}

// Each instruction set's own kernels exist only in builds for it: an x86 build has no Arm test
// to skip, nor an Arm build an x86 one.
#if defined(__x86_64__)
TEST(QuantInt8Vnni512Test, KernelsMatchReferenceAndExactWithinTheRoundingBound) {
  if (!Cpu().avx512_vnni) {
    GTEST_SKIP() << "not tested: this CPU (" << Cpu().model << ") has no AVX-512 VNNI";
  }
  for (DType dtype : kVnniTypes) EXPECT_TRUE(HasInt8MatVec(dtype)) << DTypeName(dtype);
  CheckKernels(kVnniTypes, "avx512_vnni");
  CheckRowRanges(kVnniTypes);
}
#endif  // __x86_64__

#if defined(__aarch64__)
// The Arm dot-product kernels (kernels/arm/int8_matvec_neon.cc); under qemu-aarch64 -cpu max
// in scripts/test.sh.
TEST(QuantInt8NeonDotTest, KernelsMatchReferenceAndExactWithinTheRoundingBound) {
  if (!Cpu().neon_dot) {
    GTEST_SKIP() << "not tested: this CPU (" << Cpu().model << ") has no dot products (sdot)";
  }
  constexpr DType kNeonDotTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K};
  for (DType dtype : kNeonDotTypes) EXPECT_TRUE(HasInt8MatVec(dtype)) << DTypeName(dtype);
  CheckKernels(kNeonDotTypes, "neon_dotprod");
  CheckRowRanges(kNeonDotTypes);
}
#endif  // __aarch64__

}  // namespace
}  // namespace gemma::test
