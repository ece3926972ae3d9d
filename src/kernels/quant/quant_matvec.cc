// Decode products with block-quantized weights: y = W x for one token (QuantMatVecRows).
// float32 activations (docs/quantization.md says why).
//
// Decode (QuantMatVecRows) is bound by reading the weights once, so the weights are
// dequantized in registers, never stored: each block's integers are widened to int32 lanes,
// converted to float and multiplied with x by FMA. A block's scale multiplies the block's
// partial dot product (d * sum q x rather than sum (d q) x: one multiply per block instead of
// per value). Offsets (-8 of Q4_0, -32 of Q6_K) are applied to the integers before the
// conversion, so nothing cancels; Q4_K's minimums use per-32 sums of x computed once per
// call. Four rows are processed together: four independent weight streams for the
// prefetchers, four independent accumulator chains for the FMA latency, and the same x
// values in L1 for all four. Every row is computed by the same sequence of operations
// whether it falls in a group of four or in the tail, so the result of a row does not depend
// on how rows are split between threads.

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
  const float* xsum = nullptr;  // [cols / 32] sums of x per 32 values (Q4_K's minimums)
  const int16_t* xq = nullptr;  // [cols] x ~= xd[c / 32] * xq[c] (the int16 kernels)
  const float* xd = nullptr;    // [cols / 32]
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
// `bias` collects what is subtracted at the end (Q4_K's minimums).

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

struct KernelQ4_K {
  using Tag = hn::ScalableTag<float>;
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ4_K);
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
    const uint8_t* HWY_RESTRICT qs = blk + 16;
    const auto low4 = hn::Set(di, 15);
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
        dot_lo = hn::MulAdd(hn::ConvertTo(df, hn::And(v, low4)), hn::LoadU(df, xj + k), dot_lo);
        dot_hi =
            hn::MulAdd(hn::ConvertTo(df, hn::ShiftRight<4>(v)), hn::LoadU(df, xj + 32 + k), dot_hi);
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

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// x86 kernels with int16 activations: each 32-value block of x is rounded to int16 with its
// own scale (xd = max|x| / 32767, a relative error of at most 1.5e-5 of the block's largest
// value), so the weights only need widening to int16 and vpmaddwd does 16 products per
// instruction, twice the products of an FMA and without the int32 -> float conversion of
// every value. The block's integer sum is converted once and scaled by d_w * d_x.
using Tag256 = hn::Full256<float>;

HWY_INLINE __m256i LoadI16(const int16_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
HWY_INLINE __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
HWY_INLINE __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
// acc += float(p) * scale
HWY_INLINE hn::Vec<Tag256> ScaleAdd(__m256i p, float scale, hn::Vec<Tag256> acc) {
  return hn::Vec<Tag256>{_mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc.raw)};
}
// Products of 32 int8 weights (signed) with 32 int16 activations, summed in pairs.
HWY_INLINE __m256i DotS8(__m256i q, const int16_t* xq) {
  return _mm256_add_epi32(
      _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), LoadI16(xq)),
      _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), LoadI16(xq + 16)));
}
HWY_INLINE __m256i DotU8(__m256i q, const int16_t* xq) {
  return _mm256_add_epi32(
      _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(q)), LoadI16(xq)),
      _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(q, 1)), LoadI16(xq + 16)));
}

struct Int16KernelQ8_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ8_0);
  using Tag = Tag256;
  static HWY_INLINE hn::Vec<Tag> Dot(Tag, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                     size_t b, hn::Vec<Tag> acc, float&) {
    const __m256i p = DotS8(Load256(blk + 2), act.xq + 32 * b);
    return ScaleAdd(p, HalfToFloat(LoadU16(blk)) * act.xd[b], acc);
  }
};

struct Int16KernelQ4_0 {
  static constexpr size_t kValues = 32, kBytes = sizeof(quant::BlockQ4_0);
  using Tag = Tag256;
  static HWY_INLINE hn::Vec<Tag> Dot(Tag, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                     size_t b, hn::Vec<Tag> acc, float&) {
    const int16_t* xq = act.xq + 32 * b;
    const __m256i w = _mm256_cvtepu8_epi16(Load128(blk + 2));  // byte j: values j, j + 16
    const __m256i eight = _mm256_set1_epi16(8);
    const __m256i lo = _mm256_sub_epi16(_mm256_and_si256(w, _mm256_set1_epi16(15)), eight);
    const __m256i hi = _mm256_sub_epi16(_mm256_srli_epi16(w, 4), eight);
    const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(lo, LoadI16(xq)),
                                       _mm256_madd_epi16(hi, LoadI16(xq + 16)));
    return ScaleAdd(p, HalfToFloat(LoadU16(blk)) * act.xd[b], acc);
  }
};

