// Decode products with block-quantized weights: y = W x for one token. Decode is bound by
// reading each weight once, so the weights are dequantized in registers, never stored.
// Two arithmetics (QuantDot in kernels/weight_matrix.h, docs/quantization.md):
//
// Float32 activations (QuantMatVecRows, Highway, every target): each block's integers are
// widened to int32 lanes, converted to float and multiplied with x by FMA. A block's scale
// multiplies the block's partial dot product (d * sum q x rather than sum (d q) x: one
// multiply per block instead of per value). Offsets (-8 of Q4_0, -16 of Q5_0, -32 of Q6_K) are
// applied to the integers before the conversion, so nothing cancels; minimums (Q4_1, Q5_1, Q4_K,
// Q5_K) use per-32 sums of x computed once per call.
//
// Int8 activations (QuantMatVecRowsInt8, x86 AVX2/AVX-512 and Arm dot products only): integer
// products with vpmaddubsw on x rounded once per call (int8_activations.h), for every
// block-quantized type; see the comment above the Int8 kernels below.
//
// Both process several rows together: independent weight streams for the prefetchers,
// independent accumulator chains for the FMA latency, and the same x in L1 for all of them.
// Every row is computed by the same sequence of operations whether it falls in a group or
// in the tail, so the result of a row does not depend on how rows are split between threads.

#include "kernels/simd_targets.h"
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant/quant_matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/dtype.h"
#include "hwy/highway.h"
#include "kernels/quant/blocks.h"
#include "kernels/quant/half_table.h"
#include "kernels/quant/int8_activations.h"
#include "kernels/quant/int8_avx2-inl.h"
#include "kernels/weight_matrix.h"

#ifndef GEMMA_KERNELS_QUANT_QUANT_MATVEC_ACTIVATIONS_
#define GEMMA_KERNELS_QUANT_QUANT_MATVEC_ACTIVATIONS_
namespace gemma::quant_matvec {
// The decode kernels split blocks into whole vectors: at most 16 lanes (Q6_K's sub-blocks
// are 16 values). Wider targets use the scalar reference.
constexpr size_t kMaxLanes = 16;

// The activation vector of a decode product, prepared once per call.
struct Activations {
  const float* x = nullptr;     // [cols]
  const float* xsum = nullptr;  // [cols / 32] sums of x per 32 values (minimums)
};
}  // namespace gemma::quant_matvec
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace gemma::quant_matvec;  // NOLINT(build/namespaces)
// Internal linkage: kernels/matmul.cc has helpers of the same names in the same namespace.
namespace {

HWY_INLINE uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// A block scale (float16 bits) as float32: one F16C instruction where available, so the
// conversion costs nothing next to the block's 32 products.
HWY_INLINE float HalfToFloat(uint16_t bits) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(bits);
#else
  return F16ToF32(bits);
#endif
}

// Kernels for one block of one row: acc += the products of block b with the activations.
// `bias` collects what is subtracted at the end (the minimums).

struct KernelQ8_0 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<int8_t, DF> d8;
    const size_t N = hn::Lanes(df);
    const int8_t* HWY_RESTRICT qs = reinterpret_cast<const int8_t*>(blk + 2);
    auto dot = hn::Zero(df);
    for (size_t k = 0; k < 32; k += N) {
      const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, qs + k)));
      dot = hn::MulAdd(q, hn::LoadU(df, x + k), dot);
    }
    return hn::MulAdd(hn::Set(df, HalfToFloat(LoadU16(blk))), dot, acc);
  }
};

struct KernelQ4_0 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ4_0);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const uint8_t* HWY_RESTRICT qs = blk + 2;
    const auto low4 = hn::Set(di, 15);
    const auto eight = hn::Set(di, 8);
    auto dot = hn::Zero(df);
    // Byte j holds value j (low nibble) and value j + 16 (high nibble).
    for (size_t k = 0; k < 16; k += N) {
      const auto v = hn::PromoteTo(di, hn::LoadU(du8, qs + k));
      const auto lo = hn::ConvertTo(df, hn::Sub(hn::And(v, low4), eight));
      const auto hi = hn::ConvertTo(df, hn::Sub(hn::ShiftRight<4>(v), eight));
      dot = hn::MulAdd(lo, hn::LoadU(df, x + k), dot);
      dot = hn::MulAdd(hi, hn::LoadU(df, x + 16 + k), dot);
    }
    return hn::MulAdd(hn::Set(df, HalfToFloat(LoadU16(blk))), dot, acc);
  }
};

