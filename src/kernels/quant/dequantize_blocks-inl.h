// SIMD dequantization of ggml's block types into float32 rows, for the prefill product that
// converts each weight once and reuses it for every token (kernels/quant/quant_matmul.cc).
// Bit-exact with the scalar quant::DequantizeBlocks (the reference): the same float32
// operations in the same order on the same integers, and no fused multiply-add.
//
// Per-target header: include inside a foreach_target unit, after hwy/highway.h (the usual
// Highway "-inl.h" re-inclusion guard).
#if defined(GEMMA_KERNELS_QUANT_DEQUANTIZE_BLOCKS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_QUANT_DEQUANTIZE_BLOCKS_INL_H_
#undef GEMMA_KERNELS_QUANT_DEQUANTIZE_BLOCKS_INL_H_
#else
#define GEMMA_KERNELS_QUANT_DEQUANTIZE_BLOCKS_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "base/error.h"
#include "hwy/highway.h"
#include "kernels/quant/blocks.h"

// GCC contracts a * d + m into an FMA by default, also for vector intrinsics (it implements
// them as plain vector arithmetic): that would change the last bit against the reference.
// The functions below are never inlined, so the option cannot leak into (or be lost in) a
// caller compiled without it.
#if HWY_COMPILER_GCC_ACTUAL
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
// A namespace of its own: other kernel files may define helpers with these names.
namespace simd_dequant {
namespace hn = hwy::HWY_NAMESPACE;

// At most 8 lanes: every step below covers a whole number of lanes of a 16-value half
// block (and of a 16-value Q6_K sub-block, whose scale is fixed within the step).
using DF = hn::CappedTag<float, 8>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
constexpr size_t kQK = quant::kQK;  // as size_t, for the loop counters

// The 32 high bits of a Q5_0 / Q5_1 block (little-endian).
HWY_INLINE uint32_t HighBits(const uint8_t qh[4]) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
         static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

// Lanes(DF) bytes at p, each widened to an int32 lane.
HWY_INLINE hn::Vec<DI> LoadU8(const uint8_t* HWY_RESTRICT p) {
  const hn::Rebind<uint8_t, DF> d8;
  return hn::PromoteTo(DI(), hn::LoadU(d8, p));
}
HWY_INLINE hn::Vec<DI> LoadI8(const int8_t* HWY_RESTRICT p) {
  const hn::Rebind<int8_t, DF> d8;
  return hn::PromoteTo(DI(), hn::LoadU(d8, p));
}

// The high bits of Q5_0 / Q5_1: bit (first + lane) of qh, moved to bit 4.
HWY_INLINE hn::Vec<DI> FifthBits(uint32_t qh, uint32_t first) {
  const DU du;
  const auto bits = hn::Shr(hn::Set(du, qh), hn::Iota(du, first));
  return hn::BitCast(DI(), hn::ShiftLeft<4>(hn::And(bits, hn::Set(du, 1u))));
}

inline HWY_NOINLINE void Q8_0(const quant::BlockQ8_0* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (size_t i = 0; i < blocks; ++i, y += kQK) {
    const auto d = hn::Set(df, F16ToF32(x[i].d));
    for (size_t j = 0; j < kQK; j += N) {
      hn::StoreU(hn::Mul(hn::ConvertTo(df, LoadI8(x[i].qs + j)), d), df, y + j);
    }
  }
}

// Byte j of the _0 / _1 types holds value j in its low nibble and value j + 16 in its high.
inline HWY_NOINLINE void Q4_0(const quant::BlockQ4_0* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F), eight = hn::Set(di, 8);
  for (size_t i = 0; i < blocks; ++i, y += kQK) {
    const auto d = hn::Set(df, F16ToF32(x[i].d));
    for (size_t j = 0; j < kQK / 2; j += N) {
      const auto q = LoadU8(x[i].qs + j);
      const auto lo = hn::Sub(hn::And(q, low4), eight);
      const auto hi = hn::Sub(hn::ShiftRight<4>(q), eight);
      hn::StoreU(hn::Mul(hn::ConvertTo(df, lo), d), df, y + j);
      hn::StoreU(hn::Mul(hn::ConvertTo(df, hi), d), df, y + j + kQK / 2);
    }
  }
}

inline HWY_NOINLINE void Q4_1(const quant::BlockQ4_1* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
#if HWY_COMPILER_CLANG
#pragma clang fp contract(off)
#endif
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F);
  for (size_t i = 0; i < blocks; ++i, y += kQK) {
    const auto d = hn::Set(df, F16ToF32(x[i].d));
    const auto m = hn::Set(df, F16ToF32(x[i].m));
    for (size_t j = 0; j < kQK / 2; j += N) {
      const auto q = LoadU8(x[i].qs + j);
      const auto lo = hn::ConvertTo(df, hn::And(q, low4));
      const auto hi = hn::ConvertTo(df, hn::ShiftRight<4>(q));
      hn::StoreU(hn::Add(hn::Mul(lo, d), m), df, y + j);
      hn::StoreU(hn::Add(hn::Mul(hi, d), m), df, y + j + kQK / 2);
    }
  }
}

