// The small vector operations of a transformer block, in SIMD. They touch a few thousand
// floats each, so they matter for latency (decode calls them ~100 times per token), not
// bandwidth. Where the reference's float32 arithmetic can be reproduced exactly (RMSNorm's
// scaling, RoPE's rotation, the residual adds) it is, operation for operation, so the fast
// kernels change no golden number; tanh and exp come from Highway's math library (<= 4
// and 1 ulp).

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/elementwise.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
// Internal linkage: other kernel files define per-target helpers with the same names.
namespace {

// sum x[i]^2 in double, like the reference, so the norm is the same to the last bit in
// practice (float32 accumulation over 2048 values could move inv_rms by an ulp).
double SumOfSquares(const float* HWY_RESTRICT x, size_t n) {
  size_t i = 0;
  double sum = 0.0;
#if HWY_HAVE_FLOAT64
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // half a float vector: one float per double
  const size_t N = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(df, x + i));
    const auto b = hn::PromoteTo(dd, hn::LoadU(df, x + i + N));
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
#endif
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void RMSNormSimd(const float* HWY_RESTRICT x, const float* HWY_RESTRICT scale, size_t n, float eps,
                 float* out) {
  if (n == 0) return;
  const float inv_rms =
      1.0f / std::sqrt(static_cast<float>(SumOfSquares(x, n) / static_cast<double>(n)) + eps);
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto vinv = hn::Set(df, inv_rms);
  size_t i = 0;
  // Same order as the reference: (x * inv_rms) * scale. out may alias x: each vector is
  // read before it is written.
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vinv), hn::LoadU(df, scale + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * inv_rms * scale[i];
}

template <class DF, class V>
HWY_INLINE V GeluTanhVec(DF df, V x) {
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), same operation order as ref::GeluTanh.
  const V cubic = hn::Mul(hn::Mul(hn::Mul(hn::Set(df, 0.044715f), x), x), x);
  const V inner = hn::Mul(hn::Set(df, 0.7978845608028654f), hn::Add(x, cubic));
  const V t = hn::Tanh(df, inner);
  return hn::Mul(hn::Mul(hn::Set(df, 0.5f), x), hn::Add(hn::Set(df, 1.0f), t));
}

void GeluTanhMulSimd(const float* gate, const float* up, size_t n, float* out) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = GeluTanhVec(df, hn::LoadU(df, gate + i));
    hn::StoreU(hn::Mul(g, hn::LoadU(df, up + i)), df, out + i);
  }
  if (i < n) {
    // The tail goes through the same vector code (via a padded copy) so every element
    // gets the same tanh.
    HWY_ALIGN float g[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float u[HWY_MAX_BYTES / sizeof(float)] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    hn::Store(hn::Mul(GeluTanhVec(df, hn::Load(df, g)), hn::Load(df, u)), df, g);
    std::copy(g, g + (n - i), out + i);
  }
}

// GCC contracts a * c - b * s into an FMA by default (also for vector intrinsics, which it
// implements as plain vector arithmetic); that changes the last bit, so RoPE keeps the
// reference's separate roundings by turning contraction off for this function.
#if HWY_COMPILER_GCC_ACTUAL
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
// Rotates `heads` vectors by the angles whose cos/sin are given for each i < half.
void RotateHalves(float* HWY_RESTRICT x, size_t heads, size_t head_dim,
                  const float* HWY_RESTRICT cos, const float* HWY_RESTRICT sin) {
#if HWY_COMPILER_CLANG
#pragma clang fp contract(off)  // clang wants it first in the compound statement
#endif
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < heads; ++h) {
    float* HWY_RESTRICT v = x + h * head_dim;
    size_t i = 0;
    for (; i + N <= half; i += N) {
      const auto a = hn::LoadU(df, v + i);
      const auto b = hn::LoadU(df, v + i + half);
      const auto c = hn::LoadU(df, cos + i);
      const auto s = hn::LoadU(df, sin + i);
      // Separate multiplies and adds (no FMA), exactly like the reference's float math.
      hn::StoreU(hn::Sub(hn::Mul(a, c), hn::Mul(b, s)), df, v + i);
      hn::StoreU(hn::Add(hn::Mul(a, s), hn::Mul(b, c)), df, v + i + half);
    }
    for (; i < half; ++i) {
      const float a = v[i];
      const float b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = a * sin[i] + b * cos[i];
    }
  }
}

#if HWY_COMPILER_GCC_ACTUAL
#pragma GCC pop_options
#endif

void SoftmaxSimd(float* x, size_t n) {
  if (n == 0) return;
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  float max = -std::numeric_limits<float>::infinity();
  size_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(df, x + i));
    max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  for (; i < n; ++i) max = std::max(max, x[i]);

  const auto vmax = hn::Set(df, max);
  auto sum0 = hn::Zero(df), sum1 = hn::Zero(df);
  i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto e0 = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    const auto e1 = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i + N), vmax));
    hn::StoreU(e0, df, x + i);
    hn::StoreU(e1, df, x + i + N);
    sum0 = hn::Add(sum0, e0);
    sum1 = hn::Add(sum1, e1);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(sum0, sum1)));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const auto vsum = hn::Set(df, sum);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Div(hn::LoadU(df, x + i), vsum), df, x + i);
  for (; i < n; ++i) x[i] /= sum;
}