// Q4_1, Q5_0 and Q5_1: value j = d * u_j + m (Q5_0: d * (u_j - 16)), u_j the nibble of byte
// j % 16 (low for j < 16) plus, for the Q5 types, 16 times bit j of the 32-bit qh. Q5_0's
// offset is applied to the integers, as Q4_0's; the minimum m (float16) is m * (sum of x
// over the block), into `bias`.
template <size_t kBlockBytes, size_t kQsAt, bool kFifthBit, bool kHasMin>
struct KernelQ32 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 32, kBytes = kBlockBytes;
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float& bias) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::RebindToUnsigned<DF> du;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const uint8_t* HWY_RESTRICT qs = blk + kQsAt;
    uint32_t qh = 0;
    if constexpr (kFifthBit) std::memcpy(&qh, blk + kQsAt - 4, sizeof(qh));
    const auto low4 = hn::Set(di, 15);
    const auto one = hn::Set(du, 1);
    auto dot = hn::Zero(df);
    for (size_t k = 0; k < 16; k += N) {
      const auto v = hn::PromoteTo(di, hn::LoadU(du8, qs + k));
      auto lo = hn::And(v, low4), hi = hn::ShiftRight<4>(v);
      if constexpr (kFifthBit) {
        // Bits k + lane and k + 16 + lane of qh, moved to bit 4.
        const auto lane = hn::Iota(du, static_cast<uint32_t>(k));
        const auto h = hn::Set(du, qh);
        lo = hn::Or(lo, hn::BitCast(di, hn::ShiftLeft<4>(hn::And(hn::Shr(h, lane), one))));
        hi = hn::Or(hi, hn::BitCast(di, hn::ShiftLeft<4>(hn::And(
                                            hn::Shr(h, hn::Add(lane, hn::Set(du, 16))), one))));
      }
      if constexpr (!kHasMin) {
        lo = hn::Sub(lo, hn::Set(di, 16));
        hi = hn::Sub(hi, hn::Set(di, 16));
      }
      dot = hn::MulAdd(hn::ConvertTo(df, lo), hn::LoadU(df, x + k), dot);
      dot = hn::MulAdd(hn::ConvertTo(df, hi), hn::LoadU(df, x + 16 + k), dot);
    }
    if constexpr (kHasMin) {
      // Explicit fma: the same rounding in every inlined copy of this code.
      bias = std::fma(-HalfToFloat(LoadU16(blk + 2)), act.xsum[b], bias);
    }
    return hn::MulAdd(hn::Set(df, HalfToFloat(LoadU16(blk))), dot, acc);
  }
};
using KernelQ4_1 = KernelQ32<sizeof(quant::BlockQ4_1), 4, false, true>;
using KernelQ5_0 = KernelQ32<sizeof(quant::BlockQ5_0), 6, true, false>;
using KernelQ5_1 = KernelQ32<sizeof(quant::BlockQ5_1), 8, true, true>;

