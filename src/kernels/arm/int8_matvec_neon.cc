// Arm dot-product integer decode kernels (int8_matvec_neon.h). Compiled with the dotprod
// extension by the target pragma below whatever the build's -march; only called after the
// HWCAP check (kernels/cpu_features.cc).
//
// Every kernel turns a block's weights into signed bytes (the stored integers with their
// offset subtracted: Q4_0's nibbles - 8, Q6_K's 6-bit values - 32; Q8_0's are signed
// already), so the block's products with the activation bytes are exact int32 sums from
// sdot, and one conversion and one FMA per 4 lanes apply d_w * d_x. Q4_K's nibbles stay
// unsigned (0..15 fits a signed byte); its minimums need only the activations' block sums
// (dsum), once per sub-block. Two accumulator chains per row (even and odd blocks) hide the
// FMA latency; a row's operations do not depend on which rows are computed with it.

#include "kernels/arm/int8_matvec_neon.h"

#include "base/error.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/quant/blocks.h"
#include "kernels/quant/half_table.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
// arm_neon.h declares vdotq_s32 for "arch=armv8.2-a+dotprod"; every CPU with sdot is v8.2.
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

namespace gemma::arm {
namespace {

using quant::Int8Activations;

inline uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// 32 products of signed bytes w0|w1 with x[0, 32), in 4 int32 lanes.
inline int32x4_t Dot32(int8x16_t w0, int8x16_t w1, const int8_t* x) {
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(x)), w1, vld1q_s8(x + 16));
}

// Q8_0: value = d * q, q int8.
struct KernelQ8_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0);
  static float32x4_t Dot(const uint8_t* blk, const Int8Activations& a, size_t b, const float* half,
                         float32x4_t acc, float&) {
    const int8_t* w = reinterpret_cast<const int8_t*>(blk + 2);
    const int32x4_t p = Dot32(vld1q_s8(w), vld1q_s8(w + 16), a.q + 32 * b);
    return vfmaq_n_f32(acc, vcvtq_f32_s32(p), half[U16(blk)] * a.d[b]);
  }
};

// Q4_0: value = d * (u - 8), u the low nibble of byte j (value j) or its high nibble (j + 16).
struct KernelQ4_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ4_0);
  static float32x4_t Dot(const uint8_t* blk, const Int8Activations& a, size_t b, const float* half,
                         float32x4_t acc, float&) {
    const uint8x16_t v = vld1q_u8(blk + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
    const int32x4_t p = Dot32(lo, hi, a.q + 32 * b);
    return vfmaq_n_f32(acc, vcvtq_f32_s32(p), half[U16(blk)] * a.d[b]);
  }
};

// Q4_K: value = d * sc_j * u - dmin * m_j in 32-value sub-block j; 32 bytes hold sub-blocks
// 2i (low nibbles) and 2i + 1 (high nibbles). The minimums go into `bias` through dsum.
struct KernelQ4_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ4_K);
  static float32x4_t Dot(const uint8_t* blk, const Int8Activations& a, size_t sb, const float* half,
                         float32x4_t acc, float& bias) {
    uint8_t sc[8], m[8];
    quant::UnpackScalesMinsK4(blk + 4, sc, m);
    const float d = half[U16(blk)], dmin = half[U16(blk + 2)];
    const float* dx = a.d + 8 * sb;
    const float* dsum = a.dsum + 8 * sb;
    const int8_t* x = a.q + 256 * sb;
    const uint8_t* qs = blk + 16;
    const uint8x16_t low4 = vdupq_n_u8(15);
    for (int i = 0; i < 4; ++i) {
      const uint8x16_t v0 = vld1q_u8(qs + 32 * i), v1 = vld1q_u8(qs + 32 * i + 16);
      const int32x4_t p_lo = Dot32(vreinterpretq_s8_u8(vandq_u8(v0, low4)),
                                   vreinterpretq_s8_u8(vandq_u8(v1, low4)), x + 64 * i);
      const int32x4_t p_hi = Dot32(vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)),
                                   vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), x + 64 * i + 32);
      acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p_lo), d * sc[2 * i] * dx[2 * i]);
      acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p_hi), d * sc[2 * i + 1] * dx[2 * i + 1]);
    }
    for (int j = 0; j < 8; ++j) bias = std::fma(dmin * m[j], dsum[j], bias);
    return acc;
  }
};

