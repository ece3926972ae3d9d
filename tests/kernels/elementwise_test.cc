// RMSNorm, GeluTanhMul, RoPE, Softmax, MaxAndExpSum, AddInPlace and Scale against gemma::ref on
// every length 0..2N and some large ones, misaligned, on every compiled instruction set.
#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernel_test_util.h"
#include "kernels/ref/reference.h"

namespace gemma::test {
namespace {

class ElementwiseTest : public PerTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(ElementwiseTest);

// 0..80 covers every tail of every vector width up to 16 lanes several times over.
std::vector<size_t> Lengths() {
  std::vector<size_t> n;
  for (size_t i = 0; i <= 80; ++i) n.push_back(i);
  for (size_t i : {255, 256, 257, 2048, 2051, 16384}) n.push_back(i);
  return n;
}

TEST_P(ElementwiseTest, RMSNormMatchesReference) {
  std::mt19937 rng(10);
  for (size_t n : Lengths()) {
    for (size_t offset : {0, 1}) {
      const std::vector<float> x = RandomFloats(n + 1, rng, -4.0f, 4.0f);
      const std::vector<float> scale = RandomFloats(n + 1, rng, 0.5f, 1.5f);
      std::vector<float> want(n), got(n + 1, NAN);
      ref::RMSNorm(x.data() + offset, scale.data() + offset, n, 1e-6f, want.data());
      RMSNorm(x.data() + offset, scale.data() + offset, n, 1e-6f, got.data() + offset);
      for (size_t i = 0; i < n; ++i) {
        // Same float32 operations on the same inv_rms; inv_rms itself can differ only by
        // the order of a double-precision sum, i.e. at most one ulp.
        ASSERT_NEAR(got[offset + i], want[i], 2 * kEps * std::fabs(want[i]))
            << "n=" << n << " i=" << i;
      }
      // In place (out aliases x) gives the same result.
      std::vector<float> in_place(x);
      RMSNorm(in_place.data() + offset, scale.data() + offset, n, 1e-6f, in_place.data() + offset);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(in_place[offset + i], got[offset + i]);
    }
  }
}

TEST_P(ElementwiseTest, GeluTanhMulMatchesReference) {
  std::mt19937 rng(11);
  for (size_t n : Lengths()) {
    const std::vector<float> gate = RandomFloats(n + 1, rng, -10.0f, 10.0f);
    const std::vector<float> up = RandomFloats(n + 1, rng, -3.0f, 3.0f);
    std::vector<float> want(n), got(n + 1, NAN);
    ref::GeluTanhMul(gate.data() + 1, up.data() + 1, n, want.data());
    GeluTanhMul(gate.data() + 1, up.data() + 1, n, got.data() + 1);
    for (size_t i = 0; i < n; ++i) {
      // tanh within 4 ulp of std::tanh (<= 4 eps of 1 absolute after the 1 + t), then
      // three float roundings: relative to the size of 0.5 * x * up.
      const double size = 0.5 * std::fabs(gate[i + 1] * up[i + 1]);
      ASSERT_NEAR(got[i + 1], want[i], (8 * kEps) * (size + std::fabs(want[i])))
          << "n=" << n << " gate=" << gate[i + 1];
    }
  }
}

TEST_P(ElementwiseTest, GeluTanhHandlesExtremes) {
  const std::vector<float> gate = {0.0f, -0.0f, 1e-30f, -50.0f, 50.0f, 1e4f, -1e4f, 3.0f};
  const std::vector<float> up(gate.size(), 2.0f);
  std::vector<float> want(gate.size()), got(gate.size());
  ref::GeluTanhMul(gate.data(), up.data(), gate.size(), want.data());
  GeluTanhMul(gate.data(), up.data(), gate.size(), got.data());
  for (size_t i = 0; i < gate.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 8 * kEps * (std::fabs(gate[i]) + std::fabs(want[i]))) << gate[i];
  }
}

TEST_P(ElementwiseTest, RoPEIsBitExact) {
  std::mt19937 rng(12);
  for (size_t head_dim : {2, 4, 6, 16, 34, 64, 128, 256}) {
    for (size_t heads : {1, 3, 8}) {
      for (size_t position : {0, 1, 7, 511, 4095, 8191}) {
        for (float theta : {10000.0f, 500000.0f}) {
          std::vector<float> want = RandomFloats(heads * head_dim, rng, -2.0f, 2.0f);
          std::vector<float> got = want;
          ref::RoPE(want.data(), heads, head_dim, position, theta);
          RoPE(got.data(), heads, head_dim, position, theta);
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_EQ(got[i], want[i]) << "head_dim=" << head_dim << " pos=" << position;
          }
        }
      }
    }
  }
}

// x * y - u * v with both products and the difference each rounded to float. The products
// go through volatile floats: a compiler may fuse a multiply into an add (contraction, which
// GCC also does after narrowing float(double(x) * y) to a float multiply), never across a
// volatile store and load.
float RoundedMulSub(float x, float y, float u, float v) {
  const volatile float xy = x * y;
  const volatile float uv = u * v;
  return xy - uv;
}