struct Int16KernelQ4_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ4_K);
  using Tag = Tag256;
  static HWY_INLINE hn::Vec<Tag> Dot(Tag, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                     size_t b, hn::Vec<Tag> acc, float& bias) {
    const float d = HalfToFloat(LoadU16(blk));
    const float dmin = HalfToFloat(LoadU16(blk + 2));
    const uint8_t* scales = blk + 4;
    const uint8_t* HWY_RESTRICT qs = blk + 16;
    const int16_t* xq = act.xq + 256 * b;
    const float* xd = act.xd + 8 * b;
    const float* xsum = act.xsum + 8 * b;
    const __m256i low4 = _mm256_set1_epi8(15);
    for (int j = 0; j < 4; ++j) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      quant::ScaleMinK4(2 * j, scales, &sc_lo, &m_lo);
      quant::ScaleMinK4(2 * j + 1, scales, &sc_hi, &m_hi);
      const __m256i v = Load256(qs + 32 * j);
      const __m256i lo = _mm256_and_si256(v, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      acc = ScaleAdd(DotU8(lo, xq + 64 * j), d * sc_lo * xd[2 * j], acc);
      acc = ScaleAdd(DotU8(hi, xq + 64 * j + 32), d * sc_hi * xd[2 * j + 1], acc);
      bias = std::fma(dmin * m_lo, xsum[2 * j], bias);
      bias = std::fma(dmin * m_hi, xsum[2 * j + 1], bias);
    }
    return acc;
  }
};

struct Int16KernelQ6_K {
  static constexpr size_t kValues = 256, kBytes = sizeof(quant::BlockQ6_K);
  using Tag = Tag256;
  // 32 signed 6-bit values (two sub-blocks of 16) times their scales times xq.
  static HWY_INLINE __m256i Dot32(__m256i q, int sc0, int sc1, const int16_t* xq) {
    // |q * sc| <= 32 * 128 fits int16; each int32 lane then sums at most 4 products.
    const __m256i q0 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)),
                                          _mm256_set1_epi16(static_cast<int16_t>(sc0)));
    const __m256i q1 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)),
                                          _mm256_set1_epi16(static_cast<int16_t>(sc1)));
    return _mm256_add_epi32(_mm256_madd_epi16(q0, LoadI16(xq)),
                            _mm256_madd_epi16(q1, LoadI16(xq + 16)));
  }
  static HWY_INLINE hn::Vec<Tag> Dot(Tag, const uint8_t* HWY_RESTRICT blk, const Activations& act,
                                     size_t b, hn::Vec<Tag> acc, float&) {
    const uint8_t* HWY_RESTRICT ql = blk;
    const uint8_t* HWY_RESTRICT qh = blk + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float d = HalfToFloat(LoadU16(blk + 208));
    const int16_t* xq = act.xq + 256 * b;
    const float* xd = act.xd + 8 * b;
    const __m256i low4 = _mm256_set1_epi8(15);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const __m256i offset = _mm256_set1_epi8(32);
    // Byte l of each half's ql (64 bytes) and qh (32 bytes) gives values l, l + 32, l + 64,
    // l + 96 of the half (ggml's dequantize_row_q6_K).
    for (int n = 0; n < 2; ++n) {
      const __m256i a = Load256(ql), c = Load256(ql + 32), h = Load256(qh);
      const __m256i q1 =
          _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(a, low4),
                                          _mm256_and_si256(_mm256_slli_epi16(h, 4), bits45)),
                          offset);
      const __m256i q2 =
          _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(c, low4),
                                          _mm256_and_si256(_mm256_slli_epi16(h, 2), bits45)),
                          offset);
      const __m256i q3 =
          _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low4),
                                          _mm256_and_si256(h, bits45)),
                          offset);
      const __m256i q4 =
          _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low4),
                                          _mm256_and_si256(_mm256_srli_epi16(h, 2), bits45)),
                          offset);
      acc = ScaleAdd(Dot32(q1, sc[0], sc[1], xq), d * xd[0], acc);
      acc = ScaleAdd(Dot32(q2, sc[2], sc[3], xq + 32), d * xd[1], acc);
      acc = ScaleAdd(Dot32(q3, sc[4], sc[5], xq + 64), d * xd[2], acc);
      acc = ScaleAdd(Dot32(q4, sc[6], sc[7], xq + 96), d * xd[3], acc);
      ql += 64;
      qh += 32;
      sc += 8;
      xq += 128;
      xd += 4;
    }
    return acc;
  }
};