inline HWY_NOINLINE void Q5_0(const quant::BlockQ5_0* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F), sixteen = hn::Set(di, 16);
  for (size_t i = 0; i < blocks; ++i, y += kQK) {
    const auto d = hn::Set(df, F16ToF32(x[i].d));
    const uint32_t qh = HighBits(x[i].qh);
    for (size_t j = 0; j < kQK / 2; j += N) {
      const auto q = LoadU8(x[i].qs + j);
      const auto lo = hn::Or(hn::And(q, low4), FifthBits(qh, j));
      const auto hi = hn::Or(hn::ShiftRight<4>(q), FifthBits(qh, j + kQK / 2));
      hn::StoreU(hn::Mul(hn::ConvertTo(df, hn::Sub(lo, sixteen)), d), df, y + j);
      hn::StoreU(hn::Mul(hn::ConvertTo(df, hn::Sub(hi, sixteen)), d), df, y + j + kQK / 2);
    }
  }
}

inline HWY_NOINLINE void Q5_1(const quant::BlockQ5_1* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
#if HWY_COMPILER_CLANG
#pragma clang fp contract(off)
#endif
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F);
  for (size_t i = 0; i < blocks; ++i, y += kQK) {
    const auto d = hn::Set(df, F16ToF32(x[i].d));
    const auto m = hn::Set(df, F16ToF32(x[i].m));
    const uint32_t qh = HighBits(x[i].qh);
    for (size_t j = 0; j < kQK / 2; j += N) {
      const auto q = LoadU8(x[i].qs + j);
      const auto lo = hn::ConvertTo(df, hn::Or(hn::And(q, low4), FifthBits(qh, j)));
      const auto hi = hn::ConvertTo(df, hn::Or(hn::ShiftRight<4>(q), FifthBits(qh, j + kQK / 2)));
      hn::StoreU(hn::Add(hn::Mul(lo, d), m), df, y + j);
      hn::StoreU(hn::Add(hn::Mul(hi, d), m), df, y + j + kQK / 2);
    }
  }
}

// Q4_K / Q5_K: four groups of 64 values; the low nibbles of 32 bytes are sub-block 2g
// (scale d1, min m1), the high nibbles sub-block 2g + 1. Q5_K adds bit 2g / 2g + 1 of qh[l].
inline HWY_NOINLINE void Q4_K(const quant::BlockQ4_K* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
#if HWY_COMPILER_CLANG
#pragma clang fp contract(off)
#endif
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F);
  for (size_t i = 0; i < blocks; ++i) {
    const uint8_t* HWY_RESTRICT q = x[i].qs;
    const float d = F16ToF32(x[i].d);
    const float min = F16ToF32(x[i].dmin);
    for (int g = 0; g < 4; ++g, q += 32, y += 64) {
      uint8_t sc, m;
      quant::ScaleMinK4(2 * g, x[i].scales, &sc, &m);
      const auto d1 = hn::Set(df, d * sc), m1 = hn::Set(df, min * m);
      quant::ScaleMinK4(2 * g + 1, x[i].scales, &sc, &m);
      const auto d2 = hn::Set(df, d * sc), m2 = hn::Set(df, min * m);
      for (size_t l = 0; l < 32; l += N) {
        const auto v = LoadU8(q + l);
        const auto lo = hn::ConvertTo(df, hn::And(v, low4));
        const auto hi = hn::ConvertTo(df, hn::ShiftRight<4>(v));
        hn::StoreU(hn::Sub(hn::Mul(d1, lo), m1), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, hi), m2), df, y + 32 + l);
      }
    }
  }
}

inline HWY_NOINLINE void Q5_K(const quant::BlockQ5_K* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
#if HWY_COMPILER_CLANG
#pragma clang fp contract(off)
#endif
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F), sixteen = hn::Set(di, 16);
  for (size_t i = 0; i < blocks; ++i) {
    const uint8_t* HWY_RESTRICT ql = x[i].qs;
    const uint8_t* HWY_RESTRICT qh = x[i].qh;
    const float d = F16ToF32(x[i].d);
    const float min = F16ToF32(x[i].dmin);
    for (int g = 0; g < 4; ++g, ql += 32, y += 64) {
      uint8_t sc, m;
      quant::ScaleMinK4(2 * g, x[i].scales, &sc, &m);
      const auto d1 = hn::Set(df, d * sc), m1 = hn::Set(df, min * m);
      quant::ScaleMinK4(2 * g + 1, x[i].scales, &sc, &m);
      const auto d2 = hn::Set(df, d * sc), m2 = hn::Set(df, min * m);
      const auto u1 = hn::Set(di, 1 << (2 * g)), u2 = hn::Set(di, 2 << (2 * g));
      for (size_t l = 0; l < 32; l += N) {
        const auto v = LoadU8(ql + l);
        const auto h = LoadU8(qh + l);
        const auto lo = hn::Add(hn::And(v, low4), hn::IfThenElseZero(hn::TestBit(h, u1), sixteen));
        const auto hi =
            hn::Add(hn::ShiftRight<4>(v), hn::IfThenElseZero(hn::TestBit(h, u2), sixteen));
        hn::StoreU(hn::Sub(hn::Mul(d1, hn::ConvertTo(df, lo)), m1), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, hn::ConvertTo(df, hi)), m2), df, y + 32 + l);
      }
    }
  }
}