// Q4_K and Q5_K (kFiveBits: value l of sub-block s also takes 16 times bit s of qh[l % 32],
// ggml's dequantize_row_q5_K).
template <bool kFiveBits>
struct KernelK4 {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 256;
  static constexpr size_t kBytes = kFiveBits ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float& bias) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const float* HWY_RESTRICT xsum = act.xsum + b * (kValues / 32);
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const float d = HalfToFloat(LoadU16(blk));
    const float dmin = HalfToFloat(LoadU16(blk + 2));
    const uint8_t* scales = blk + 4;
    const uint8_t* HWY_RESTRICT qs = blk + (kFiveBits ? 48 : 16);
    const uint8_t* HWY_RESTRICT qh = blk + 16;
    const auto low4 = hn::Set(di, 15);
    const auto bit4 = hn::Set(di, 16);
    // 64 values per 32 bytes: low nibbles are sub-block 2j, high nibbles sub-block 2j + 1.
    for (int j = 0; j < 4; ++j) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      quant::ScaleMinK4(2 * j, scales, &sc_lo, &m_lo);
      quant::ScaleMinK4(2 * j + 1, scales, &sc_hi, &m_hi);
      const uint8_t* HWY_RESTRICT q = qs + 32 * j;
      const float* HWY_RESTRICT xj = x + 64 * j;
      auto dot_lo = hn::Zero(df), dot_hi = hn::Zero(df);
      for (size_t k = 0; k < 32; k += N) {
        const auto v = hn::PromoteTo(di, hn::LoadU(du8, q + k));
        auto lo = hn::And(v, low4), hi = hn::ShiftRight<4>(v);
        if constexpr (kFiveBits) {
          // Bits 2j and 2j + 1 of qh[k + lane], moved to bit 4.
          const auto h = hn::PromoteTo(di, hn::LoadU(du8, qh + k));
          lo = hn::Or(lo, hn::And(hn::ShiftLeft<4>(hn::ShiftRightSame(h, 2 * j)), bit4));
          hi = hn::Or(hi, hn::And(hn::ShiftLeft<4>(hn::ShiftRightSame(h, 2 * j + 1)), bit4));
        }
        dot_lo = hn::MulAdd(hn::ConvertTo(df, lo), hn::LoadU(df, xj + k), dot_lo);
        dot_hi = hn::MulAdd(hn::ConvertTo(df, hi), hn::LoadU(df, xj + 32 + k), dot_hi);
      }
      acc = hn::MulAdd(hn::Set(df, d * sc_lo), dot_lo, acc);
      acc = hn::MulAdd(hn::Set(df, d * sc_hi), dot_hi, acc);
      // Explicit fma: the same rounding in every inlined copy of this code.
      bias = std::fma(dmin * m_lo, xsum[2 * j], bias);
      bias = std::fma(dmin * m_hi, xsum[2 * j + 1], bias);
    }
    return acc;
  }
};

struct KernelQ6_K {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K);
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Dot(DF df, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                    size_t b, hn::Vec<DF> acc, float&) {
    const float* HWY_RESTRICT x = act.x + b * kValues;
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    const size_t N = hn::Lanes(df);
    const uint8_t* HWY_RESTRICT ql = blk;
    const uint8_t* HWY_RESTRICT qh = blk + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float d = HalfToFloat(LoadU16(blk + 208));
    const auto low4 = hn::Set(di, 15);
    const auto bits45 = hn::Set(di, 0x30);
    const auto offset = hn::Set(di, 32);
    // Each half of 128 values: byte l of ql (64 bytes) and qh (32 bytes) gives values l,
    // l + 32, l + 64, l + 96; the scale changes every 16 values of l.
    for (int n = 0; n < 2; ++n) {
      for (int s = 0; s < 2; ++s) {
        auto p1 = hn::Zero(df), p2 = hn::Zero(df), p3 = hn::Zero(df), p4 = hn::Zero(df);
        for (size_t l = 16 * size_t(s); l < 16 * size_t(s) + 16; l += N) {
          const auto a = hn::PromoteTo(di, hn::LoadU(du8, ql + l));
          const auto b = hn::PromoteTo(di, hn::LoadU(du8, ql + 32 + l));
          const auto h = hn::PromoteTo(di, hn::LoadU(du8, qh + l));
          const auto q1 = hn::Or(hn::And(a, low4), hn::And(hn::ShiftLeft<4>(h), bits45));
          const auto q2 = hn::Or(hn::And(b, low4), hn::And(hn::ShiftLeft<2>(h), bits45));
          const auto q3 = hn::Or(hn::ShiftRight<4>(a), hn::And(h, bits45));
          const auto q4 = hn::Or(hn::ShiftRight<4>(b), hn::And(hn::ShiftRight<2>(h), bits45));
          p1 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q1, offset)), hn::LoadU(df, x + l), p1);
          p2 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q2, offset)), hn::LoadU(df, x + 32 + l), p2);
          p3 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q3, offset)), hn::LoadU(df, x + 64 + l), p3);
          p4 = hn::MulAdd(hn::ConvertTo(df, hn::Sub(q4, offset)), hn::LoadU(df, x + 96 + l), p4);
        }
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 0])), p1, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 2])), p2, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 4])), p3, acc);
        acc = hn::MulAdd(hn::Set(df, d * static_cast<float>(sc[s + 6])), p4, acc);
      }
      ql += 64;
      qh += 32;
      sc += 8;
      x += 128;
    }
    return acc;
  }
};