// Off: with int16 activations the logits of llama.cpp's files land 1.5e-4 to 2.5e-4 (of
// max|logit|) from the exact ones (tests/model/gguf_logits_test.cc wants 1e-4), for
// 1.1-1.4x the float kernels' speed under load. Kept, tested (flip the switch and run
// tests/kernels/quant_matmul_test) and measured in docs/quantization.md, for a future
// opt-in "fast arithmetic" mode.
constexpr bool kInt16Activations = false;
using FastKernelQ8_0 = std::conditional_t<kInt16Activations, Int16KernelQ8_0, KernelQ8_0>;
using FastKernelQ4_0 = std::conditional_t<kInt16Activations, Int16KernelQ4_0, KernelQ4_0>;
// Q4_K's int16 kernel measured no faster than the float one (the scalar scale/min work per
// 32 values dominates).
using FastKernelQ4_K = std::conditional_t<kInt16Activations, KernelQ4_K, KernelQ4_K>;
using FastKernelQ6_K = std::conditional_t<kInt16Activations, Int16KernelQ6_K, KernelQ6_K>;
bool UsesInt16Activations() { return kInt16Activations; }
#else
using FastKernelQ8_0 = KernelQ8_0;
using FastKernelQ4_0 = KernelQ4_0;
using FastKernelQ4_K = KernelQ4_K;
using FastKernelQ6_K = KernelQ6_K;
bool UsesInt16Activations() { return false; }
#endif

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

void MatVecRowsQ8_0(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ8_0>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ4_0(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ4_0>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ4_K(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ4_K>(data, row_bytes, cols, act, y, row_begin, row_end);
}
void MatVecRowsQ6_K(const std::byte* data, size_t row_bytes, size_t cols, const Activations& act,
                    float* y, size_t row_begin, size_t row_end) {
  MatVecRowsT<FastKernelQ6_K>(data, row_bytes, cols, act, y, row_begin, row_end);
}

}  // namespace
}  // namespace gemma::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

#include "kernels/quant/quant_matmul.h"
#include "kernels/quant/quant_matmul_reference.h"

namespace gemma {

HWY_EXPORT(FloatLanes);
HWY_EXPORT(UsesInt16Activations);
HWY_EXPORT(MatVecRowsQ8_0);
HWY_EXPORT(MatVecRowsQ4_0);
HWY_EXPORT(MatVecRowsQ4_K);
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
    case DType::kQ4_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ4_K);
    case DType::kQ6_K:
      return HWY_DYNAMIC_DISPATCH(MatVecRowsQ6_K);
    default:
      return nullptr;
  }
}

// The calling thread's buffers for the prepared activations: they grow to the widest matrix
// seen and are then reused (no allocation per call).
struct ActivationBuffers {
  std::vector<float> xsum, xd;
  std::vector<int16_t> xq;
};

// Sums of x over each 32 values, and x rounded to int16 per 32-value block for the int16
// kernels. False if x holds a NaN or infinity (the caller then uses the float reference,
// which propagates it).
bool PrepareActivations(const float* x, size_t cols, bool sums, bool int16,
                        quant_matvec::Activations& act) {
  thread_local ActivationBuffers buf;
  const size_t blocks = cols / 32;
  act.x = x;
  if (sums) {
    if (buf.xsum.size() < blocks) buf.xsum.resize(blocks);
    for (size_t b = 0; b < blocks; ++b) {
      float s = 0.0f;
      for (size_t i = 0; i < 32; ++i) s += x[b * 32 + i];
      buf.xsum[b] = s;
    }
    act.xsum = buf.xsum.data();
  }
  if (int16) {
    if (buf.xd.size() < blocks) buf.xd.resize(blocks);
    if (buf.xq.size() < cols) buf.xq.resize(cols);
    for (size_t b = 0; b < blocks; ++b) {
      const float* xb = x + b * 32;
      float amax = 0.0f;
      for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
      if (!std::isfinite(amax)) return false;
      const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
      for (size_t i = 0; i < 32; ++i) {
        const float q = std::clamp(std::nearbyint(xb[i] * inv), -32767.0f, 32767.0f);
        buf.xq[b * 32 + i] = static_cast<int16_t>(q);
      }
      buf.xd[b] = amax / 32767.0f;
    }
    act.xq = buf.xq.data();
    act.xd = buf.xd.data();
  }
  return true;
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
  const bool q4_k = w.dtype == DType::kQ4_K;
  if (!PrepareActivations(x, w.cols, q4_k, !q4_k && HWY_DYNAMIC_DISPATCH(UsesInt16Activations)(),
                          act)) {
    quant::ReferenceMatVecRows(w, x, y, row_begin, row_end);
    return;
  }
  fn(w.data, w.row_bytes, w.cols, act, y, row_begin, row_end);
}

}  // namespace gemma
#endif  // HWY_ONCE