ExpSum MaxAndExpSumSimd(const float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  float max = x[0];
  size_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(df, x + i));
    max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  for (; i < n; ++i) max = std::max(max, x[i]);
  // The first index holding the largest value (none when a NaN made it NaN: then 0).
  const auto vmax = hn::Set(df, max);
  for (i = 0; i + N <= n; i += N) {
    if (!hn::AllFalse(df, hn::Eq(hn::LoadU(df, x + i), vmax))) break;
  }
  while (i < n && x[i] != max) ++i;
  const size_t argmax = i < n ? i : 0;

  double sum = 0.0;
  i = 0;
#if HWY_HAVE_FLOAT64
  // Exps of half a float vector at a time, each promoted to a double lane.
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dh;
  const size_t H = hn::Lanes(dd);
  const auto hmax = hn::Set(dh, max);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  for (; i + 2 * H <= n; i += 2 * H) {
    acc0 = hn::Add(acc0, hn::PromoteTo(dd, hn::Exp(dh, hn::Sub(hn::LoadU(dh, x + i), hmax))));
    acc1 = hn::Add(acc1, hn::PromoteTo(dd, hn::Exp(dh, hn::Sub(hn::LoadU(dh, x + i + H), hmax))));
  }
  sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
#endif
  for (; i < n; ++i) sum += std::exp(x[i] - max);
  return {.max = max, .argmax = argmax, .sum = sum};
}

void AddInPlaceSimd(float* HWY_RESTRICT x, const float* HWY_RESTRICT y, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Add(hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, x + i);
  }
  for (; i < n; ++i) x[i] += y[i];
}

void ScaleSimd(float* HWY_RESTRICT x, float s, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto vs = hn::Set(df, s);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vs), df, x + i);
  for (; i < n; ++i) x[i] *= s;
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/elementwise.h"

namespace gemma {

HWY_EXPORT(RMSNormSimd);
HWY_EXPORT(GeluTanhMulSimd);
HWY_EXPORT(RotateHalves);
HWY_EXPORT(SoftmaxSimd);
HWY_EXPORT(MaxAndExpSumSimd);
HWY_EXPORT(AddInPlaceSimd);
HWY_EXPORT(ScaleSimd);

void RMSNorm(const float* x, const float* scale, size_t n, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(RMSNormSimd)(x, scale, n, eps, out);
}

void GeluTanhMul(const float* gate, const float* up, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(GeluTanhMulSimd)(gate, up, n, out);
}

void RoPEAngles(size_t head_dim, size_t position, float theta, float* cos, float* sin) {
  if (head_dim > kMaxRoPEHeadDim) {
    Fail(ErrorCode::kInvalidArgument, "RoPE: head_dim ", head_dim, " exceeds the supported ",
         kMaxRoPEHeadDim);
  }
  // inv_freq depends only on (theta, head_dim): computed once per thread, not per call.
  constexpr size_t kMaxHalf = kMaxRoPEHeadDim / 2;
  thread_local float inv_freq[kMaxHalf];
  thread_local float cached_theta = 0.0f;
  thread_local size_t cached_head_dim = 0;
  const size_t half = head_dim / 2;
  if (cached_theta != theta || cached_head_dim != head_dim) {
    for (size_t i = 0; i < half; ++i) {
      inv_freq[i] =
          1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    }
    cached_theta = theta;
    cached_head_dim = head_dim;
  }
  for (size_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(position) * inv_freq[i];
    cos[i] = std::cos(angle);
    sin[i] = std::sin(angle);
  }
}

void RoPE(float* x, size_t heads, size_t head_dim, size_t position, float theta) {
  float cos[kMaxRoPEHeadDim / 2];
  float sin[kMaxRoPEHeadDim / 2];
  RoPEAngles(head_dim, position, theta, cos, sin);
  HWY_DYNAMIC_DISPATCH(RotateHalves)(x, heads, head_dim, cos, sin);
}

void Softmax(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxSimd)(x, n); }

ExpSum MaxAndExpSum(const float* x, size_t n) {
  if (n == 0) Fail(ErrorCode::kInvalidArgument, "MaxAndExpSum of no values");
  return HWY_DYNAMIC_DISPATCH(MaxAndExpSumSimd)(x, n);
}

void AddInPlace(float* x, const float* y, size_t n) {
  HWY_DYNAMIC_DISPATCH(AddInPlaceSimd)(x, y, n);
}

void Scale(float* x, float s, size_t n) { HWY_DYNAMIC_DISPATCH(ScaleSimd)(x, s, n); }

}  // namespace gemma
#endif  // HWY_ONCE