using KernelQ4_K = KernelK4<false>;
using KernelQ5_K = KernelK4<true>;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// Integer kernels (QuantDot::kInt8): the arithmetic of each block is in int8_avx2-inl.h,
// shared with the batched kernels (quant_matvec_batch.cc).
using int8_avx2::FinishQ4_0Rows;
using int8_avx2::Int8Q4_0;
using int8_avx2::Int8Q4_1;
using int8_avx2::Int8Q4_K;
using int8_avx2::Int8Q5_0;
using int8_avx2::Int8Q5_1;
using int8_avx2::Int8Q5_K;
using int8_avx2::Int8Q6_K;
using int8_avx2::Int8Q8_0;
using int8_avx2::MultiplyQ4_0Pair;
using int8_avx2::Q4_0Pair;
using int8_avx2::UnpackQ4_0Pair;
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

// y[r] for r in [row_begin, row_end).
template <class K>
void MatVecRowsT(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                 float* y, size_t row_begin, size_t row_end) {
  const typename K::Tag df;
  const size_t blocks = cols / K::kValues;
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  const auto finish = [&](auto acc, float bias) {
    return hn::GetLane(hn::SumOfLanes(df, acc)) - bias;
  };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    const uint8_t* HWY_RESTRICT w1 = row_ptr(r + 1);
    const uint8_t* HWY_RESTRICT w2 = row_ptr(r + 2);
    const uint8_t* HWY_RESTRICT w3 = row_ptr(r + 3);
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t off = b * K::kBytes;
      a0 = K::Dot(df, w0 + off, act, b, a0, b0);
      a1 = K::Dot(df, w1 + off, act, b, a1, b1);
      a2 = K::Dot(df, w2 + off, act, b, a2, b2);
      a3 = K::Dot(df, w3 + off, act, b, a3, b3);
    }
    y[r + 0] = finish(a0, b0);
    y[r + 1] = finish(a1, b1);
    y[r + 2] = finish(a2, b2);
    y[r + 3] = finish(a3, b3);
  }
  for (; r < row_end; ++r) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    auto a0 = hn::Zero(df);
    float b0 = 0.0f;
    for (size_t b = 0; b < blocks; ++b) a0 = K::Dot(df, w0 + b * K::kBytes, act, b, a0, b0);
    y[r] = finish(a0, b0);
  }
}

// Lanes of this target, so the caller can fall back when a block is not whole vectors.
size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

#define GEMMA_MATVEC_ROWS(name, kernel)                                                   \
  void name(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act, \
            float* y, size_t row_begin, size_t row_end) {                                 \
    MatVecRowsT<kernel>(data, row_bytes, cols, act, y, row_begin, row_end);               \
  }