// The reference's rule, which RoPEIsBitExact holds every kernel to: in float32, inv_freq =
// 1 / pow(theta, 2i / d), angle = position * inv_freq, c = cos(angle), s = sin(angle), then
// a * c - b * s and a * s + b * c with every product and sum rounded separately (no fused
// multiply-add: a compiler that contracts them, as GCC does on aarch64 by default, changes
// the last bit). The fused results differ from it in some cases here, so the test would see
// a contracted reference.
TEST(RoPEReferenceTest, RoundsEachProductAndSum) {
  std::mt19937 rng(14);
  size_t fused_differs = 0;
  for (size_t head_dim : {2, 16, 128, 256}) {
    for (size_t position : {1, 7, 511, 8191}) {
      for (float theta : {10000.0f, 500000.0f}) {
        const size_t heads = 3, half = head_dim / 2;
        const std::vector<float> x = RandomFloats(heads * head_dim, rng, -2.0f, 2.0f);
        std::vector<float> got = x;
        ref::RoPE(got.data(), heads, head_dim, position, theta);
        for (size_t i = 0; i < half; ++i) {
          const float inv_freq =
              1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
          const float angle = static_cast<float>(position) * inv_freq;
          const float c = std::cos(angle), s = std::sin(angle);
          for (size_t h = 0; h < heads; ++h) {
            const float a = x[h * head_dim + i], b = x[h * head_dim + i + half];
            const float first = RoundedMulSub(a, c, b, s);
            const float second = RoundedMulSub(a, s, -b, c);  // a * s + b * c
            ASSERT_EQ(got[h * head_dim + i], first) << "head_dim=" << head_dim << " i=" << i;
            ASSERT_EQ(got[h * head_dim + i + half], second)
                << "head_dim=" << head_dim << " i=" << i;
            const volatile float bs = b * s;
            if (std::fma(a, c, -bs) != first) ++fused_differs;
          }
        }
      }
    }
  }
  EXPECT_GT(fused_differs, 0u);
}

TEST(RoPEArgsTest, RejectsHugeHeadDim) {
  std::vector<float> x(4096);
  EXPECT_THROW(RoPE(x.data(), 1, 4096, 0, 10000.0f), Error);
}

TEST_P(ElementwiseTest, SoftmaxMatchesReference) {
  std::mt19937 rng(13);
  for (size_t n : Lengths()) {
    std::vector<float> want = RandomFloats(n, rng, -20.0f, 20.0f);
    std::vector<float> got(n + 1);
    std::copy(want.begin(), want.end(), got.begin() + 1);
    ref::Softmax(want.data(), n);
    Softmax(got.data() + 1, n);
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
      // exp within 1 ulp; the sum of n positive terms within gamma_n in both versions.
      ASSERT_NEAR(got[i + 1], want[i], (4 * kEps + 2 * Gamma(n)) * want[i]) << "n=" << n;
      total += got[i + 1];
    }
    if (n > 0) {
      EXPECT_NEAR(total, 1.0, 2 * Gamma(n) + 1e-6);
    }
  }
}

TEST_P(ElementwiseTest, SoftmaxOfEqualValuesIsUniform) {
  std::vector<float> x(37, -1e30f);
  Softmax(x.data(), x.size());
  for (float v : x) EXPECT_FLOAT_EQ(v, 1.0f / 37);
}

TEST_P(ElementwiseTest, MaxAndExpSumMatchesReference) {
  std::mt19937 rng(15);
  for (size_t n : Lengths()) {
    if (n == 0) continue;
    for (size_t offset : {0, 1}) {
      std::vector<float> x = RandomFloats(n + 1, rng, -30.0f, 30.0f);
      // A tie for the largest value: the first one counts.
      if (n > 3) x[offset + n - 1] = x[offset + n / 2] = 40.0f;
      const ref::ExpSum want = ref::MaxAndExpSum(x.data() + offset, n);
      const ExpSum got = MaxAndExpSum(x.data() + offset, n);
      ASSERT_EQ(got.max, want.max) << "n=" << n;
      ASSERT_EQ(got.argmax, want.argmax) << "n=" << n;
      // Each exp within 1 ulp (the reference's std::exp within 1 too); the double sums of
      // positive terms differ by their order only, far below that.
      ASSERT_NEAR(got.sum, want.sum, 4 * kEps * want.sum) << "n=" << n;
    }
  }
  const std::vector<float> row(256000, -3.0f);  // a vocabulary-sized row, all equal
  const ExpSum flat = MaxAndExpSum(row.data(), row.size());
  EXPECT_EQ(flat.argmax, 0u);
  EXPECT_EQ(flat.sum, 256000.0);
  EXPECT_THROW(MaxAndExpSum(row.data(), 0), Error);
}

TEST_P(ElementwiseTest, AddAndScaleAreExact) {
  std::mt19937 rng(14);
  for (size_t n : Lengths()) {
    const std::vector<float> x = RandomFloats(n + 1, rng);
    const std::vector<float> y = RandomFloats(n + 1, rng);
    std::vector<float> sum(x), scaled(x);
    AddInPlace(sum.data() + 1, y.data() + 1, n);
    Scale(scaled.data() + 1, 0.37f, n);
    EXPECT_EQ(sum[0], x[0]);  // the element before the range is untouched
    for (size_t i = 1; i <= n; ++i) {
      ASSERT_EQ(sum[i], x[i] + y[i]);
      ASSERT_EQ(scaled[i], x[i] * 0.37f);
    }
  }
}

}  // namespace
}  // namespace gemma::test