// Q6_K: two halves of 128 values; byte l of ql (and of ql + 32) and of qh give values l,
// l + 32, l + 64, l + 96, each with the scale of its 16-value sub-block.
inline HWY_NOINLINE void Q6_K(const quant::BlockQ6_K* HWY_RESTRICT x, float* HWY_RESTRICT y,
                              size_t blocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto low4 = hn::Set(di, 0x0F), three = hn::Set(di, 3), offset = hn::Set(di, 32);
  for (size_t i = 0; i < blocks; ++i) {
    const float d = F16ToF32(x[i].d);
    const uint8_t* HWY_RESTRICT ql = x[i].ql;
    const uint8_t* HWY_RESTRICT qh = x[i].qh;
    const int8_t* HWY_RESTRICT sc = x[i].scales;
    for (int n = 0; n < quant::kQKK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (size_t l = 0; l < 32; l += N) {
        const size_t is = l / 16;
        const auto a = LoadU8(ql + l);
        const auto b = LoadU8(ql + 32 + l);
        const auto h = LoadU8(qh + l);
        const auto q1 = hn::Or(hn::And(a, low4), hn::ShiftLeft<4>(hn::And(h, three)));
        const auto q2 =
            hn::Or(hn::And(b, low4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), three)));
        const auto q3 =
            hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), three)));
        const auto q4 = hn::Or(hn::ShiftRight<4>(b), hn::ShiftLeft<4>(hn::ShiftRight<6>(h)));
        // The reference computes d * sc * q as (d * sc) * q.
        const auto s1 = hn::Set(df, d * sc[is + 0]), s2 = hn::Set(df, d * sc[is + 2]);
        const auto s3 = hn::Set(df, d * sc[is + 4]), s4 = hn::Set(df, d * sc[is + 6]);
        hn::StoreU(hn::Mul(s1, hn::ConvertTo(df, hn::Sub(q1, offset))), df, y + l);
        hn::StoreU(hn::Mul(s2, hn::ConvertTo(df, hn::Sub(q2, offset))), df, y + l + 32);
        hn::StoreU(hn::Mul(s3, hn::ConvertTo(df, hn::Sub(q3, offset))), df, y + l + 64);
        hn::StoreU(hn::Mul(s4, hn::ConvertTo(df, hn::Sub(q4, offset))), df, y + l + 96);
      }
    }
  }
}

// Converts `n` values (a multiple of the type's block size) starting at `blocks` to float32;
// `type` must be block-quantized.
inline void DequantizeBlocks(DType type, const void* HWY_RESTRICT blocks, float* HWY_RESTRICT out,
                             size_t n) {
  const size_t count = n / Traits(type).block_elements;
  switch (type) {
    case DType::kQ8_0:
      return Q8_0(static_cast<const quant::BlockQ8_0*>(blocks), out, count);
    case DType::kQ4_0:
      return Q4_0(static_cast<const quant::BlockQ4_0*>(blocks), out, count);
    case DType::kQ4_1:
      return Q4_1(static_cast<const quant::BlockQ4_1*>(blocks), out, count);
    case DType::kQ5_0:
      return Q5_0(static_cast<const quant::BlockQ5_0*>(blocks), out, count);
    case DType::kQ5_1:
      return Q5_1(static_cast<const quant::BlockQ5_1*>(blocks), out, count);
    case DType::kQ4_K:
      return Q4_K(static_cast<const quant::BlockQ4_K*>(blocks), out, count);
    case DType::kQ5_K:
      return Q5_K(static_cast<const quant::BlockQ5_K*>(blocks), out, count);
    case DType::kQ6_K:
      return Q6_K(static_cast<const quant::BlockQ6_K*>(blocks), out, count);
    default:
      Fail(ErrorCode::kInternal, "DequantizeBlocks: ", DTypeName(type), " is not block-quantized");
  }
}

}  // namespace simd_dequant
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_COMPILER_GCC_ACTUAL
#pragma GCC pop_options
#endif

#endif  // GEMMA_KERNELS_QUANT_DEQUANTIZE_BLOCKS_INL_H_