GEMMA_MATVEC_ROWS(MatVecRowsQ8_0, KernelQ8_0)
GEMMA_MATVEC_ROWS(MatVecRowsQ4_0, KernelQ4_0)
GEMMA_MATVEC_ROWS(MatVecRowsQ4_1, KernelQ4_1)
GEMMA_MATVEC_ROWS(MatVecRowsQ5_0, KernelQ5_0)
GEMMA_MATVEC_ROWS(MatVecRowsQ5_1, KernelQ5_1)
GEMMA_MATVEC_ROWS(MatVecRowsQ4_K, KernelQ4_K)
GEMMA_MATVEC_ROWS(MatVecRowsQ5_K, KernelQ5_K)
GEMMA_MATVEC_ROWS(MatVecRowsQ6_K, KernelQ6_K)
#undef GEMMA_MATVEC_ROWS

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// y[r] for r in [row_begin, row_end), K::kRows rows at a time (independent weight streams
// and accumulator chains); a row's result does not depend on its group.
template <class K>
void Int8RowsT(const std::byte* data, size_t row_bytes, size_t cols,
               const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / K::kValues;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  const size_t prefetch_distance = K::kRows * row_bytes;
  size_t r = row_begin;
  for (; r + K::kRows <= row_end; r += K::kRows) {
    const uint8_t* HWY_RESTRICT w[K::kRows];
    typename K::Acc acc[K::kRows];
    for (size_t i = 0; i < K::kRows; ++i) w[i] = row_ptr(r + i);
    for (size_t b = 0; b < blocks; ++b) {
#pragma GCC unroll 4
      for (size_t i = 0; i < K::kRows; ++i) {
        // The next group's rows at the same offset (see Int8RowsQ4_0).
        for (size_t line = 0; line < K::kBytes; line += 64) {
          _mm_prefetch(
              reinterpret_cast<const char*>(w[i] + prefetch_distance + b * K::kBytes + line),
              _MM_HINT_T0);
        }
        K::Dot(w[i] + b * K::kBytes, act, b, acc[i], half);
      }
    }
    for (size_t i = 0; i < K::kRows; ++i) y[r + i] = K::Finish(acc[i]);
  }
  for (; r < row_end; ++r) {
    const uint8_t* HWY_RESTRICT w0 = row_ptr(r);
    typename K::Acc acc;
    for (size_t b = 0; b < blocks; ++b) K::Dot(w0 + b * K::kBytes, act, b, acc, half);
    y[r] = K::Finish(acc);
  }
}

// Q4_0, four rows and two blocks at a time. Per-block work that does not involve the
// values is done for all eight (row, block) pairs at once: their float16 scales are
// gathered with integer loads into one vector and converted by one vcvtph2ps, multiplied
// by the activation scales (d4), and the offset term is one FMA (dsum4); each row then
// takes its two scales with one vpermps. The two blocks' values share the vector ops:
// low nibbles of both blocks in one register, high nibbles in another (the activations
// are stored in that order, q_pairs), so the products of both blocks need 2 vpmaddubsw,
// 1 vpaddw (pair sums <= 4 * 15 * 127 fit int16), 1 vpmaddwd, 1 conversion and 1 FMA.
//
// Rows w[0 .. kRows) of a group into y[0 .. kRows): kRows is 4, or 1 for the rows left over,
// with w[] holding that row four times (the lanes of the other three are computed and
// unused), so a row gets the same operations in either case.
template <int kRows>
HWY_INLINE void Int8GroupQ4_0(const uint8_t* const w[4], size_t blocks, size_t prefetch_distance,
                              const quant::Int8Activations& act, const float* HWY_RESTRICT half,
                              float* y) {
  constexpr size_t kBytes = sizeof(quant::BlockQ4_0);
  __m256 acc[kRows] = {};
  __m256 offset = _mm256_setzero_ps();  // lanes i and i + 4: row i
  for (size_t p = 0; p < blocks / 2; ++p) {
    const size_t off = 2 * p * kBytes;
    for (int i = 0; i < kRows; ++i) {
      // The next group's rows, at the same offset: rows are short (1152 bytes at 2048
      // columns), too short for the hardware prefetchers to ramp up on each of them.
      _mm_prefetch(reinterpret_cast<const char*>(w[i] + prefetch_distance + off), _MM_HINT_T0);
    }
    Q4_0Pair u;
    UnpackQ4_0Pair<kRows>(w, off, u);
    MultiplyQ4_0Pair<kRows>(u, act, p, acc, offset);
  }
  FinishQ4_0Rows(w, kRows, blocks, act, half, acc, offset, y);
}

void Int8RowsQ4_0(const std::byte* data, size_t row_bytes, size_t cols,
                  const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / 32;
  const float* HWY_RESTRICT half = HalfToFloatTable();
  const auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  };
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* w[4] = {row_ptr(r), row_ptr(r + 1), row_ptr(r + 2), row_ptr(r + 3)};
    Int8GroupQ4_0<4>(w, blocks, 4 * row_bytes, act, half, y + r);
  }
  for (; r < row_end; ++r) {
    const uint8_t* w[4] = {row_ptr(r), row_ptr(r), row_ptr(r), row_ptr(r)};
    Int8GroupQ4_0<1>(w, blocks, row_bytes, act, half, y + r);
  }
}