// Q6_K: value = d * sc_s * (u - 32) in 16-value sub-block s, u 6 bits; in each half of 128
// values, byte l of ql (64 bytes) and qh (32 bytes) gives values l, l + 32, l + 64, l + 96
// (ggml's dequantize_row_q6_K). A 32-value activation block spans two sub-blocks: their
// int32 sums are scaled by sc_s in integers, then by d * d_x in float32.
struct KernelQ6_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K);
  static float32x4_t Dot(const uint8_t* blk, const Int8Activations& a, size_t sb, const float* half,
                         float32x4_t acc, float&) {
    const float d = half[U16(blk + 208)];
    const uint8x16_t low4 = vdupq_n_u8(15), bits45 = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = blk + 64 * n;
      const uint8_t* qh = blk + 128 + 32 * n;
      const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * n);
      const int8_t* x = a.q + 256 * sb + 128 * n;
      int32x4_t sums[4];  // activation blocks 4n .. 4n + 3 of the super-block
      for (int c = 0; c < 2; ++c) {
        const uint8x16_t lo = vld1q_u8(ql + 16 * c), hi = vld1q_u8(ql + 32 + 16 * c);
        const uint8x16_t h = vld1q_u8(qh + 16 * c);
        const uint8x16_t u[4] = {vorrq_u8(vandq_u8(lo, low4), vandq_u8(vshlq_n_u8(h, 4), bits45)),
                                 vorrq_u8(vandq_u8(hi, low4), vandq_u8(vshlq_n_u8(h, 2), bits45)),
                                 vorrq_u8(vshrq_n_u8(lo, 4), vandq_u8(h, bits45)),
                                 vorrq_u8(vshrq_n_u8(hi, 4), vandq_u8(vshrq_n_u8(h, 2), bits45))};
        for (int k = 0; k < 4; ++k) {
          const int8x16_t w = vsubq_s8(vreinterpretq_s8_u8(u[k]), offset);
          const int32x4_t p = vdotq_s32(vdupq_n_s32(0), w, vld1q_s8(x + 32 * k + 16 * c));
          // Sub-block 2k + c of the half.
          sums[k] = c == 0 ? vmulq_n_s32(p, sc[2 * k]) : vmlaq_n_s32(sums[k], p, sc[2 * k + 1]);
        }
      }
      for (int k = 0; k < 4; ++k) {
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sums[k]), d * a.d[8 * sb + 4 * n + k]);
      }
    }
    return acc;
  }
};

template <class K>
void Rows(const WeightMatrix& w, const Int8Activations& a, float* y, size_t row_begin,
          size_t row_end) {
  const size_t blocks = w.cols / K::kValues;
  const float* half = quant_matvec::HalfToFloatTable();
  for (size_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(w.row(r));
    float32x4_t even = vdupq_n_f32(0.0f), odd = vdupq_n_f32(0.0f);
    float bias = 0.0f;
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
      even = K::Dot(row + b * K::kBytes, a, b, half, even, bias);
      odd = K::Dot(row + (b + 1) * K::kBytes, a, b + 1, half, odd, bias);
    }
    if (b < blocks) even = K::Dot(row + b * K::kBytes, a, b, half, even, bias);
    y[r] = vaddvq_f32(vaddq_f32(even, odd)) - bias;
  }
}

}  // namespace

bool HasInt8MatVecNeonDot(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void Int8MatVecRowsNeonDot(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                           size_t row_begin, size_t row_end) {
  switch (w.dtype) {
    case DType::kQ8_0:
      return Rows<KernelQ8_0>(w, x, y, row_begin, row_end);
    case DType::kQ4_0:
      return Rows<KernelQ4_0>(w, x, y, row_begin, row_end);
    case DType::kQ4_K:
      return Rows<KernelQ4_K>(w, x, y, row_begin, row_end);
    case DType::kQ6_K:
      return Rows<KernelQ6_K>(w, x, y, row_begin, row_end);
    default:
      Fail(ErrorCode::kInternal, "Int8MatVecRowsNeonDot: no kernel for ", DTypeName(w.dtype));
  }
}

}  // namespace gemma::arm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // !__aarch64__

namespace gemma::arm {
bool HasInt8MatVecNeonDot(DType) { return false; }
void Int8MatVecRowsNeonDot(const WeightMatrix&, const quant::Int8Activations&, float*, size_t,
                           size_t) {
  Fail(ErrorCode::kInternal, "Int8MatVecRowsNeonDot called on a CPU that is not aarch64");
}
}  // namespace gemma::arm

#endif  // __aarch64__
