// The scalar reference dequantization (below, under HWY_ONCE) and the entry point of its
// SIMD twin from kernels/quant/dequantize_blocks-inl.h, which the tests hold to it bit for bit.
#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/dequantize_blocks.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include "hwy/highway.h"
#include "kernels/quant/dequantize_blocks-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace {

void DequantizeBlocksSimdT(DType type, const void* blocks, float* out, size_t n) {
  simd_dequant::DequantizeBlocks(type, blocks, out, n);
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/error.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/dequantize_blocks.h"

namespace gemma::quant {
namespace {

void Q8_0(const BlockQ8_0* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[i * kQK + j] = x[i].qs[j] * d;
  }
}

void Q4_0(const BlockQ4_0* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * kQK + j] = x0 * d;
      y[i * kQK + j + kQK / 2] = x1 * d;
    }
  }
}

void Q4_1(const BlockQ4_1* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    const float m = F16ToF32(x[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = x[i].qs[j] & 0x0F;
      const int x1 = x[i].qs[j] >> 4;
      y[i * kQK + j] = x0 * d + m;
      y[i * kQK + j + kQK / 2] = x1 * d + m;
    }
  }
}

uint32_t HighBits(const uint8_t qh[4]) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
         static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

void Q5_0(const BlockQ5_0* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    const uint32_t qh = HighBits(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = ((x[i].qs[j] & 0x0F) | xh0) - 16;
      const int x1 = ((x[i].qs[j] >> 4) | xh1) - 16;
      y[i * kQK + j] = x0 * d;
      y[i * kQK + j + kQK / 2] = x1 * d;
    }
  }
}

void Q5_1(const BlockQ5_1* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    const float m = F16ToF32(x[i].m);
    const uint32_t qh = HighBits(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = (x[i].qs[j] & 0x0F) | xh0;
      const int x1 = (x[i].qs[j] >> 4) | xh1;
      y[i * kQK + j] = x0 * d + m;
      y[i * kQK + j + kQK / 2] = x1 * d + m;
    }
  }
}

void Q4_K(const BlockQ4_K* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = F16ToF32(x[i].d);
    const float min = F16ToF32(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < kQKK; j += 64) {
      ScaleMinK4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void Q5_K(const BlockQ5_K* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = F16ToF32(x[i].d);
    const float min = F16ToF32(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQKK; j += 64) {
      ScaleMinK4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void Q6_K(const BlockQ6_K* x, float* y, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQKK; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace

void DequantizeBlocks(DType type, const void* blocks, float* out, size_t n) {
  const size_t count = n / Traits(type).block_elements;
  switch (type) {
    case DType::kQ8_0:
      return Q8_0(static_cast<const BlockQ8_0*>(blocks), out, count);
    case DType::kQ4_0:
      return Q4_0(static_cast<const BlockQ4_0*>(blocks), out, count);
    case DType::kQ4_1:
      return Q4_1(static_cast<const BlockQ4_1*>(blocks), out, count);
    case DType::kQ5_0:
      return Q5_0(static_cast<const BlockQ5_0*>(blocks), out, count);
    case DType::kQ5_1:
      return Q5_1(static_cast<const BlockQ5_1*>(blocks), out, count);
    case DType::kQ4_K:
      return Q4_K(static_cast<const BlockQ4_K*>(blocks), out, count);
    case DType::kQ5_K:
      return Q5_K(static_cast<const BlockQ5_K*>(blocks), out, count);
    case DType::kQ6_K:
      return Q6_K(static_cast<const BlockQ6_K*>(blocks), out, count);
    default:
      Fail(ErrorCode::kInternal, "DequantizeBlocks: ", DTypeName(type), " is not block-quantized");
  }
}

HWY_EXPORT(DequantizeBlocksSimdT);

void DequantizeBlocksSimd(DType type, const void* blocks, float* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeBlocksSimdT)(type, blocks, out, n);
}

}  // namespace gemma::quant
#endif  // HWY_ONCE