bool HasInt8Kernels() { return true; }
#define GEMMA_INT8_ROWS(name, kernel)                                                        \
  void name(const std::byte* data, size_t row_bytes, size_t cols,                            \
            const quant::Int8Activations& act, float* y, size_t row_begin, size_t row_end) { \
    Int8RowsT<kernel>(data, row_bytes, cols, act, y, row_begin, row_end);                    \
  }
#else
bool HasInt8Kernels() { return false; }
// Never called: HasInt8MatVec is false on this target.
#define GEMMA_INT8_ROWS(name, kernel)                                                        \
  void name(const std::byte*, size_t, size_t, const quant::Int8Activations&, float*, size_t, \
            size_t) {}
GEMMA_INT8_ROWS(Int8RowsQ4_0, Int8Q4_0)
#endif
GEMMA_INT8_ROWS(Int8RowsQ8_0, Int8Q8_0)
GEMMA_INT8_ROWS(Int8RowsQ4_1, Int8Q4_1)
GEMMA_INT8_ROWS(Int8RowsQ5_0, Int8Q5_0)
GEMMA_INT8_ROWS(Int8RowsQ5_1, Int8Q5_1)
GEMMA_INT8_ROWS(Int8RowsQ4_K, Int8Q4_K)
GEMMA_INT8_ROWS(Int8RowsQ5_K, Int8Q5_K)
GEMMA_INT8_ROWS(Int8RowsQ6_K, Int8Q6_K)
#undef GEMMA_INT8_ROWS

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

#include "base/error.h"
#include "kernels/arm/int8_matvec_neon.h"
#include "kernels/cpu_features.h"
#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"
#include "kernels/x86/int8_matvec_avx512.h"

namespace gemma {

HWY_EXPORT(FloatLanes);
HWY_EXPORT(HasInt8Kernels);
HWY_EXPORT(Int8RowsQ8_0);
HWY_EXPORT(Int8RowsQ4_0);
HWY_EXPORT(Int8RowsQ4_1);
HWY_EXPORT(Int8RowsQ5_0);
HWY_EXPORT(Int8RowsQ5_1);
HWY_EXPORT(Int8RowsQ4_K);
HWY_EXPORT(Int8RowsQ5_K);
HWY_EXPORT(Int8RowsQ6_K);
HWY_EXPORT(MatVecRowsQ8_0);
HWY_EXPORT(MatVecRowsQ4_0);
HWY_EXPORT(MatVecRowsQ4_1);
HWY_EXPORT(MatVecRowsQ5_0);
HWY_EXPORT(MatVecRowsQ5_1);
HWY_EXPORT(MatVecRowsQ4_K);
HWY_EXPORT(MatVecRowsQ5_K);
HWY_EXPORT(MatVecRowsQ6_K);

namespace {

using MatVecFn = void (*)(const std::byte*, size_t, size_t, const quant_matvec::Activations&,
                          float*, size_t, size_t);

// The SIMD decode kernel for `dtype`, or nullptr where only the reference exists.
MatVecFn SimdMatVecFn(DType dtype) {
  if (HWY_DYNAMIC_DISPATCH(FloatLanes)() > quant_matvec::kMaxLanes) return nullptr;
  switch (dtype) {
    case DType::kQ8_0:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ8_0);
    case DType::kQ4_0:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_0);
    case DType::kQ4_1:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_1);
    case DType::kQ5_0:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ5_0);
    case DType::kQ5_1:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ5_1);
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_K);
    case DType::kQ5_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ5_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ6_K);
    default:
      return nullptr;
  }
}

// Sums of x over each 32 values (the minimums of Q4_1, Q5_1, Q4_K, Q5_K), in the calling thread's
// buffer, which grows to the widest matrix seen and is then reused (no allocation per call).
void PrepareActivations(const float* x, size_t cols, bool sums, quant_matvec::Activations& act) {
  thread_local std::vector<float> xsum;
  act.x = x;
  if (!sums) return;
  const size_t blocks = cols / 32;
  if (xsum.size() < blocks) xsum.resize(blocks);
  for (size_t b = 0; b < blocks; ++b) {
    float s = 0.0f;
    for (size_t i = 0; i < 32; ++i) s += x[b * 32 + i];
    xsum[b] = s;
  }
  act.xsum = xsum.data();
}

using Int8Fn = void (*)(const std::byte*, size_t, size_t, const quant::Int8Activations&, float*,
                        size_t, size_t);

Int8Fn Int8MatVecFn(DType dtype) {
  if (!HWY_DYNAMIC_DISPATCH(HasInt8Kernels)()) return nullptr;
  switch (dtype) {
    case DType::kQ8_0:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ8_0);
    case DType::kQ4_0:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ4_0);
    case DType::kQ4_1:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ4_1);
    case DType::kQ5_0:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ5_0);
    case DType::kQ5_1:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ5_1);
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ4_K);
    case DType::kQ5_K:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ5_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(Int8RowsQ6_K);
    default:
      return nullptr;
  }
}

}  // namespace

// Activations stay float32 and weights are dequantized exactly as ggml does (in registers),
// so the products are those of the file's weights (see docs/quantization.md).
void QuantMatVecRows(const WeightMatrix& w, const float* x, float* y, size_t row_begin,
                     size_t row_end) {
  if (row_begin >= row_end) return;
  const MatVecFn fn = SimdMatVecFn(w.dtype);
  if (fn == nullptr) {
    quant::ReferenceMatVecRows(w, x, y, row_begin, row_end);
    return;
  }
  quant_matvec::Activations act;
  // Sums of x for the types with minimums.
  const bool sums = w.dtype == DType::kQ4_1 || w.dtype == DType::kQ5_1 || w.dtype == DType::kQ4_K ||
                    w.dtype == DType::kQ5_K;
  PrepareActivations(x, w.cols, sums, act);
  fn(w.data, w.row_bytes, w.cols, act, y, row_begin, row_end);
}

// The AVX-512 VNNI kernels (kernels/x86/int8_matvec_avx512.h) where the CPU has them and
// the tests have not switched them off.
bool UsesVnni512(DType dtype) {
  return CpuFeatureEnabled(kCpuAvx512Vnni) && x86::HasInt8MatVecAvx512Vnni(dtype);
}

// The Arm dot-product kernels (kernels/arm/int8_matvec_neon.h) where the CPU has sdot.
bool UsesNeonDot(DType dtype) {
  return CpuFeatureEnabled(kCpuNeonDot) && arm::HasInt8MatVecNeonDot(dtype);
}

bool HasInt8MatVec(DType dtype) {
  return UsesVnni512(dtype) || UsesNeonDot(dtype) || Int8MatVecFn(dtype) != nullptr;
}

void QuantMatVecRowsInt8(const WeightMatrix& w, const quant::Int8Activations& x, float* y,
                         size_t row_begin, size_t row_end) {
  if (row_begin >= row_end) return;
  const bool vnni = UsesVnni512(w.dtype);
  const bool neon_dot = UsesNeonDot(w.dtype);
  const Int8Fn fn = Int8MatVecFn(w.dtype);
  if (!vnni && !neon_dot && fn == nullptr) {
    Fail(ErrorCode::kInternal, "QuantMatVecRowsInt8: no integer kernel for ", DTypeName(w.dtype),
         " on this CPU");
  }
  if (x.cols != w.cols) {
    Fail(ErrorCode::kInternal, "QuantMatVecRowsInt8: ", x.cols, " activations for ", w.cols,
         " columns");
  }
  if (vnni) {
    x86::Int8MatVecRowsAvx512Vnni(w, x, y, row_begin, row_end);
  } else if (neon_dot) {
    arm::Int8MatVecRowsNeonDot(w, x, y, row_begin, row_end);
  } else {
    fn(w.data, w.row_bytes, w.cols, x, y, row_begin, row_end);
  }
}

}  // namespace gemma
#endif  // HWY_ONCE
